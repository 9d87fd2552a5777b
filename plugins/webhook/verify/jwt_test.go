package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	rsaOnce sync.Once
	rsaKeys [2]*rsa.PrivateKey
)

// testRSA returns one of two RSA-2048 keys generated once per test binary.
func testRSA(t testing.TB, i int) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		for j := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[j] = k
		}
	})
	return rsaKeys[i]
}

func pemOf(t testing.TB, pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// fakeClock is a settable clock shared by verifier and cache.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

var jwtNow = time.Unix(1700000000, 0)

func validClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub": "user-1", "iss": "https://issuer.example", "aud": "danube",
		"iat": jwtNow.Unix() - 10, "exp": jwtNow.Unix() + 300, "tenant": "acme", "n": 42,
	}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func TestJWTStaticKeys(t *testing.T) {
	rsaKey := testRSA(t, 0)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	clock := func() time.Time { return jwtNow }

	hs, err := NewJWTVerifier(JWTConfig{Algorithms: []string{"HS256"}, Secrets: []string{"old", "s3cret"},
		Issuer: "https://issuer.example", Audiences: []string{"other", "danube"}, Now: clock})
	require.NoError(t, err)
	asym, err := NewJWTVerifier(JWTConfig{Algorithms: []string{"RS256", "ES256", "EdDSA"},
		PublicKeysPEM: []string{pemOf(t, &rsaKey.PublicKey) + pemOf(t, &ecKey.PublicKey), pemOf(t, edPub)},
		Issuer:        "https://issuer.example", Audiences: []string{"danube"}, Leeway: 30 * time.Second, Now: clock})
	require.NoError(t, err)
	ctx := context.Background()

	// Good tokens.
	for name, tc := range map[string]struct {
		v   *JWTVerifier
		tok string
	}{
		"HS256": {hs, sign(t, jwt.SigningMethodHS256, []byte("s3cret"), "", validClaims())},
		"RS256": {asym, sign(t, jwt.SigningMethodRS256, rsaKey, "", validClaims())},
		"ES256": {asym, sign(t, jwt.SigningMethodES256, ecKey, "", validClaims())},
		"EdDSA": {asym, sign(t, jwt.SigningMethodEdDSA, edPriv, "", validClaims())},
		"expired within leeway": {asym, sign(t, jwt.SigningMethodRS256, rsaKey, "",
			with(validClaims(), "exp", jwtNow.Unix()-20))},
	} {
		claims, err := tc.v.Verify(ctx, tc.tok)
		require.NoError(t, err, name)
		assert.Equal(t, "user-1", claims["sub"], name)
	}

	// alg none, crafted by hand.
	enc := base64.RawURLEncoding.EncodeToString
	hdr, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	body, _ := json.Marshal(validClaims())
	noneTok := enc(hdr) + "." + enc(body) + "."

	// HS256 forged with the RSA public key PEM as the HMAC secret.
	forged := sign(t, jwt.SigningMethodHS256, []byte(pemOf(t, &rsaKey.PublicKey)), "", validClaims())
	otherRSA := testRSA(t, 1)

	for _, tc := range []struct {
		name string
		v    *JWTVerifier
		tok  string
		want error
	}{
		{"alg none on HS verifier", hs, noneTok, jwt.ErrTokenSignatureInvalid},
		{"alg none on RS verifier", asym, noneTok, jwt.ErrTokenSignatureInvalid},
		{"HS256 signed with the RSA public key", asym, forged, jwt.ErrTokenSignatureInvalid},
		{"RS256 token on HS verifier", hs, sign(t, jwt.SigningMethodRS256, rsaKey, "", validClaims()), jwt.ErrTokenSignatureInvalid},
		{"unlisted RS512", asym, sign(t, jwt.SigningMethodRS512, rsaKey, "", validClaims()), jwt.ErrTokenSignatureInvalid},
		{"other RSA key", asym, sign(t, jwt.SigningMethodRS256, otherRSA, "", validClaims()), jwt.ErrTokenSignatureInvalid},
		{"wrong HMAC secret", hs, sign(t, jwt.SigningMethodHS256, []byte("nope"), "", validClaims()), jwt.ErrTokenSignatureInvalid},
		{"expired", hs, sign(t, jwt.SigningMethodHS256, []byte("s3cret"), "", with(validClaims(), "exp", jwtNow.Unix()-1)), jwt.ErrTokenExpired},
		{"expired beyond leeway", asym, sign(t, jwt.SigningMethodRS256, rsaKey, "", with(validClaims(), "exp", jwtNow.Unix()-31)), jwt.ErrTokenExpired},
		{"no exp", hs, sign(t, jwt.SigningMethodHS256, []byte("s3cret"), "", with(validClaims(), "exp", nil)), jwt.ErrTokenRequiredClaimMissing},
		{"wrong audience", hs, sign(t, jwt.SigningMethodHS256, []byte("s3cret"), "", with(validClaims(), "aud", "someone-else")), jwt.ErrTokenInvalidAudience},
		{"no audience", hs, sign(t, jwt.SigningMethodHS256, []byte("s3cret"), "", with(validClaims(), "aud", nil)), jwt.ErrTokenRequiredClaimMissing},
		{"wrong issuer", hs, sign(t, jwt.SigningMethodHS256, []byte("s3cret"), "", with(validClaims(), "iss", "https://evil.example")), jwt.ErrTokenInvalidIssuer},
		{"not valid yet", hs, sign(t, jwt.SigningMethodHS256, []byte("s3cret"), "", with(validClaims(), "nbf", jwtNow.Unix()+60)), jwt.ErrTokenNotValidYet},
		{"issued in the future", hs, sign(t, jwt.SigningMethodHS256, []byte("s3cret"), "", with(validClaims(), "iat", jwtNow.Unix()+60)), jwt.ErrTokenUsedBeforeIssued},
		{"garbage", hs, "not.a.jwt", jwt.ErrTokenMalformed},
		{"JWE-shaped (5 parts)", hs, "a.b.c.d.e", jwt.ErrTokenMalformed},
		{"oversized", hs, strings.Repeat("a", 9000), jwt.ErrTokenMalformed},
		{"empty", hs, "", ErrMissingCredential},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.Verify(ctx, tc.tok)
			require.Error(t, err)
			assert.True(t, errors.Is(err, tc.want), "got %v want %v", err, tc.want)
			if len(tc.tok) > 10 {
				for _, seg := range strings.Split(tc.tok, ".") {
					if len(seg) > 8 {
						assert.NotContains(t, err.Error(), seg, "error echoes the token")
					}
				}
			}
		})
	}
}

func TestJWTConfigErrors(t *testing.T) {
	rsaPEM := pemOf(t, &testRSA(t, 0).PublicKey)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	for _, tc := range []struct {
		name string
		conf JWTConfig
		want string
	}{
		{"no algorithms", JWTConfig{Secrets: []string{"x"}}, "at least one algorithm"},
		{"none", JWTConfig{Algorithms: []string{"none"}, Secrets: []string{"x"}}, "not supported"},
		{"mixed", JWTConfig{Algorithms: []string{"HS256", "RS256"}, Secrets: []string{"x"}, PublicKeysPEM: []string{rsaPEM}}, "must not be mixed"},
		{"HS without secret", JWTConfig{Algorithms: []string{"HS256"}}, "at least one secret"},
		{"HS with PEM", JWTConfig{Algorithms: []string{"HS256"}, Secrets: []string{"x"}, PublicKeysPEM: []string{rsaPEM}}, "need public-key algorithms"},
		{"RS with secret", JWTConfig{Algorithms: []string{"RS256"}, Secrets: []string{"x"}, PublicKeysPEM: []string{rsaPEM}}, "secrets need HS"},
		{"RS without keys", JWTConfig{Algorithms: []string{"RS256"}}, "public keys or a jwks_url"},
		{"ES256 with RSA key only", JWTConfig{Algorithms: []string{"RS256", "ES256"}, PublicKeysPEM: []string{rsaPEM}}, "can verify ES256"},
		{"private key", JWTConfig{Algorithms: []string{"ES256"}, PublicKeysPEM: []string{privPEM}}, "private key"},
		{"not PEM", JWTConfig{Algorithms: []string{"ES256"}, PublicKeysPEM: []string{"hello"}}, "no PEM block"},
		{"short RSA", JWTConfig{Algorithms: []string{"RS256"}, PublicKeysPEM: []string{pemOf(t, &small.PublicKey)}}, "shorter than 2048"},
		{"bad jwks url", JWTConfig{Algorithms: []string{"RS256"}, JWKS: JWKSConfig{URL: "file:///etc/passwd"}}, "http(s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewJWTVerifier(tc.conf)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// jwkJSON renders public keys as a JWKS document.
func jwkJSON(t testing.TB, keys map[string]crypto.PublicKey, algs map[string]string) []byte {
	enc := base64.RawURLEncoding.EncodeToString
	var out []map[string]string
	for kid, k := range keys {
		m := map[string]string{"kid": kid, "use": "sig"}
		if a := algs[kid]; a != "" {
			m["alg"] = a
		}
		switch pk := k.(type) {
		case *rsa.PublicKey:
			m["kty"], m["n"], m["e"] = "RSA", enc(pk.N.Bytes()), enc(big.NewInt(int64(pk.E)).Bytes())
		case *ecdsa.PublicKey:
			b, err := pk.Bytes()
			require.NoError(t, err)
			size := (len(b) - 1) / 2
			m["kty"], m["crv"], m["x"], m["y"] = "EC", pk.Curve.Params().Name, enc(b[1:1+size]), enc(b[1+size:])
		case ed25519.PublicKey:
			m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", enc(pk)
		}
		out = append(out, m)
	}
	// Entries we must skip without failing the set.
	out = append(out, map[string]string{"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
		map[string]string{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
		map[string]string{"kty": "EC", "kid": "bad", "crv": "P-256", "x": "AAAA", "y": "AAAA"})
	b, err := json.Marshal(map[string]any{"keys": out})
	require.NoError(t, err)
	return b
}

// jwksServer serves a swappable JWKS and counts requests.
type jwksServer struct {
	*httptest.Server
	body   atomic.Pointer[[]byte]
	status atomic.Int32
	hits   atomic.Int64
}

func newJWKSServer(t testing.TB, body []byte) *jwksServer {
	s := &jwksServer{}
	s.set(body)
	s.status.Store(http.StatusOK)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if st := int(s.status.Load()); st != http.StatusOK {
			w.WriteHeader(st)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(b []byte) { s.body.Store(&b) }

func TestJWTJWKS(t *testing.T) {
	k1, k2 := testRSA(t, 0), testRSA(t, 1)
	ec, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	srv := newJWKSServer(t, jwkJSON(t, map[string]crypto.PublicKey{"k1": &k1.PublicKey, "e1": &ec.PublicKey},
		map[string]string{"k1": "RS256"}))
	clock := newFakeClock(jwtNow)
	v, err := NewJWTVerifier(JWTConfig{
		Algorithms: []string{"RS256", "RS512", "ES384"},
		JWKS:       JWKSConfig{URL: srv.URL, MinRefreshInterval: 30 * time.Second},
		Now:        clock.Now,
	})
	require.NoError(t, err)
	defer v.Close()
	ctx := context.Background()

	_, err = v.Verify(ctx, sign(t, jwt.SigningMethodRS256, k1, "k1", validClaims()))
	require.NoError(t, err)
	_, err = v.Verify(ctx, sign(t, jwt.SigningMethodES384, ec, "e1", validClaims()))
	require.NoError(t, err)
	// No kid: every key of the right type is tried.
	_, err = v.Verify(ctx, sign(t, jwt.SigningMethodES384, ec, "", validClaims()))
	require.NoError(t, err)
	assert.Equal(t, int64(1), srv.hits.Load())

	// k1 is pinned to RS256 by its JWK alg.
	_, err = v.Verify(ctx, sign(t, jwt.SigningMethodRS512, k1, "k1", validClaims()))
	require.ErrorIs(t, err, ErrNoMatchingKey)

	// Unknown kid right after a fetch: no new fetch (rate limit).
	_, err = v.Verify(ctx, sign(t, jwt.SigningMethodRS256, k2, "k2", validClaims()))
	require.ErrorIs(t, err, ErrUnknownKeyID)
	assert.Equal(t, int64(1), srv.hits.Load())

	// Later: one refresh, then rejected; a flood of unknown kids does not
	// cause more fetches within the minimum interval.
	clock.Advance(31 * time.Second)
	_, err = v.Verify(ctx, sign(t, jwt.SigningMethodRS256, k2, "k2", validClaims()))
	require.ErrorIs(t, err, ErrUnknownKeyID)
	assert.Equal(t, int64(2), srv.hits.Load())
	tok := sign(t, jwt.SigningMethodRS256, k2, "attacker", validClaims())
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Verify(ctx, tok)
			assert.ErrorIs(t, err, ErrUnknownKeyID)
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(2), srv.hits.Load(), "refresh must be rate limited")

	// Key rotation: k2 is published; after the interval it is picked up.
	srv.set(jwkJSON(t, map[string]crypto.PublicKey{"k1": &k1.PublicKey, "k2": &k2.PublicKey}, nil))
	_, err = v.Verify(ctx, sign(t, jwt.SigningMethodRS256, k2, "k2", validClaims()))
	require.ErrorIs(t, err, ErrUnknownKeyID, "still rate limited")
	clock.Advance(31 * time.Second)
	_, err = v.Verify(ctx, sign(t, jwt.SigningMethodRS256, k2, "k2", validClaims()))
	require.NoError(t, err)
	assert.Equal(t, int64(3), srv.hits.Load())

	// A failing endpoint keeps the last good set.
	srv.status.Store(http.StatusInternalServerError)
	clock.Advance(31 * time.Second)
	_, err = v.Verify(ctx, sign(t, jwt.SigningMethodRS256, k2, "gone", validClaims()))
	require.ErrorIs(t, err, ErrUnknownKeyID)
	assert.Equal(t, int64(4), srv.hits.Load())
	_, err = v.Verify(ctx, sign(t, jwt.SigningMethodRS256, k1, "k1", validClaims()))
	require.NoError(t, err)

	// After RefreshInterval a background refresh is started.
	srv.status.Store(http.StatusOK)
	clock.Advance(2 * time.Hour)
	_, err = v.Verify(ctx, sign(t, jwt.SigningMethodRS256, k1, "k1", with(validClaims(), "exp", clock.Now().Unix()+60)))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return srv.hits.Load() == 5 }, 5*time.Second, time.Millisecond)
}

func TestJWKSUnavailable(t *testing.T) {
	k1 := testRSA(t, 0)
	srv := newJWKSServer(t, jwkJSON(t, map[string]crypto.PublicKey{"k1": &k1.PublicKey}, nil))
	srv.status.Store(http.StatusServiceUnavailable)
	clock := newFakeClock(jwtNow)
	v, err := NewJWTVerifier(JWTConfig{Algorithms: []string{"RS256"}, JWKS: JWKSConfig{URL: srv.URL}, Now: clock.Now})
	require.NoError(t, err)
	defer v.Close()
	tok := sign(t, jwt.SigningMethodRS256, k1, "k1", validClaims())
	_, err = v.Verify(context.Background(), tok)
	require.ErrorIs(t, err, ErrJWKSUnavailable)
	require.ErrorContains(t, v.JWKS().LastError(), "status 503")
	_, err = v.Verify(context.Background(), tok)
	require.ErrorIs(t, err, ErrJWKSUnavailable)
	assert.Equal(t, int64(1), srv.hits.Load())
	srv.status.Store(http.StatusOK)
	clock.Advance(31 * time.Second)
	_, err = v.Verify(context.Background(), tok)
	require.NoError(t, err)
	require.NoError(t, v.JWKS().LastError())
}

func TestJWKSLimits(t *testing.T) {
	huge := []byte(`{"keys":[` + strings.Repeat(`{"kty":"oct"},`, 100000) + `{"kty":"oct"}]}`)
	srv := newJWKSServer(t, huge)
	c, err := NewJWKSCache(JWKSConfig{URL: srv.URL, MaxBytes: 1024})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.keys(context.Background(), "")
	require.ErrorIs(t, err, ErrJWKSUnavailable)
	assert.Contains(t, err.Error(), "larger than 1024 bytes")

	_, err = parseJWKS([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))
	require.ErrorContains(t, err, "no usable signature key")
	_, err = parseJWKS([]byte(`[`))
	require.Error(t, err)
	c.Close() // idempotent
}
