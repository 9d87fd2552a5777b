package webhook

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
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

func vtSignJWT(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func vtClaims(kv ...any) jwt.MapClaims {
	now := time.Now().Unix()
	c := jwt.MapClaims{"sub": "user-7", "iss": "https://idp.example", "aud": "danube", "iat": now - 5, "exp": now + 300,
		"tenant": "acme", "level": 3, "admin": true, "groups": []string{"a", "b"}}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func TestJWTVerifyLint(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"hs ok", `jwt_verify: { algorithms: [ HS256 ], secrets: [ s ] }`, ""},
		{"jwks ok", `jwt_verify: { algorithms: [ RS256 ], jwks_url: "https://idp.example/jwks" }`, ""},
		{"no algorithms field", `jwt_verify: { secrets: [ s ] }`, "algorithms"},
		{"empty algorithms", `jwt_verify: { algorithms: [], secrets: [ s ] }`, "algorithms must not be empty"},
		{"hs without secrets", `jwt_verify: { algorithms: [ HS256 ] }`, "secrets are required"},
		{"rs without keys", `jwt_verify: { algorithms: [ RS256 ] }`, "public_keys or jwks_url are required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lints := vtLint(t, tc.yaml)
			if tc.want == "" {
				assert.Empty(t, lints)
				return
			}
			require.NotEmpty(t, lints)
			assert.Contains(t, fmt.Sprint(lints), tc.want)
		})
	}
}

func TestJWTVerifyConfigErrors(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{"algorithms: [ none ]\nsecrets: [ s ]", "not supported"},
		{"algorithms: [ HS256, RS256 ]\nsecrets: [ s ]", "must not be mixed"},
		{"algorithms: [ HS256 ]\nsecrets: [ s ]\nleeway: -1s", "must not be negative"},
		{"algorithms: [ HS256 ]\nsecrets: [ s ]\ntoken_metadata_key: \"\"", "must not be empty"},
		{"algorithms: [ RS256 ]\npublic_keys: [ nope ]", "no PEM block"},
	} {
		_, err := vtNewProcessor(t, "jwt_verify", tc.conf)
		require.ErrorContains(t, err, tc.want, tc.conf)
	}
}

func TestJWTVerifyProcess(t *testing.T) {
	proc, err := vtNewProcessor(t, "jwt_verify", `algorithms: [ HS256 ]
secrets: [ "s3cret" ]
issuer: https://idp.example
audiences: [ danube ]
claims_to_metadata: { sub: jwt_subject, level: jwt_level, admin: jwt_admin, groups: jwt_groups, missing: jwt_missing }
`)
	require.NoError(t, err)
	ctx := context.Background()
	good := vtSignJWT(t, jwt.SigningMethodHS256, []byte("s3cret"), "", vtClaims())

	batch, err := proc.Process(ctx, vtMsg("{}", map[string]string{"Authorization": "Bearer " + good, "jwt_missing": "injected"}))
	require.NoError(t, err)
	for k, want := range map[string]string{"jwt_subject": "user-7", "jwt_level": "3", "jwt_admin": "true", "jwt_groups": `["a","b"]`} {
		v, _ := batch[0].MetaGet(k)
		assert.Equal(t, want, v, k)
	}
	_, ok := batch[0].MetaGet("jwt_missing")
	assert.False(t, ok, "metadata for an absent claim must be cleared")

	// Lower-case scheme is accepted.
	_, err = proc.Process(ctx, vtMsg("{}", map[string]string{"Authorization": "bearer " + good}))
	require.NoError(t, err)

	hdr, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	pl, _ := json.Marshal(vtClaims())
	none := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(pl) + "."

	for _, tc := range []struct {
		name, auth, reason string
		status             int
	}{
		{"missing", "", "jwt: missing credential", http.StatusUnauthorized},
		{"basic scheme", "Basic dXNlcjpwYXNz", "jwt: authorization is not a Bearer token", http.StatusUnauthorized},
		{"duplicate header", "Bearer " + good + "\nBearer " + good, "jwt: duplicate header: Authorization", http.StatusBadRequest},
		{"alg none", "Bearer " + none, "jwt: token signature is invalid", http.StatusUnauthorized},
		{"expired", "Bearer " + vtSignJWT(t, jwt.SigningMethodHS256, []byte("s3cret"), "", vtClaims("exp", time.Now().Unix()-3600)), "jwt: token is expired", http.StatusUnauthorized},
		{"no exp", "Bearer " + vtSignJWT(t, jwt.SigningMethodHS256, []byte("s3cret"), "", vtClaims("exp", nil)), "jwt: token is missing required claim", http.StatusUnauthorized},
		{"wrong audience", "Bearer " + vtSignJWT(t, jwt.SigningMethodHS256, []byte("s3cret"), "", vtClaims("aud", "other")), "jwt: token has invalid audience", http.StatusUnauthorized},
		{"wrong issuer", "Bearer " + vtSignJWT(t, jwt.SigningMethodHS256, []byte("s3cret"), "", vtClaims("iss", "https://evil.example")), "jwt: token has invalid issuer", http.StatusUnauthorized},
		{"wrong secret", "Bearer " + vtSignJWT(t, jwt.SigningMethodHS256, []byte("other"), "", vtClaims()), "jwt: token signature is invalid", http.StatusUnauthorized},
		{"garbage", "Bearer abc.def", "jwt: token is malformed", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := map[string]string{"jwt_subject": "injected"}
			if tc.auth != "" {
				meta["Authorization"] = tc.auth
			}
			m := vtMsg("{}", meta)
			_, err := proc.Process(ctx, m)
			require.Error(t, err)
			assert.Equal(t, tc.reason, err.Error())
			assert.Equal(t, tc.status, vtStatus(err))
			_, ok := m.MetaGet("jwt_subject")
			assert.False(t, ok)
		})
	}
}

func TestJWTVerifyTokenMetadataKey(t *testing.T) {
	proc, err := vtNewProcessor(t, "jwt_verify", "algorithms: [ HS512 ]\nsecrets: [ k ]\ntoken_metadata_key: X-Auth-Token")
	require.NoError(t, err)
	tok := vtSignJWT(t, jwt.SigningMethodHS512, []byte("k"), "", vtClaims())
	_, err = proc.Process(context.Background(), vtMsg("", map[string]string{"X-Auth-Token": tok}))
	require.NoError(t, err)
	_, err = proc.Process(context.Background(), vtMsg("", map[string]string{"Authorization": "Bearer " + tok}))
	require.ErrorContains(t, err, "missing credential")
}

// JWKS through a stream: rotation picked up via unknown kid, unknown kids
// rejected, the JWKS endpoint not hammered by a flood of them.
func TestJWTVerifyJWKSStream(t *testing.T) {
	k1, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	k2, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	jwkOf := func(kid string, k *ecdsa.PrivateKey) map[string]string {
		b, err := k.PublicKey.Bytes()
		require.NoError(t, err)
		enc := base64.RawURLEncoding.EncodeToString
		return map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "x": enc(b[1:33]), "y": enc(b[33:])}
	}
	var body atomic.Pointer[[]byte]
	setKeys := func(keys ...map[string]string) {
		b, err := json.Marshal(map[string]any{"keys": keys})
		require.NoError(t, err)
		body.Store(&b)
	}
	setKeys(jwkOf("k1", k1))
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write(*body.Load())
	}))
	defer srv.Close()

	produce, out := vtStream(t, fmt.Sprintf(`jwt_verify:
  algorithms: [ ES256 ]
  jwks_url: %s
  jwks_min_refresh_interval: 1h
  claims_to_metadata: { tenant: tenant_id }
`, srv.URL), 2)
	send := func(tok string) {
		require.NoError(t, produce(context.Background(), vtMsg("{}", map[string]string{"Authorization": "Bearer " + tok})))
	}
	send(vtSignJWT(t, jwt.SigningMethodES256, k1, "k1", vtClaims()))
	assert.Equal(t, int64(1), hits.Load())

	// Forty tokens with unknown kids right after the first fetch: all
	// rejected without another fetch.

	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			send(vtSignJWT(t, jwt.SigningMethodES256, k2, fmt.Sprintf("unknown-%d", i), vtClaims()))
		}(i)
	}
	wg.Wait()
	assert.Equal(t, int64(1), hits.Load(), "unknown kids within jwks_min_refresh_interval must not refetch")

	msgs := out.all()
	require.Len(t, msgs, 41)
	ok, rejected := 0, 0
	for _, m := range msgs {
		if e, has := m.MetaGet("verify_error"); has {
			assert.Equal(t, "jwt: unknown key id", e)
			rejected++
			continue
		}
		v, _ := m.MetaGet("tenant_id")
		assert.Equal(t, "acme", v)
		ok++
	}
	assert.Equal(t, 1, ok)
	assert.Equal(t, 40, rejected)
}

// HS256 signed with the RSA public key (PEM text as HMAC secret) against an
// RS256 processor holding that public key.
func TestJWTVerifyAlgorithmConfusion(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	proc, err := vtNewProcessor(t, "jwt_verify", "algorithms: [ ES256 ]\npublic_keys:\n  - |\n"+indent(pemText, "    "))
	require.NoError(t, err)
	_, err = proc.Process(context.Background(), vtMsg("", map[string]string{
		"Authorization": "Bearer " + vtSignJWT(t, jwt.SigningMethodES256, key, "", vtClaims()),
	}))
	require.NoError(t, err)
	forged := vtSignJWT(t, jwt.SigningMethodHS256, []byte(pemText), "", vtClaims())
	_, err = proc.Process(context.Background(), vtMsg("", map[string]string{"Authorization": "Bearer " + forged}))
	require.EqualError(t, err, "jwt: token signature is invalid")
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}
