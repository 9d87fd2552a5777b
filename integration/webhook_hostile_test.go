package integration

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/internal/testnet"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
)

const (
	hostileStripeSecret = "whsec_test_secret"
	hostileSvixSecret   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	hostileAPIKey       = "k_live_3f9a8b7c6d5e4f3a2b1c"
	hostileIssuer       = "https://issuer.test/"
	hostileAudience     = "danube-connect"
	hostileTopic        = "/default/hostile"
)

func stripeSignature(secret string, ts int64, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.%s", ts, body)
	return fmt.Sprintf("t=%d,v1=%s", ts, hex.EncodeToString(mac.Sum(nil)))
}

func svixSignature(t *testing.T, secret, id string, ts int64, body string) string {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	require.NoError(t, err)
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.%s", id, ts, body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// webhookJWKSServer serves one RSA key under kid "k1".
func webhookJWKSServer(t *testing.T, pub *rsa.PublicKey) string {
	b64 := base64.RawURLEncoding.EncodeToString
	doc, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/jwks.json"
}

type hostileEnv struct {
	t      *testing.T
	base   string
	addr   string
	key    *rsa.PrivateKey
	pubPEM []byte
}

func (h *hostileEnv) token(method jwt.SigningMethod, kid string, claims jwt.MapClaims, key any) string {
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(h.t, err)
	return s
}

func (h *hostileEnv) claims(mod func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"iss": hostileIssuer, "aud": hostileAudience, "sub": "agent-7", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	if mod != nil {
		mod(c)
	}
	return c
}

// do sends one request; hdr values may repeat a key.
func (h *hostileEnv) do(method, path, contentType, body string, hdr http.Header) int {
	req, err := http.NewRequest(method, h.base+path, strings.NewReader(body))
	require.NoError(h.t, err)
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 400 && res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		// (431 comes from net/http itself, before any handler runs.)
		// Never internal detail: a fixed {"error":"<status text>"} body.
		assert.Equal(h.t, `{"error":"`+strings.ToLower(http.StatusText(res.StatusCode))+`"}`, string(b))
	}
	return res.StatusCode
}

// raw writes bytes on a fresh connection and returns the response status, or
// 0 if the server closed the connection without answering.
func (h *hostileEnv) raw(payload string) int {
	conn, err := net.Dial("tcp", h.addr)
	require.NoError(h.t, err)
	defer conn.Close()
	_, err = conn.Write([]byte(payload))
	require.NoError(h.t, err)
	require.NoError(h.t, conn.SetReadDeadline(time.Now().Add(15*time.Second)))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			h.t.Errorf("the server kept a hostile connection open: %v", err)
		}
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// TestWebhookHostileRequests sends a table of hostile requests at
// webhook_server endpoints guarded by the verification processors, and
// checks each gets its status and that nothing reaches the broker.
func TestWebhookHostileRequests(t *testing.T) {
	broker := danubetest.Start(t)
	addr := testnet.FreeAddr(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwksURL := webhookJWKSServer(t, &key.PublicKey)

	runWebhookStream(t, fmt.Sprintf(`
logger: { level: none }
error_handling: { strict: true }
input:
  webhook_server:
    address: %s
    timeout: 3s
    read_header_timeout: 500ms
    read_timeout: 1s
    write_timeout: 6s
    max_body_bytes: 4096
    max_header_bytes: 8192
    validate_json: true
    dedupe:
      headers: [ X-GitHub-Delivery, Webhook-Id ]
    endpoints:
      - path: /github
      - path: /stripe
      - path: /svix
      - path: /jwt
      - path: /apikey
pipeline:
  processors:
    - switch:
        - check: '@webhook_endpoint == "/github"'
          processors:
            - webhook_signature: { preset: github, secrets: [ %q ] }
        - check: '@webhook_endpoint == "/stripe"'
          processors:
            - webhook_signature: { preset: stripe, secrets: [ %q ] }
        - check: '@webhook_endpoint == "/svix"'
          processors:
            - webhook_signature: { preset: standard_webhooks, secrets: [ %q ] }
        - check: '@webhook_endpoint == "/jwt"'
          processors:
            - jwt_verify:
                algorithms: [ RS256 ]
                jwks_url: %s
                issuer: %s
                audiences: [ %s ]
                leeway: 5s
        - check: '@webhook_endpoint == "/apikey"'
          processors:
            - api_key:
                keys: [ { name: acme, key: %q } ]
            - try_catch:
                processors:
                  - json_schema:
                      schema: '{"type":"object","required":["id"]}'
                catch:
                  - mapping: 'meta webhook_status = "422"'
                  - sync_response: {}
                  - mapping: root = deleted()
output:
  danube:
    url: %s
    topic: %s
    metadata:
      exclude_prefixes: [ Authorization, Cookie, X-Api-Key ]
`, addr, webhookTestSecret, hostileStripeSecret, hostileSvixSecret, jwksURL, hostileIssuer, hostileAudience, hostileAPIKey, broker.URL(), hostileTopic), nil)
	waitWebhookPath(t, addr, "/apikey")

	h := &hostileEnv{t: t, base: "http://" + addr, addr: addr, key: key, pubPEM: pubPEM}
	const ghBody = `{"action":"opened","issue":{"number":7,"title":"hostile","user":{"login":"octocat"}},"repository":{"full_name":"octo/hello","private":false},"sender":{"login":"octocat","type":"User"}}`
	ghSig := githubSignature(webhookTestSecret, ghBody)
	now := time.Now().Unix()
	const svixBody = `{"type":"user.created","data":{"id":"user_1"}}`
	const stripeBody = `{"id":"evt_1","object":"event","type":"charge.succeeded"}`

	// Positive controls: one valid request per endpoint is published.
	controls := []struct {
		name string
		send func() int
	}{
		{"github", func() int {
			return h.do("POST", "/github", "application/json", ghBody, http.Header{"X-Hub-Signature-256": {ghSig}, "X-GitHub-Delivery": {"gh-1"}})
		}},
		{"stripe", func() int {
			return h.do("POST", "/stripe", "application/json", stripeBody, http.Header{"Stripe-Signature": {stripeSignature(hostileStripeSecret, now, stripeBody)}})
		}},
		{"svix", func() int {
			return h.do("POST", "/svix", "application/json", svixBody, http.Header{
				"Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {strconv.FormatInt(now, 10)},
				"Webhook-Signature": {svixSignature(t, hostileSvixSecret, "msg_1", now, svixBody)},
			})
		}},
		{"jwt", func() int {
			return h.do("POST", "/jwt", "application/json", `{"task":"summarise"}`, http.Header{
				"Authorization": {"Bearer " + h.token(jwt.SigningMethodRS256, "k1", h.claims(nil), key)},
			})
		}},
		{"apikey", func() int {
			return h.do("POST", "/apikey", "application/json", `{"id":1}`, http.Header{"X-Api-Key": {hostileAPIKey}})
		}},
	}
	for _, c := range controls {
		require.Equal(t, 200, c.send(), "positive control %s", c.name)
	}
	published := uint64(len(controls))
	require.Equal(t, published, webhookTopicMessages(t, broker, hostileTopic))

	jsonCT := "application/json"
	gh := func(sig ...string) http.Header { return http.Header{"X-Hub-Signature-256": sig} }
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	// Well outside the 300 s tolerances even if the test runs slowly.
	stale, future := now-600, now+600

	cases := []struct {
		name   string
		status int
		send   func() int
	}{
		{"body over max_body_bytes (Content-Length)", 413, func() int {
			big := `{"pad":"` + strings.Repeat("a", 5000) + `"}`
			return h.do("POST", "/github", jsonCT, big, gh(githubSignature(webhookTestSecret, big)))
		}},
		{"body over max_body_bytes (chunked)", 413, func() int {
			req, _ := http.NewRequest("POST", h.base+"/github", io.MultiReader(strings.NewReader(strings.Repeat("a", 9000))))
			req.Header.Set("Content-Type", jsonCT)
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			res.Body.Close()
			return res.StatusCode
		}},
		{"slowloris headers never finish", 0, func() int {
			return h.raw("POST /github HTTP/1.1\r\nHost: x\r\nX-Slow: a")
		}},
		{"slow body never finishes", 408, func() int {
			return h.raw("POST /github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 300\r\n\r\n{\"a\":")
		}},
		{"headers over max_header_bytes", 431, func() int {
			hdr := gh(ghSig)
			hdr.Set("X-Padding", strings.Repeat("p", 16<<10))
			return h.do("POST", "/github", jsonCT, ghBody, hdr)
		}},
		{"two conflicting Content-Length headers", 400, func() int {
			return h.raw("POST /github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}")
		}},
		{"unknown path", 404, func() int { return h.do("POST", "/admin", jsonCT, ghBody, gh(ghSig)) }},
		{"wrong method", 405, func() int { return h.do("GET", "/github", "", "", nil) }},
		{"wrong content type", 415, func() int {
			return h.do("POST", "/github", "application/xml", "<a/>", gh(githubSignature(webhookTestSecret, "<a/>")))
		}},
		{"multipart body", 415, func() int {
			mp := "--b\r\nContent-Disposition: form-data; name=\"payload\"\r\n\r\n{}\r\n--b--\r\n"
			return h.do("POST", "/github", "multipart/form-data; boundary=b", mp, gh(githubSignature(webhookTestSecret, mp)))
		}},
		{"gzip content encoding", 415, func() int {
			return h.do("POST", "/github", jsonCT, ghBody, http.Header{"X-Hub-Signature-256": {ghSig}, "Content-Encoding": {"gzip"}})
		}},
		{"non-UTF-8 JSON, correctly signed", 400, func() int {
			b := "{\"title\":\"\xff\xfe\"}"
			return h.do("POST", "/github", jsonCT, b, gh(githubSignature(webhookTestSecret, b)))
		}},
		{"malformed JSON, correctly signed", 400, func() int {
			b := `{"title": "unterminated`
			return h.do("POST", "/github", jsonCT, b, gh(githubSignature(webhookTestSecret, b)))
		}},
		{"github: missing signature", 401, func() int { return h.do("POST", "/github", jsonCT, ghBody, nil) }},
		{"github: duplicate signature headers", 400, func() int {
			return h.do("POST", "/github", jsonCT, ghBody, gh(ghSig, "sha256="+strings.Repeat("0", 64)))
		}},
		// Undecodable or wrong-length signatures are malformed headers (400).
		{"github: wrong-length signature", 400, func() int {
			return h.do("POST", "/github", jsonCT, ghBody, gh(ghSig[:len(ghSig)-2]))
		}},
		{"github: non-hex signature", 400, func() int {
			return h.do("POST", "/github", jsonCT, ghBody, gh("sha256="+strings.Repeat("zz", 32)))
		}},
		{"github: signature for another body", 401, func() int {
			return h.do("POST", "/github", jsonCT, strings.Replace(ghBody, "opened", "closed", 1), gh(ghSig))
		}},
		{"github: legacy SHA-1 header only", 401, func() int {
			mac := hmac.New(sha256.New, []byte(webhookTestSecret))
			mac.Write([]byte(ghBody))
			return h.do("POST", "/github", jsonCT, ghBody, http.Header{"X-Hub-Signature": {"sha1=" + hex.EncodeToString(mac.Sum(nil))[:40]}})
		}},
		{"github: signature smuggled via query", 401, func() int {
			return h.do("POST", "/github?X-Hub-Signature-256="+ghSig, jsonCT, ghBody, nil)
		}},
		{"github: signature smuggled via cookie", 401, func() int {
			return h.do("POST", "/github", jsonCT, ghBody, http.Header{"Cookie": {"X-Hub-Signature-256=" + ghSig}})
		}},
		{"github: replayed delivery", 200, func() int {
			return h.do("POST", "/github", jsonCT, ghBody, http.Header{"X-Hub-Signature-256": {ghSig}, "X-GitHub-Delivery": {"gh-1"}})
		}},
		{"stripe: stale timestamp", 401, func() int {
			return h.do("POST", "/stripe", jsonCT, stripeBody, http.Header{"Stripe-Signature": {stripeSignature(hostileStripeSecret, stale, stripeBody)}})
		}},
		{"stripe: future timestamp", 401, func() int {
			return h.do("POST", "/stripe", jsonCT, stripeBody, http.Header{"Stripe-Signature": {stripeSignature(hostileStripeSecret, future, stripeBody)}})
		}},
		{"stripe: only a v0 signature", 401, func() int {
			sig := strings.Replace(stripeSignature(hostileStripeSecret, now, stripeBody), "v1=", "v0=", 1)
			return h.do("POST", "/stripe", jsonCT, stripeBody, http.Header{"Stripe-Signature": {sig}})
		}},
		{"stripe: missing timestamp", 400, func() int {
			sig := stripeSignature(hostileStripeSecret, now, stripeBody)
			return h.do("POST", "/stripe", jsonCT, stripeBody, http.Header{"Stripe-Signature": {sig[strings.Index(sig, ",")+1:]}})
		}},
		{"svix: stale timestamp", 401, func() int {
			return h.do("POST", "/svix", jsonCT, svixBody, http.Header{
				"Webhook-Id": {"msg_2"}, "Webhook-Timestamp": {strconv.FormatInt(stale, 10)},
				"Webhook-Signature": {svixSignature(t, hostileSvixSecret, "msg_2", stale, svixBody)},
			})
		}},
		{"svix: future timestamp", 401, func() int {
			return h.do("POST", "/svix", jsonCT, svixBody, http.Header{
				"Webhook-Id": {"msg_3"}, "Webhook-Timestamp": {strconv.FormatInt(future, 10)},
				"Webhook-Signature": {svixSignature(t, hostileSvixSecret, "msg_3", future, svixBody)},
			})
		}},
		{"svix: missing webhook-id", 401, func() int {
			return h.do("POST", "/svix", jsonCT, svixBody, http.Header{
				"Webhook-Timestamp": {strconv.FormatInt(now, 10)},
				"Webhook-Signature": {svixSignature(t, hostileSvixSecret, "", now, svixBody)},
			})
		}},
		{"svix: replayed delivery", 200, func() int {
			return h.do("POST", "/svix", jsonCT, svixBody, http.Header{
				"Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {strconv.FormatInt(now, 10)},
				"Webhook-Signature": {svixSignature(t, hostileSvixSecret, "msg_1", now, svixBody)},
			})
		}},
		{"jwt: alg none", 401, func() int {
			enc := base64.RawURLEncoding.EncodeToString
			c, _ := json.Marshal(h.claims(nil))
			return h.do("POST", "/jwt", jsonCT, `{}`, bearer(enc([]byte(`{"alg":"none","typ":"JWT"}`))+"."+enc(c)+"."))
		}},
		{"jwt: HS256 signed with the RSA public key", 401, func() int {
			return h.do("POST", "/jwt", jsonCT, `{}`, bearer(h.token(jwt.SigningMethodHS256, "k1", h.claims(nil), pubPEM)))
		}},
		{"jwt: expired", 401, func() int {
			return h.do("POST", "/jwt", jsonCT, `{}`, bearer(h.token(jwt.SigningMethodRS256, "k1", h.claims(func(c jwt.MapClaims) {
				c["exp"] = time.Now().Add(-time.Minute).Unix()
			}), key)))
		}},
		{"jwt: no exp", 401, func() int {
			return h.do("POST", "/jwt", jsonCT, `{}`, bearer(h.token(jwt.SigningMethodRS256, "k1", h.claims(func(c jwt.MapClaims) { delete(c, "exp") }), key)))
		}},
		{"jwt: wrong audience", 401, func() int {
			return h.do("POST", "/jwt", jsonCT, `{}`, bearer(h.token(jwt.SigningMethodRS256, "k1", h.claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" }), key)))
		}},
		{"jwt: wrong issuer", 401, func() int {
			return h.do("POST", "/jwt", jsonCT, `{}`, bearer(h.token(jwt.SigningMethodRS256, "k1", h.claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.test/" }), key)))
		}},
		{"jwt: unknown kid", 401, func() int {
			return h.do("POST", "/jwt", jsonCT, `{}`, bearer(h.token(jwt.SigningMethodRS256, "k9", h.claims(nil), key)))
		}},
		{"jwt: missing Authorization", 401, func() int { return h.do("POST", "/jwt", jsonCT, `{}`, nil) }},
		{"api_key: wrong key", 401, func() int {
			return h.do("POST", "/apikey", jsonCT, `{"id":2}`, http.Header{"X-Api-Key": {hostileAPIKey + "x"}})
		}},
		{"api_key: key smuggled via query", 401, func() int {
			return h.do("POST", "/apikey?X-Api-Key="+hostileAPIKey, jsonCT, `{"id":2}`, nil)
		}},
		{"api_key: valid key, body fails the schema", 422, func() int {
			return h.do("POST", "/apikey", jsonCT, `{"no_id":true}`, http.Header{"X-Api-Key": {hostileAPIKey}})
		}},
	}
	require.GreaterOrEqual(t, len(cases), 30)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			assert.Equal(t, tc.status, tc.send())
			assert.Equal(t, published, webhookTopicMessages(t, broker, hostileTopic), "nothing may be published")
		})
	}
}
