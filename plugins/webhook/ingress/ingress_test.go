package ingress

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type recorder struct {
	mu   sync.Mutex
	reqs []*Request
	res  Response
}

func (r *recorder) deliver(_ context.Context, req *Request) Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	if r.res.Status == 0 {
		return Response{Status: http.StatusOK}
	}
	return r.res
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func (r *recorder) last() *Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reqs[len(r.reqs)-1]
}

// startEndpoint serves conf on its own listener and returns the base URL.
func startEndpoint(t *testing.T, sconf ServerConfig, conf EndpointConfig) (string, *recorder, *Server) {
	t.Helper()
	rec := &recorder{}
	// A unique key per test: port 0 is resolved by the listener.
	key := "127.0.0.1:0#" + t.Name()
	srv, err := acquireForTest(key, sconf)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Release(context.Background()) })
	h, err := NewEndpoint(conf, rec.deliver, nil)
	require.NoError(t, err)
	require.NoError(t, srv.Handle(conf.Path, h))
	return "http://" + srv.Addr().String(), rec, srv
}

// acquireForTest registers a listener on an ephemeral port under key.
func acquireForTest(key string, conf ServerConfig) (*Server, error) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	s, err := startServer("127.0.0.1:0", conf)
	if err != nil {
		return nil, err
	}
	s.key, s.refs = key, 1
	registry.servers[key] = s
	return s, nil
}

func post(t *testing.T, url, contentType string, body []byte, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func readAll(t *testing.T, r io.Reader) string {
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(b)
}

func TestEndpointHTTPLevelRejections(t *testing.T) {
	base, rec, _ := startEndpoint(t, DefaultServerConfig(), EndpointConfig{Path: "/hook", MaxBodyBytes: 64})

	tests := []struct {
		name   string
		method string
		path   string
		header http.Header
		body   string
		status int
	}{
		{name: "unknown path", method: "POST", path: "/nope", header: http.Header{"Content-Type": {"application/json"}}, body: "{}", status: 404},
		{name: "wrong method", method: "GET", path: "/hook", status: 405},
		{name: "missing content type", method: "POST", path: "/hook", body: "{}", status: 415},
		{name: "wrong content type", method: "POST", path: "/hook", header: http.Header{"Content-Type": {"application/xml"}}, body: "<a/>", status: 415},
		{name: "multipart not allowed", method: "POST", path: "/hook", header: http.Header{"Content-Type": {"multipart/form-data; boundary=x"}}, body: "--x--", status: 415},
		{name: "two content types", method: "POST", path: "/hook", header: http.Header{"Content-Type": {"application/json", "text/plain"}}, body: "{}", status: 415},
		{name: "malformed content type", method: "POST", path: "/hook", header: http.Header{"Content-Type": {";;;"}}, body: "{}", status: 400},
		{name: "gzip content encoding", method: "POST", path: "/hook", header: http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}}, body: "{}", status: 415},
		{name: "body over limit", method: "POST", path: "/hook", header: http.Header{"Content-Type": {"application/json"}}, body: strings.Repeat("a", 65), status: 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			require.NoError(t, err)
			req.Header = tc.header
			if req.Header == nil {
				req.Header = http.Header{}
			}
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			assert.Equal(t, tc.status, res.StatusCode)
			body := readAll(t, res.Body)
			assert.True(t, strings.HasPrefix(body, `{"error":"`), body)
			assert.NotEmpty(t, res.Header.Get("Content-Type"))
			if tc.status == 405 {
				assert.Equal(t, "POST", res.Header.Get("Allow"))
			}
		})
	}
	assert.Equal(t, 0, rec.count(), "no rejected request may reach delivery")
}

func TestEndpointChunkedBodyOverLimit(t *testing.T) {
	base, rec, _ := startEndpoint(t, DefaultServerConfig(), EndpointConfig{Path: "/hook", MaxBodyBytes: 1024})
	// An io.Reader of unknown length makes the client send chunked.
	req, err := http.NewRequest("POST", base+"/hook", io.MultiReader(strings.NewReader(strings.Repeat("x", 4096))))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "text/plain")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	assert.Equal(t, 0, rec.count())
}

func TestEndpointRawBodyAndMetadata(t *testing.T) {
	proxies, err := ParseProxyList([]string{"127.0.0.0/8"})
	require.NoError(t, err)
	base, rec, _ := startEndpoint(t, DefaultServerConfig(), EndpointConfig{
		Name: "gh", Path: "/hook", TrustedProxies: proxies,
		AllowedContentTypes: []string{"application/json", "multipart/form-data"},
	})
	body := []byte("{\"a\": 1}\r\n\x00\xff  ")
	res := post(t, base+"/hook?x=1&y=2", "application/json; charset=utf-8", body, map[string]string{
		"X-Forwarded-For":   "203.0.113.7, 127.0.0.2",
		"X-Forwarded-Proto": "https",
		"X-Forwarded-Host":  "hooks.example.com",
		"X-Request-Id":      "req-123",
	})
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "req-123", res.Header.Get("X-Request-Id"))
	got := rec.last()
	assert.Equal(t, body, got.Body)
	assert.Equal(t, "gh", got.Endpoint)
	assert.Equal(t, "203.0.113.7", got.RemoteIP)
	assert.Equal(t, "req-123", got.RequestID)
	assert.Equal(t, "https://hooks.example.com/hook?x=1&y=2", got.URL)
	assert.Equal(t, "x=1&y=2", got.RawQuery)
	assert.Equal(t, "/hook", got.Path)
	assert.Equal(t, "application/json; charset=utf-8", got.ContentType)
	assert.WithinDuration(t, time.Now(), got.ReceivedAt, time.Minute)

	// Multipart is allowed here and must arrive whole, not split.
	mp := "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n2\r\n--b--\r\n"
	res = post(t, base+"/hook", "multipart/form-data; boundary=b", []byte(mp), nil)
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, mp, string(rec.last().Body))
}

func TestEndpointUntrustedPeerHeadersIgnored(t *testing.T) {
	base, rec, _ := startEndpoint(t, DefaultServerConfig(), EndpointConfig{Path: "/hook", PublicURL: "https://public.example/"})
	res := post(t, base+"/hook?q=1", "text/plain", []byte("x"), map[string]string{
		"X-Forwarded-For":  "203.0.113.7",
		"X-Forwarded-Host": "evil.example",
		"X-Request-Id":     "attacker-chosen",
	})
	assert.Equal(t, 200, res.StatusCode)
	got := rec.last()
	assert.Equal(t, "127.0.0.1", got.RemoteIP)
	assert.NotEqual(t, "attacker-chosen", got.RequestID)
	assert.Regexp(t, `^[0-9a-f]{16}-[0-9a-f]+$`, got.RequestID)
	assert.Equal(t, "https://public.example/hook?q=1", got.URL)
}

func TestClientIPChain(t *testing.T) {
	l, err := ParseProxyList([]string{"10.0.0.0/8", "192.0.2.1"})
	require.NoError(t, err)
	tests := []struct {
		remote, xff, want string
		trusted           bool
	}{
		{"198.51.100.1:1234", "1.2.3.4", "198.51.100.1", false},
		{"10.1.1.1:1234", "", "10.1.1.1", true},
		{"10.1.1.1:1234", "1.2.3.4", "1.2.3.4", true},
		{"10.1.1.1:1234", "6.6.6.6, 1.2.3.4, 10.2.2.2", "1.2.3.4", true},
		{"192.0.2.1:1", "garbage, 10.3.3.3", "10.3.3.3", true},
		{"[::ffff:10.0.0.5]:80", "2001:db8::1", "2001:db8::1", true},
	}
	for _, tc := range tests {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		got, trusted := l.ClientIP(r)
		assert.Equal(t, tc.want, got, tc.remote+" "+tc.xff)
		assert.Equal(t, tc.trusted, trusted)
	}
	_, err = ParseProxyList([]string{"not-an-ip"})
	require.Error(t, err)
}

func TestServerSlowlorisHeadersClosed(t *testing.T) {
	sconf := DefaultServerConfig()
	sconf.ReadHeaderTimeout = 200 * time.Millisecond
	base, rec, _ := startEndpoint(t, sconf, EndpointConfig{Path: "/hook"})
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("POST /hook HTTP/1.1\r\nHost: x\r\nX-Slow: "))
	require.NoError(t, err)
	// The server must hang up well before this generous deadline.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.ReadAll(conn)
	var ne net.Error
	if err != nil && assert.ErrorAs(t, err, &ne) {
		assert.False(t, ne.Timeout(), "connection was not closed by the server")
	}
	assert.Equal(t, 0, rec.count())
}

func TestServerSlowBodyTimesOut(t *testing.T) {
	sconf := DefaultServerConfig()
	sconf.ReadTimeout = 300 * time.Millisecond
	base, rec, _ := startEndpoint(t, sconf, EndpointConfig{Path: "/hook"})
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nabc"))
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusRequestTimeout, res.StatusCode)
	assert.Equal(t, 0, rec.count())
}

func TestServerHeadersTooLarge(t *testing.T) {
	sconf := DefaultServerConfig()
	sconf.MaxHeaderBytes = 4 << 10
	base, rec, _ := startEndpoint(t, sconf, EndpointConfig{Path: "/hook"})
	res := post(t, base+"/hook", "text/plain", []byte("x"), map[string]string{"X-Big": strings.Repeat("a", 64<<10)})
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, res.StatusCode)
	assert.Equal(t, 0, rec.count())
}

func TestServerSharingAndRelease(t *testing.T) {
	conf := DefaultServerConfig()
	const addr = "127.0.0.1:0"
	a, err := Acquire(addr, conf)
	require.NoError(t, err)
	b, err := Acquire(addr, conf)
	require.NoError(t, err)
	require.Same(t, a, b)

	other := conf
	other.IdleTimeout = time.Second
	_, err = Acquire(addr, other)
	require.ErrorContains(t, err, "different server settings")

	var hits atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	require.NoError(t, a.Handle("/a", h))
	require.NoError(t, b.Handle("/b", h))
	require.ErrorContains(t, b.Handle("/a", h), "already served")
	require.Error(t, b.Handle("nope", h))

	bound, ok := Lookup(addr)
	require.True(t, ok)
	base := "http://" + bound.String()
	for _, p := range []string{"/a", "/b"} {
		res, err := http.Post(base+p, "text/plain", nil)
		require.NoError(t, err)
		res.Body.Close()
	}
	assert.Equal(t, int32(2), hits.Load())

	a.Remove("/a")
	res, err := http.Post(base+"/a", "text/plain", nil)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 404, res.StatusCode)

	require.NoError(t, a.Release(context.Background()))
	res, err = http.Post(base+"/b", "text/plain", nil)
	require.NoError(t, err, "listener must stay up while referenced")
	res.Body.Close()
	require.NoError(t, b.Release(context.Background()))
	_, ok = Lookup(addr)
	assert.False(t, ok)
	http.DefaultClient.CloseIdleConnections()
	_, err = http.Post(base+"/b", "text/plain", nil)
	require.Error(t, err, "listener must be closed after the last release")
}

func TestWriteErrorRetryAfter(t *testing.T) {
	tests := []struct {
		status int
		wait   time.Duration
		want   string
	}{
		{429, 0, "1"},
		{429, 200 * time.Millisecond, "1"},
		{429, 1500 * time.Millisecond, "2"},
		{503, 0, "1"},
		{401, time.Minute, ""},
	}
	for _, tc := range tests {
		w := &headerRecorder{h: http.Header{}}
		WriteError(w, tc.status, tc.wait)
		assert.Equal(t, tc.want, w.h.Get("Retry-After"))
		assert.Equal(t, tc.status, w.status)
	}
	w := &headerRecorder{h: http.Header{}}
	WriteResponse(w, Response{Status: 401, Body: []byte("secret internal detail")})
	assert.Equal(t, `{"error":"unauthorized"}`, w.body.String())
}

// The plain 200 uses shared header values; a response with its own headers
// or body must still get its own Content-Type and Content-Length.
func TestWriteResponseHeaders(t *testing.T) {
	for range 2 {
		w := &headerRecorder{h: http.Header{}}
		WriteResponse(w, Response{Status: 200})
		assert.Equal(t, 200, w.status)
		assert.Equal(t, `{"status":"accepted"}`, w.body.String())
		assert.Equal(t, "application/json", w.h.Get("Content-Type"))
		assert.Equal(t, "21", w.h.Get("Content-Length"))
		// A caller adding to the headers afterwards must not change the
		// next response.
		w.h.Add("Content-Type", "text/plain")
		w.h.Add("Content-Length", "0")
	}

	w := &headerRecorder{h: http.Header{}}
	WriteResponse(w, Response{Status: 202, Header: http.Header{"Content-Type": {"text/plain"}}})
	assert.Equal(t, []string{"text/plain"}, w.h.Values("Content-Type"))
	assert.Equal(t, "21", w.h.Get("Content-Length"))

	w = &headerRecorder{h: http.Header{}}
	WriteResponse(w, Response{Status: 200, Header: http.Header{"X-Extra": {"1"}}, Body: []byte("challenge")})
	assert.Equal(t, "9", w.h.Get("Content-Length"))
	assert.Equal(t, "1", w.h.Get("X-Extra"))
	assert.Equal(t, "challenge", w.body.String())
	assert.Empty(t, w.h.Get("Content-Type"), "a sync response body keeps the headers it was given")
}

type headerRecorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (h *headerRecorder) Header() http.Header         { return h.h }
func (h *headerRecorder) Write(b []byte) (int, error) { return h.body.Write(b) }
func (h *headerRecorder) WriteHeader(s int)           { h.status = s }

func TestMemoryDedup(t *testing.T) {
	now := time.Unix(1000, 0)
	d := NewMemoryDedup(time.Minute, 3)
	d.now = func() time.Time { return now }
	assert.False(t, d.Seen("a"))
	d.Record("a")
	assert.True(t, d.Seen("a"))
	now = now.Add(61 * time.Second)
	assert.False(t, d.Seen("a"), "expired")
	for _, k := range []string{"b", "c", "d", "e"} {
		d.Record(k)
	}
	assert.Equal(t, 3, d.Len())
	assert.False(t, d.Seen("b"), "oldest evicted over the cap")
	assert.True(t, d.Seen("e"))

	c := NewClaims()
	assert.True(t, c.TryClaim("x"))
	assert.False(t, c.TryClaim("x"))
	c.Release("x")
	assert.True(t, c.TryClaim("x"))
}

func TestEndpointValidateJSON(t *testing.T) {
	base, rec, _ := startEndpoint(t, DefaultServerConfig(), EndpointConfig{
		Path: "/hook", ValidateJSON: true,
		AllowedContentTypes: []string{"application/json", "application/cloudevents+json", "text/plain"},
	})
	for _, tc := range []struct {
		ct, body string
		status   int
	}{
		{"application/json", `{"a":1}`, 200},
		{"application/json", "{\"a\":\"\xff\xfe\"}", 400},
		{"application/json", `{"a":`, 400},
		{"application/cloudevents+json", `[1,`, 400},
		{"text/plain", `{"a":`, 200},
	} {
		assert.Equal(t, tc.status, post(t, base+"/hook", tc.ct, []byte(tc.body), nil).StatusCode, tc.ct+" "+tc.body)
	}
	assert.Equal(t, 2, rec.count())
}
