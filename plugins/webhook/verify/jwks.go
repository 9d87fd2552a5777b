package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrUnknownKeyID means the token's kid is not in the JWKS, even after a
	// refresh (or a refresh was not allowed yet by the rate limit).
	ErrUnknownKeyID = errors.New("unknown key id")
	// ErrJWKSUnavailable means no key set could be fetched yet.
	ErrJWKSUnavailable = errors.New("key set unavailable")
	// ErrNoMatchingKey means no configured key fits the token's algorithm.
	ErrNoMatchingKey = errors.New("no key for the token's algorithm")
)

// JWKSConfig configures a JWKSCache.
type JWKSConfig struct {
	// URL of the JSON Web Key Set.
	URL string
	// Client performs the fetches; nil means a client without redirects to
	// other hosts beyond Go's defaults.
	Client *http.Client
	// Timeout bounds one fetch (default 5s).
	Timeout time.Duration
	// RefreshInterval is the age after which the set is refreshed in the
	// background (default 1h).
	RefreshInterval time.Duration
	// MinRefreshInterval is the minimum time between two fetches, however
	// many unknown key ids arrive (default 30s).
	MinRefreshInterval time.Duration
	// MaxBytes caps the response size (default 1 MiB).
	MaxBytes int64
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// JWKSCache keeps the last good key set of a JWKS endpoint. Unknown key ids
// trigger a refresh at most once per MinRefreshInterval; failed fetches keep
// the previous set. It is safe for concurrent use.
type JWKSCache struct {
	conf JWKSConfig

	set atomic.Pointer[jwkSet]

	fetchMu     sync.Mutex // serialises fetches
	lastAttempt time.Time  // guarded by fetchMu

	fetches atomic.Int64
	lastErr atomic.Pointer[error]

	ctx        context.Context
	cancel     context.CancelFunc
	bgMu       sync.Mutex // guards closed and wg.Add
	closed     bool
	wg         sync.WaitGroup
	refreshing atomic.Bool
}

type jwk struct {
	kid string
	alg string
	key crypto.PublicKey
}

type jwkSet struct {
	byKID     map[string][]jwk
	all       []jwk
	fetchedAt time.Time
}

// NewJWKSCache builds a cache; nothing is fetched until the first lookup.
func NewJWKSCache(conf JWKSConfig) (*JWKSCache, error) {
	if conf.URL == "" {
		return nil, errors.New("jwks url is empty")
	}
	if !strings.HasPrefix(conf.URL, "https://") && !strings.HasPrefix(conf.URL, "http://") {
		return nil, errors.New("jwks url must be http(s)")
	}
	if conf.Client == nil {
		conf.Client = &http.Client{}
	}
	if conf.Timeout <= 0 {
		conf.Timeout = 5 * time.Second
	}
	if conf.RefreshInterval <= 0 {
		conf.RefreshInterval = time.Hour
	}
	if conf.MinRefreshInterval <= 0 {
		conf.MinRefreshInterval = 30 * time.Second
	}
	if conf.MaxBytes <= 0 {
		conf.MaxBytes = 1 << 20
	}
	if conf.Now == nil {
		conf.Now = time.Now
	}
	c := &JWKSCache{conf: conf}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Fetches returns how many fetches were attempted (for tests and metrics).
func (c *JWKSCache) Fetches() int64 { return c.fetches.Load() }

// LastError returns the error of the most recent fetch, nil after a
// successful one (for logging why a key set is unavailable).
func (c *JWKSCache) LastError() error {
	if p := c.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Close stops background refreshes and waits for them. It is idempotent.
func (c *JWKSCache) Close() {
	c.bgMu.Lock()
	c.closed = true
	c.bgMu.Unlock()
	c.cancel()
	c.wg.Wait()
}

// keys returns the candidate keys for kid ("" = every key).
func (c *JWKSCache) keys(ctx context.Context, kid string) ([]jwk, error) {
	s := c.set.Load()
	if s == nil {
		if err := c.refresh(ctx); err != nil && c.set.Load() == nil {
			return nil, fmt.Errorf("%w: %v", ErrJWKSUnavailable, err)
		}
		if s = c.set.Load(); s == nil {
			return nil, ErrJWKSUnavailable
		}
	} else if c.conf.Now().Sub(s.fetchedAt) > c.conf.RefreshInterval {
		c.refreshInBackground()
	}
	if kid == "" {
		return s.all, nil
	}
	if ks := s.byKID[kid]; len(ks) > 0 {
		return ks, nil
	}
	// Possibly a rotated key: refresh (rate limited) and look again.
	_ = c.refresh(ctx)
	if s = c.set.Load(); s != nil {
		if ks := s.byKID[kid]; len(ks) > 0 {
			return ks, nil
		}
	}
	return nil, ErrUnknownKeyID
}

func (c *JWKSCache) refreshInBackground() {
	if !c.refreshing.CompareAndSwap(false, true) {
		return
	}
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.closed {
		c.refreshing.Store(false)
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.refreshing.Store(false)
		_ = c.refresh(c.ctx)
	}()
}

// refresh fetches the set unless a fetch was attempted within
// MinRefreshInterval; callers waiting on the lock then see the new set.
func (c *JWKSCache) refresh(ctx context.Context) error {
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	now := c.conf.Now()
	if !c.lastAttempt.IsZero() && now.Sub(c.lastAttempt) < c.conf.MinRefreshInterval {
		return errors.New("refresh rate limited")
	}
	c.lastAttempt = now
	c.fetches.Add(1)
	set, err := c.fetch(ctx)
	if err != nil {
		c.lastErr.Store(&err)
		return err
	}
	c.lastErr.Store(nil)
	set.fetchedAt = now
	c.set.Store(set)
	return nil
}

func (c *JWKSCache) fetch(ctx context.Context) (*jwkSet, error) {
	ctx, cancel := context.WithTimeout(ctx, c.conf.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.conf.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.conf.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching jwks: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.conf.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading jwks: %w", err)
	}
	if int64(len(body)) > c.conf.MaxBytes {
		return nil, fmt.Errorf("reading jwks: larger than %d bytes", c.conf.MaxBytes)
	}
	return parseJWKS(body)
}

type rawJWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS parses a JSON Web Key Set, keeping the RSA (>= 2048 bits), EC
// (P-256/384/521) and OKP Ed25519 signature keys and skipping everything
// else (symmetric keys, encryption keys, malformed entries).
func parseJWKS(body []byte) (*jwkSet, error) {
	var doc struct {
		Keys []rawJWK `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("parsing jwks: %w", err)
	}
	s := &jwkSet{byKID: map[string][]jwk{}}
	for _, r := range doc.Keys {
		if r.Use != "" && r.Use != "sig" {
			continue
		}
		key, err := r.publicKey()
		if err != nil {
			continue
		}
		k := jwk{kid: r.Kid, alg: r.Alg, key: key}
		s.all = append(s.all, k)
		if r.Kid != "" {
			s.byKID[r.Kid] = append(s.byKID[r.Kid], k)
		}
	}
	if len(s.all) == 0 {
		return nil, errors.New("parsing jwks: no usable signature key")
	}
	return s, nil
}

func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func (r rawJWK) publicKey() (crypto.PublicKey, error) {
	switch r.Kty {
	case "RSA":
		n, err := b64url(r.N)
		if err != nil || len(n) == 0 {
			return nil, errors.New("bad n")
		}
		e, err := b64url(r.E)
		if err != nil || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad e")
		}
		eVal := int(new(big.Int).SetBytes(e).Int64())
		if eVal < 3 || eVal%2 == 0 {
			return nil, errors.New("bad e")
		}
		pk := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: eVal}
		if pk.N.BitLen() < 2048 {
			return nil, errors.New("rsa key shorter than 2048 bits")
		}
		return pk, nil
	case "EC":
		var curve elliptic.Curve
		switch r.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, errors.New("unsupported curve")
		}
		size := (curve.Params().BitSize + 7) / 8
		x, err1 := b64url(r.X)
		y, err2 := b64url(r.Y)
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return nil, errors.New("bad coordinates")
		}
		point := append(append([]byte{4}, x...), y...)
		return ecdsa.ParseUncompressedPublicKey(curve, point)
	case "OKP":
		if r.Crv != "Ed25519" {
			return nil, errors.New("unsupported curve")
		}
		x, err := b64url(r.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad x")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, errors.New("unsupported key type")
}
