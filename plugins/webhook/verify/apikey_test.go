package verify

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAPIKeySet(t *testing.T) {
	s, err := NewAPIKeySet([]APIKey{{Name: "ci", Key: "k-ci-123"}, {Name: "partner", Key: "k-partner-456"}})
	require.NoError(t, err)
	for _, tc := range []struct {
		presented, name string
		ok              bool
	}{
		{"k-ci-123", "ci", true},
		{"k-partner-456", "partner", true},
		{"k-ci-12", "", false},
		{"k-ci-1234", "", false},
		{"", "", false},
		{"K-CI-123", "", false},
	} {
		name, ok := s.Match(tc.presented)
		assert.Equal(t, tc.ok, ok, tc.presented)
		assert.Equal(t, tc.name, name, tc.presented)
	}

	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				n, ok := s.Match("k-partner-456")
				assert.True(t, ok)
				assert.Equal(t, "partner", n)
			}
		}()
	}
	wg.Wait()
}

func TestAPIKeySetErrors(t *testing.T) {
	for _, tc := range []struct {
		keys []APIKey
		want string
	}{
		{nil, "at least one key"},
		{[]APIKey{{Name: "", Key: "x"}}, "name is empty"},
		{[]APIKey{{Name: "a", Key: ""}}, "key is empty"},
		{[]APIKey{{Name: "a", Key: "x"}, {Name: "a", Key: "y"}}, "duplicate name"},
		{[]APIKey{{Name: "a", Key: "x"}, {Name: "b", Key: "x"}}, "configured twice"},
	} {
		_, err := NewAPIKeySet(tc.keys)
		require.ErrorContains(t, err, tc.want)
		for _, k := range tc.keys {
			if k.Key != "" {
				assert.NotContains(t, err.Error(), `"`+k.Key+`"`)
			}
		}
	}
}
