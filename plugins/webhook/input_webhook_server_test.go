package webhook

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	_ "github.com/danube-connect/danube-connect/plugins/danube"

	"github.com/danube-connect/danube-connect/internal/testnet"
)

// published collects what reached the output.
type published struct {
	mu   sync.Mutex
	msgs []*service.Message
}

func (p *published) add(m *service.Message) {
	p.mu.Lock()
	p.msgs = append(p.msgs, m)
	p.mu.Unlock()
}

func (p *published) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.msgs)
}

func (p *published) last() *service.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.msgs[len(p.msgs)-1]
}

type streamOpts struct {
	processors []string
	rateLimits []string
	caches     []string
	// consume decides the output's answer; nil acks. Messages flagged with
	// an error are nacked with it, as a strict-mode output would.
	consume func(m *service.Message) error
}

// startWebhookStream runs a stream with inputYAML and waits until the
// listener at addr answers.
func startWebhookStream(t *testing.T, addr, path, inputYAML string, o streamOpts) *published {
	t.Helper()
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	for _, rl := range o.rateLimits {
		require.NoError(t, sb.AddRateLimitYAML(rl))
	}
	for _, c := range o.caches {
		require.NoError(t, sb.AddCacheYAML(c))
	}
	require.NoError(t, sb.AddInputYAML(inputYAML))
	for _, p := range o.processors {
		require.NoError(t, sb.AddProcessorYAML(p))
	}
	pub := &published{}
	require.NoError(t, sb.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
		if err := m.GetError(); err != nil {
			return err
		}
		if o.consume != nil {
			if err := o.consume(m); err != nil {
				return err
			}
		}
		pub.add(m)
		return nil
	}))
	strm, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = strm.Run(ctx)
	}()
	t.Cleanup(func() {
		require.NoError(t, strm.StopWithin(10*time.Second))
		cancel()
		<-done
	})
	waitServed(t, addr, path)
	return pub
}

// waitServed polls with a method no endpoint allows until path is routed
// (405 instead of 404 or a refused connection).
func waitServed(t *testing.T, addr, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("TRACE", "http://"+addr+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusMethodNotAllowed {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook_server did not serve %v on %v (last error %v)", path, addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type reply struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, method, url, contentType, body string, hdr http.Header) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return reply{status: res.StatusCode, header: res.Header, body: string(b)}
}

func TestWebhookServerMetadataAndRawBody(t *testing.T) {
	addr := testnet.FreeAddr(t)
	pub := startWebhookStream(t, addr, "/hook", fmt.Sprintf(`
webhook_server:
  address: %s
  path: /hook
`, addr), streamOpts{})

	body := "{\"x\":1}\r\n\x00\xfe "
	hdr := http.Header{
		"X-Hub-Signature-256": {"sha256=first", "sha256=second"},
		"Cookie":              {"X-Hub-Signature-256=FROM_COOKIE; webhook_remote_ip=6.6.6.6"},
	}
	r := send(t, "POST", "http://"+addr+"/hook?X-Hub-Signature-256=FROM_QUERY&webhook_remote_ip=6.6.6.6", "application/json", body, hdr)
	require.Equal(t, 200, r.status, r.body)
	assert.Equal(t, `{"status":"accepted"}`, r.body)
	require.Equal(t, 1, pub.count())

	m := pub.last()
	b, err := m.AsBytes()
	require.NoError(t, err)
	assert.Equal(t, body, string(b))
	meta := func(k string) string { v, _ := m.MetaGet(k); return v }
	assert.Equal(t, "sha256=first\nsha256=second", meta("X-Hub-Signature-256"), "query or cookie must not overwrite headers")
	assert.Equal(t, "127.0.0.1", meta("webhook_remote_ip"))
	assert.Equal(t, "X-Hub-Signature-256=FROM_QUERY&webhook_remote_ip=6.6.6.6", meta("webhook_query"))
	assert.Equal(t, "http://"+addr+"/hook?X-Hub-Signature-256=FROM_QUERY&webhook_remote_ip=6.6.6.6", meta("webhook_url"))
	assert.Equal(t, "/hook", meta("webhook_path"))
	assert.Equal(t, "/hook", meta("webhook_endpoint"))
	assert.Equal(t, "POST", meta("webhook_method"))
	assert.Equal(t, "application/json", meta("webhook_content_type"))
	assert.Equal(t, r.header.Get("X-Request-Id"), meta("webhook_request_id"))
	ts, err := time.Parse(time.RFC3339Nano, meta("webhook_received_at"))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), ts, time.Minute)
	_, hasQueryKey := m.MetaGet("webhook_remote_ip=6.6.6.6")
	assert.False(t, hasQueryKey)
}

type statusErr int

func (s statusErr) Error() string      { return "internal detail: secret=hunter2" }
func (s statusErr) WebhookStatus() int { return int(s) }

func TestWebhookServerAckMapping(t *testing.T) {
	addr := testnet.FreeAddr(t)
	var mu sync.Mutex
	answer := map[string]error{}
	pub := startWebhookStream(t, addr, "/hook", fmt.Sprintf(`
webhook_server:
  address: %s
  path: /hook
  timeout: 300ms
  write_timeout: 5s
`, addr), streamOpts{consume: func(m *service.Message) error {
		b, _ := m.AsBytes()
		mu.Lock()
		err := answer[string(b)]
		mu.Unlock()
		if string(b) == "slow" {
			time.Sleep(2 * time.Second)
		}
		return err
	}})
	mu.Lock()
	answer["down"] = errors.New("broker connection refused at 10.0.0.7: secret detail")
	answer["unauth"] = fmt.Errorf("wrapped: %w", statusErr(401))
	answer["bogus"] = statusErr(200)
	mu.Unlock()

	r := send(t, "POST", "http://"+addr+"/hook", "text/plain", "down", nil)
	assert.Equal(t, 503, r.status)
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	assert.Equal(t, `{"error":"service unavailable"}`, r.body)

	r = send(t, "POST", "http://"+addr+"/hook", "text/plain", "unauth", nil)
	assert.Equal(t, 401, r.status)
	assert.Equal(t, `{"error":"unauthorized"}`, r.body)

	r = send(t, "POST", "http://"+addr+"/hook", "text/plain", "bogus", nil)
	assert.Equal(t, 503, r.status, "a non-4xx status from an error must not pass for success")

	r = send(t, "POST", "http://"+addr+"/hook", "text/plain", "slow", nil)
	assert.Equal(t, 503, r.status, "no ack within timeout")

	assert.Eventually(t, func() bool { return pub.count() == 1 }, 10*time.Second, 10*time.Millisecond,
		"only the slow one eventually reaches the output")
}

func TestWebhookServerCatchRecipeAndSyncResponse(t *testing.T) {
	addr := testnet.FreeAddr(t)
	pub := startWebhookStream(t, addr, "/hook", fmt.Sprintf(`
webhook_server:
  address: %s
  path: /hook
`, addr), streamOpts{processors: []string{
		`mapping: 'root = if meta("X-Token") != "good" { throw("bad token") } else { this }'`,
		`
catch:
  - mapping: 'meta webhook_status = "401"'
  - sync_response: {}
  - mapping: root = deleted()
`, `
json_schema:
  schema: '{"type":"object","required":["id"]}'
`, `
catch:
  - mapping: |
      meta webhook_status = "422"
      root = {"error": error()}
  - sync_response: {}
  - mapping: root = deleted()
`, `
switch:
  - check: this.type.or("") == "url_verification"
    processors:
      - mapping: 'root = {"challenge": this.challenge}'
      - sync_response: {}
      - mapping: root = deleted()
`}})

	good := http.Header{"X-Token": {"good"}}
	r := send(t, "POST", "http://"+addr+"/hook", "application/json", `{"id":1}`, http.Header{"X-Token": {"forged"}})
	assert.Equal(t, 401, r.status)
	assert.Equal(t, `{"error":"unauthorized"}`, r.body, "error text must not leak")
	r = send(t, "POST", "http://"+addr+"/hook", "application/json", `{"noid":1}`, good)
	assert.Equal(t, 422, r.status)
	assert.Equal(t, `{"error":"unprocessable entity"}`, r.body)
	r = send(t, "POST", "http://"+addr+"/hook", "application/json", `{"id":0,"type":"url_verification","challenge":"abc"}`, good)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, `{"challenge":"abc"}`, r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, 0, pub.count())

	r = send(t, "POST", "http://"+addr+"/hook", "application/json", `{"id":2}`, good)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, 1, pub.count())
}

func TestWebhookServerRateLimit(t *testing.T) {
	addr := testnet.FreeAddr(t)
	pub := startWebhookStream(t, addr, "/hook", fmt.Sprintf(`
webhook_server:
  address: %s
  path: /hook
  rate_limit: tight
`, addr), streamOpts{rateLimits: []string{`
label: tight
local:
  count: 2
  interval: 1h
`}})
	for i := 0; i < 2; i++ {
		assert.Equal(t, 200, send(t, "POST", "http://"+addr+"/hook", "text/plain", "x", nil).status)
	}
	r := send(t, "POST", "http://"+addr+"/hook", "text/plain", "x", nil)
	assert.Equal(t, 429, r.status)
	assert.Equal(t, `{"error":"too many requests"}`, r.body)
	assert.Regexp(t, `^[1-9][0-9]*$`, r.header.Get("Retry-After"))
	assert.Equal(t, 2, pub.count())
}

func TestWebhookServerDedupe(t *testing.T) {
	for _, tc := range []struct{ name, cache, id string }{
		{"memory/headers", "", "headers: [x-github-delivery]"},
		{"cache/interpolation", "ids", `id: '${! meta("X-Github-Delivery") }'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := testnet.FreeAddr(t)
			var mu sync.Mutex
			fail := true
			pub := startWebhookStream(t, addr, "/hook", fmt.Sprintf(`
webhook_server:
  address: %s
  path: /hook
  dedupe:
    %s
    cache: %q
    ttl: 1h
`, addr, tc.id, tc.cache), streamOpts{
				caches: []string{"label: ids\nmemory: {}"},
				consume: func(m *service.Message) error {
					mu.Lock()
					defer mu.Unlock()
					if fail {
						return errors.New("broker down")
					}
					return nil
				},
			})
			d1 := http.Header{"X-Github-Delivery": {"d-1"}}
			assert.Equal(t, 503, send(t, "POST", "http://"+addr+"/hook", "text/plain", "a", d1).status)
			mu.Lock()
			fail = false
			mu.Unlock()
			assert.Equal(t, 200, send(t, "POST", "http://"+addr+"/hook", "text/plain", "a", d1).status, "a failed publish must not be recorded")
			assert.Equal(t, 200, send(t, "POST", "http://"+addr+"/hook", "text/plain", "a", d1).status)
			assert.Equal(t, 1, pub.count(), "the duplicate must not be published again")
			assert.Equal(t, 200, send(t, "POST", "http://"+addr+"/hook", "text/plain", "b", http.Header{"X-Github-Delivery": {"d-2"}}).status)
			assert.Equal(t, 200, send(t, "POST", "http://"+addr+"/hook", "text/plain", "c", nil).status, "no id: no dedupe")
			assert.Equal(t, 3, pub.count())
		})
	}
}

func TestWebhookServerEndpoints(t *testing.T) {
	addr := testnet.FreeAddr(t)
	pub := startWebhookStream(t, addr, "/forms", fmt.Sprintf(`
webhook_server:
  address: %s
  max_body_bytes: 16
  endpoints:
    - name: github
      path: /github
    - path: /forms
      allowed_methods: [PUT]
      allowed_content_types: [application/x-www-form-urlencoded]
      max_body_bytes: 4
`, addr), streamOpts{})
	r := send(t, "POST", "http://"+addr+"/github", "application/json", `{"a":1}`, nil)
	require.Equal(t, 200, r.status)
	v, _ := pub.last().MetaGet("webhook_endpoint")
	assert.Equal(t, "github", v)
	assert.Equal(t, 413, send(t, "POST", "http://"+addr+"/github", "application/json", strings.Repeat("x", 17), nil).status)
	assert.Equal(t, 405, send(t, "POST", "http://"+addr+"/forms", "application/x-www-form-urlencoded", "a=1", nil).status)
	assert.Equal(t, 415, send(t, "PUT", "http://"+addr+"/forms", "application/json", "{}", nil).status)
	assert.Equal(t, 413, send(t, "PUT", "http://"+addr+"/forms", "application/x-www-form-urlencoded", "a=123", nil).status)
	r = send(t, "PUT", "http://"+addr+"/forms", "application/x-www-form-urlencoded", "a=1", nil)
	require.Equal(t, 200, r.status)
	v, _ = pub.last().MetaGet("webhook_endpoint")
	assert.Equal(t, "/forms", v)
	assert.Equal(t, 2, pub.count())
}

// Two streams (as in a streams directory) on one address share the listener.
func TestWebhookServerSharedListener(t *testing.T) {
	addr := testnet.FreeAddr(t)
	a := startWebhookStream(t, addr, "/a", fmt.Sprintf("webhook_server: {address: %s, path: /a}", addr), streamOpts{})
	b := startWebhookStream(t, addr, "/b", fmt.Sprintf("webhook_server: {address: %s, path: /b}", addr), streamOpts{})
	assert.Equal(t, 200, send(t, "POST", "http://"+addr+"/a", "text/plain", "1", nil).status)
	assert.Equal(t, 200, send(t, "POST", "http://"+addr+"/b", "text/plain", "2", nil).status)
	assert.Equal(t, 404, send(t, "POST", "http://"+addr+"/c", "text/plain", "3", nil).status)
	assert.Equal(t, 1, a.count())
	assert.Equal(t, 1, b.count())
}

func TestWebhookServerConfigErrors(t *testing.T) {
	env := service.NewEnvironment()
	linter := env.NewComponentConfigLinter()
	lints, err := linter.LintInputYAML([]byte("webhook_server: {address: 'x:1'}"))
	require.NoError(t, err)
	require.NotEmpty(t, lints)
	assert.Contains(t, lints[0].What, "one of path or endpoints")
	lints, err = linter.LintInputYAML([]byte("webhook_server: {path: /a, endpoints: [{path: /b}]}"))
	require.NoError(t, err)
	require.NotEmpty(t, lints)
	assert.Contains(t, lints[0].What, "only one of path or endpoints")
	lints, err = linter.LintInputYAML([]byte("webhook_server: {path: /a}"))
	require.NoError(t, err)
	assert.Empty(t, lints)

	spec := webhookServerInputSpec()
	for _, tc := range []struct{ yaml, want string }{
		{"path: /a\ntimeout: 30s", "write_timeout"},
		{"path: /a\nmax_body_bytes: 0", "max_body_bytes must be positive"},
		{"path: /a\ntrusted_proxies: [nonsense]", "trusted_proxies"},
		{"endpoints: [{path: /a}, {path: /a}]", "listed twice"},
		{"path: /a\ndedupe: {id: x, headers: [y]}", "only one of fields dedupe.id and dedupe.headers"},
	} {
		pConf, err := spec.ParseYAML(tc.yaml, env)
		require.NoError(t, err)
		_, err = wsiConfigFromParsed(pConf)
		require.ErrorContains(t, err, tc.want, tc.yaml)
	}

	pConf, err := spec.ParseYAML("path: /a\nrate_limit: missing", env)
	require.NoError(t, err)
	c, err := wsiConfigFromParsed(pConf)
	require.NoError(t, err)
	_, err = newWebhookServerInput(c, service.MockResources())
	require.ErrorContains(t, err, "rate limit resource missing")
}

// A delivery whose ack comes after the sender got 503 must still count as
// published: retries meanwhile are refused, later ones are duplicates.
func TestWebhookServerDedupeLateAck(t *testing.T) {
	addr := testnet.FreeAddr(t)
	unblock := make(chan struct{})
	pub := startWebhookStream(t, addr, "/hook", fmt.Sprintf(`
webhook_server:
  address: %s
  path: /hook
  timeout: 200ms
  write_timeout: 5s
  dedupe:
    headers: [ Webhook-Id ]
`, addr), streamOpts{consume: func(m *service.Message) error {
		<-unblock
		return nil
	}})
	id := http.Header{"Webhook-Id": {"msg_1"}}
	assert.Equal(t, 503, send(t, "POST", "http://"+addr+"/hook", "text/plain", "a", id).status)
	r := send(t, "POST", "http://"+addr+"/hook", "text/plain", "a", id)
	assert.Equal(t, 503, r.status, "the first copy is still in flight")
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	close(unblock)
	require.Eventually(t, func() bool { return pub.count() == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		return send(t, "POST", "http://"+addr+"/hook", "text/plain", "a", id).status == 200
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, 1, pub.count(), "published exactly once")
}

func selfSignedCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

func TestWebhookServerTLS(t *testing.T) {
	certFile, keyFile := selfSignedCert(t)
	addr := testnet.FreeAddr(t)
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	require.NoError(t, sb.AddInputYAML(fmt.Sprintf(`
webhook_server:
  address: %s
  path: /hook
  cert_file: %s
  key_file: %s
`, addr, certFile, keyFile)))
	pub := &published{}
	require.NoError(t, sb.AddConsumerFunc(func(_ context.Context, m *service.Message) error { pub.add(m); return nil }))
	strm, err := sb.Build()
	require.NoError(t, err)
	go func() { _ = strm.Run(context.Background()) }()
	t.Cleanup(func() { _ = strm.StopWithin(10 * time.Second) })

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	require.Eventually(t, func() bool {
		res, err := client.Post("https://"+addr+"/hook", "text/plain", strings.NewReader("secure"))
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}, 10*time.Second, 20*time.Millisecond)
	u, _ := pub.last().MetaGet("webhook_url")
	assert.Equal(t, "https://"+addr+"/hook", u)

	res, err := http.Post("http://"+addr+"/hook", "text/plain", strings.NewReader("plain"))
	if err == nil {
		res.Body.Close()
		assert.NotEqual(t, 200, res.StatusCode, "plain HTTP must not be accepted on a TLS listener")
	}
	assert.Equal(t, 1, pub.count())
}

// Close answers waiting senders 503, releases the listener and is idempotent.
func TestWebhookServerClose(t *testing.T) {
	addr := testnet.FreeAddr(t)
	pConf, err := webhookServerInputSpec().ParseYAML(fmt.Sprintf("address: %s\npath: /hook\ntimeout: 20s\nwrite_timeout: 30s", addr), nil)
	require.NoError(t, err)
	conf, err := wsiConfigFromParsed(pConf)
	require.NoError(t, err)
	in, err := newWebhookServerInput(conf, service.MockResources())
	require.NoError(t, err)
	require.NoError(t, in.Connect(context.Background()))

	// Nobody calls Read: the request waits until Close.
	status := make(chan int, 1)
	go func() {
		res, err := http.Post("http://"+addr+"/hook", "text/plain", strings.NewReader("x"))
		if err != nil {
			status <- 0
			return
		}
		res.Body.Close()
		status <- res.StatusCode
	}()
	require.Eventually(t, func() bool { return len(in.pending) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, in.Close(context.Background()))
	require.NoError(t, in.Close(context.Background()))
	assert.Equal(t, 503, <-status)

	_, err = net.Dial("tcp", addr)
	assert.Error(t, err, "the listener must be closed")
	assert.ErrorIs(t, in.Connect(context.Background()), service.ErrEndOfInput)
	_, _, err = in.Read(context.Background())
	assert.ErrorIs(t, err, service.ErrEndOfInput)
}

// replaceMux tolerates re-registration (StreamBuilder's HTTP mux contract).
type replaceMux struct {
	mu sync.Mutex
	h  map[string]http.HandlerFunc
}

func (m *replaceMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.h[pattern] = h
}

func (m *replaceMux) get(pattern string) http.HandlerFunc {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.h[pattern]
}

func TestWebhookServerMetrics(t *testing.T) {
	addr := testnet.FreeAddr(t)
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	require.NoError(t, sb.SetMetricsYAML("json_api: {}"))
	mux := &replaceMux{h: map[string]http.HandlerFunc{}}
	sb.SetHTTPMux(mux)
	require.NoError(t, sb.AddInputYAML(fmt.Sprintf("webhook_server: {address: %s, path: /hook}", addr)))
	require.NoError(t, sb.AddConsumerFunc(func(context.Context, *service.Message) error { return nil }))
	strm, err := sb.Build()
	require.NoError(t, err)
	go func() { _ = strm.Run(context.Background()) }()
	t.Cleanup(func() { _ = strm.StopWithin(10 * time.Second) })
	waitServed(t, addr, "/hook")

	assert.Equal(t, 200, send(t, "POST", "http://"+addr+"/hook", "text/plain", "12345", nil).status)
	assert.Equal(t, 415, send(t, "POST", "http://"+addr+"/hook", "image/png", "x", nil).status)

	stats := mux.get("/stats")
	require.NotNil(t, stats, "json_api registers /stats")
	labels := `endpoint="/hook",label="",path="root.input"`
	want := map[string]float64{
		`webhook_server_requests{` + labels + `,status="200"}`:                1,
		`webhook_server_requests{` + labels + `,status="415"}`:                1,
		`webhook_server_rejected{` + labels + `,reason="content_type"}`:       1,
		`webhook_server_rejected{` + labels + `,reason="method_not_allowed"}`: 1, // the readiness probe
		`webhook_server_received_bytes{` + labels + `}`:                       5,
	}
	// The response is flushed before the request's metrics are recorded, so
	// the counters may trail the answers by a moment.
	var got map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec := httptest.NewRecorder()
		stats(rec, httptest.NewRequest("GET", "/stats", nil))
		got = nil
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		complete := true
		for key, v := range want {
			if got[key] != v {
				complete = false
			}
		}
		if complete || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for key, v := range want {
		assert.Equal(t, v, got[key], key)
	}
	assert.Contains(t, got, `webhook_server_latency_ns{`+labels+`}`)
}

// Every documented example must lint cleanly as a stream config.
func TestWebhookServerExamplesLint(t *testing.T) {
	view, ok := service.GlobalEnvironment().GetInputConfig("webhook_server")
	require.True(t, ok)
	td, err := view.TemplateData()
	require.NoError(t, err)
	require.Len(t, td.Examples, 2)
	for _, ex := range td.Examples {
		assert.NoError(t, service.NewStreamBuilder().SetYAML(ex.Config), ex.Title)
	}
}
