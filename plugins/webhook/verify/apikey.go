package verify

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
)

// APIKey is a named shared key.
type APIKey struct {
	Name string
	Key  string
}

// APIKeySet matches presented keys against configured ones. It is safe for
// concurrent use.
type APIKeySet struct {
	names   []string
	digests [][sha256.Size]byte
}

// NewAPIKeySet validates keys: names and keys must be non-empty and unique.
func NewAPIKeySet(keys []APIKey) (*APIKeySet, error) {
	if len(keys) == 0 {
		return nil, errors.New("at least one key is required")
	}
	s := &APIKeySet{}
	seenName := map[string]bool{}
	seenKey := map[[sha256.Size]byte]bool{}
	for i, k := range keys {
		if k.Name == "" {
			return nil, fmt.Errorf("key %d: name is empty", i)
		}
		if k.Key == "" {
			return nil, fmt.Errorf("key %d (%s): key is empty", i, k.Name)
		}
		if seenName[k.Name] {
			return nil, fmt.Errorf("key %d: duplicate name %q", i, k.Name)
		}
		d := sha256.Sum256([]byte(k.Key))
		if seenKey[d] {
			return nil, fmt.Errorf("key %d (%s): the same key is configured twice", i, k.Name)
		}
		seenName[k.Name], seenKey[d] = true, true
		s.names = append(s.names, k.Name)
		s.digests = append(s.digests, d)
	}
	return s, nil
}

// Match returns the name of the key equal to presented. Every configured key
// is compared (no early exit) and the comparison is over SHA-256 digests, so
// the timing reveals neither which key matched nor the keys' lengths.
func (s *APIKeySet) Match(presented string) (name string, ok bool) {
	d := sha256.Sum256([]byte(presented))
	match := -1
	for i := range s.digests {
		eq := subtle.ConstantTimeCompare(d[:], s.digests[i][:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		return "", false
	}
	return s.names[match], true
}
