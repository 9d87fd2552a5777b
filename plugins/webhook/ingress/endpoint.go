package ingress

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

var discardLogger = log.New(io.Discard, "", 0)

// Request ids are a random per-process prefix plus a counter: unique and
// unguessable enough for correlation, without a getrandom call per request.
var (
	requestIDPrefix = func() string {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Sprintf("reading random bytes: %v", err))
		}
		return hex.EncodeToString(b[:])
	}()
	requestIDCounter atomic.Uint64
)

func newRequestID() string {
	var buf [16 + 1 + 16]byte
	n := copy(buf[:], requestIDPrefix)
	buf[n] = '-'
	n++
	return string(strconv.AppendUint(buf[:n], requestIDCounter.Add(1), 16))
}

// DefaultMaxBodyBytes is the body limit used when none is configured (1 MiB).
const DefaultMaxBodyBytes = 1 << 20

// DefaultContentTypes are the media types accepted when none are configured.
var DefaultContentTypes = []string{"application/json", "application/x-www-form-urlencoded", "text/plain"}

// EndpointConfig is the per-path request policy.
type EndpointConfig struct {
	// Name identifies the endpoint in metadata and metrics; defaults to Path.
	Name string
	Path string
	// AllowedMethods, upper case; defaults to POST.
	AllowedMethods []string
	// AllowedContentTypes are media types without parameters ("*/*" allows
	// any); defaults to DefaultContentTypes.
	AllowedContentTypes []string
	// MaxBodyBytes caps the request body; defaults to DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// TrustedProxies are the peers whose X-Forwarded-* and X-Request-Id
	// headers are believed.
	TrustedProxies *ProxyList
	// PublicURL, when set, replaces scheme and host of the reconstructed
	// request URL (what signature schemes such as Twilio's sign).
	PublicURL string
	// ValidateJSON rejects JSON bodies (application/json, */*+json) that are
	// not valid UTF-8 JSON with 400. encoding/json alone would accept
	// invalid UTF-8, so both are checked.
	ValidateJSON bool
}

// Request is a webhook delivery that passed the HTTP-level checks.
type Request struct {
	Endpoint    string
	Method      string
	Path        string
	RawQuery    string
	URL         string
	RemoteIP    string
	RequestID   string
	ReceivedAt  time.Time
	ContentType string
	Header      http.Header
	// Body holds the raw bytes exactly as received.
	Body []byte
}

// Response is what the delivery function decided to answer.
type Response struct {
	Status int
	// Reason is a short machine label for metrics (e.g. "unauthorized",
	// "output_unavailable"); never sent to the client.
	Reason string
	// Header is added to the response (sync responses).
	Header http.Header
	// Body is sent only for 2xx statuses; other statuses always get a fixed
	// short body so that no internal detail leaks.
	Body []byte
	// RetryAfter is sent (rounded up to whole seconds, at least 1) with 429
	// and 503 responses.
	RetryAfter time.Duration
}

// DeliverFunc hands a request to the pipeline and reports the outcome.
type DeliverFunc func(ctx context.Context, req *Request) Response

// Observer receives one call per finished request, for metrics.
type Observer interface {
	Observe(endpoint string, status int, reason string, bodyBytes int, latency time.Duration)
}

type endpoint struct {
	conf         EndpointConfig
	methods      map[string]struct{}
	allowHeader  string
	contentTypes map[string]struct{}
	anyType      bool
	publicURL    string
	deliver      DeliverFunc
	obs          Observer
}

// NewEndpoint builds the handler enforcing conf and calling deliver for
// every request that passes.
func NewEndpoint(conf EndpointConfig, deliver DeliverFunc, obs Observer) (http.Handler, error) {
	if conf.Path == "" || conf.Path[0] != '/' {
		return nil, fmt.Errorf("path %q must start with /", conf.Path)
	}
	if conf.Name == "" {
		conf.Name = conf.Path
	}
	if len(conf.AllowedMethods) == 0 {
		conf.AllowedMethods = []string{http.MethodPost}
	}
	if len(conf.AllowedContentTypes) == 0 {
		conf.AllowedContentTypes = DefaultContentTypes
	}
	if conf.MaxBodyBytes <= 0 {
		conf.MaxBodyBytes = DefaultMaxBodyBytes
	}
	e := &endpoint{
		conf:         conf,
		methods:      map[string]struct{}{},
		contentTypes: map[string]struct{}{},
		publicURL:    strings.TrimSuffix(conf.PublicURL, "/"),
		deliver:      deliver,
		obs:          obs,
	}
	for i, m := range conf.AllowedMethods {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "" {
			return nil, fmt.Errorf("allowed method %d is empty", i)
		}
		e.methods[m] = struct{}{}
		conf.AllowedMethods[i] = m
	}
	e.allowHeader = strings.Join(conf.AllowedMethods, ", ")
	for _, ct := range conf.AllowedContentTypes {
		ct = strings.ToLower(strings.TrimSpace(ct))
		if ct == "*/*" {
			e.anyType = true
			continue
		}
		if _, _, err := mime.ParseMediaType(ct); err != nil || strings.Contains(ct, ";") {
			return nil, fmt.Errorf("allowed content type %q is not a media type without parameters", ct)
		}
		e.contentTypes[ct] = struct{}{}
	}
	return e, nil
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status, reason, n := e.serve(w, r, start)
	if e.obs != nil {
		// Send the answer before recording metrics, so that the sender does
		// not wait for them; net/http has nothing left to write afterwards.
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		e.obs.Observe(e.conf.Name, status, reason, n, time.Since(start))
	}
}

func (e *endpoint) serve(w http.ResponseWriter, r *http.Request, start time.Time) (status int, reason string, n int) {
	remote, trusted := e.conf.TrustedProxies.ClientIP(r)
	reqID := ""
	if trusted {
		reqID = sanitizeRequestID(r.Header.Get("X-Request-Id"))
	}
	if reqID == "" {
		reqID = newRequestID()
	}
	// Canonical key assigned directly: Set would canonicalise it per request.
	w.Header()["X-Request-Id"] = []string{reqID}

	if _, ok := e.methods[r.Method]; !ok {
		w.Header().Set("Allow", e.allowHeader)
		return e.reject(w, http.StatusMethodNotAllowed, "method_not_allowed")
	}
	if enc := r.Header.Values("Content-Encoding"); len(enc) > 0 && !(len(enc) == 1 && strings.EqualFold(strings.TrimSpace(enc[0]), "identity")) {
		// Signatures cover the bytes as sent; decompressing would both
		// change them and open the door to compression bombs.
		return e.reject(w, http.StatusUnsupportedMediaType, "content_encoding")
	}
	cts := r.Header.Values("Content-Type")
	if len(cts) != 1 {
		return e.reject(w, http.StatusUnsupportedMediaType, "content_type")
	}
	mediaType, _, err := mime.ParseMediaType(cts[0])
	if err != nil {
		return e.reject(w, http.StatusBadRequest, "content_type_malformed")
	}
	if _, ok := e.contentTypes[mediaType]; !ok && !e.anyType {
		return e.reject(w, http.StatusUnsupportedMediaType, "content_type")
	}
	if r.ContentLength > e.conf.MaxBodyBytes {
		// Refuse before reading; closing stops the client from streaming
		// the rest of an oversized body at us.
		w.Header().Set("Connection", "close")
		return e.reject(w, http.StatusRequestEntityTooLarge, "body_too_large")
	}

	body, err := readBody(w, r, e.conf.MaxBodyBytes)
	if err != nil {
		var tooLarge *http.MaxBytesError
		var netErr net.Error
		w.Header().Set("Connection", "close")
		switch {
		case errors.As(err, &tooLarge):
			return e.reject(w, http.StatusRequestEntityTooLarge, "body_too_large")
		case errors.As(err, &netErr) && netErr.Timeout():
			return e.reject(w, http.StatusRequestTimeout, "body_timeout")
		default:
			return e.reject(w, http.StatusBadRequest, "body_read")
		}
	}

	if e.conf.ValidateJSON && isJSONMediaType(mediaType) {
		if !utf8.Valid(body) {
			return e.reject(w, http.StatusBadRequest, "invalid_utf8")
		}
		if !json.Valid(body) {
			return e.reject(w, http.StatusBadRequest, "malformed_json")
		}
	}

	req := &Request{
		Endpoint:    e.conf.Name,
		Method:      r.Method,
		Path:        r.URL.Path,
		RawQuery:    r.URL.RawQuery,
		URL:         e.requestURL(r, trusted),
		RemoteIP:    remote,
		RequestID:   reqID,
		ReceivedAt:  start,
		ContentType: cts[0],
		Header:      r.Header,
		Body:        body,
	}
	res := e.deliver(r.Context(), req)
	WriteResponse(w, res)
	return res.Status, res.Reason, len(body)
}

func isJSONMediaType(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func (e *endpoint) reject(w http.ResponseWriter, status int, reason string) (int, string, int) {
	WriteError(w, status, 0)
	return status, reason, 0
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, limit)
	defer rd.Close()
	if r.ContentLength >= 0 {
		// Known length (already checked against the limit): read exactly
		// into one allocation. A body shorter than announced is an error.
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rd); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (e *endpoint) requestURL(r *http.Request, trusted bool) string {
	uri := r.RequestURI
	if uri == "" || uri[0] != '/' {
		uri = r.URL.RequestURI()
	}
	if e.publicURL != "" {
		return e.publicURL + uri
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if trusted {
		if p := lastListValue(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
			scheme = p
		}
		if h := lastListValue(r.Header.Get("X-Forwarded-Host")); h != "" {
			host = h
		}
	}
	return scheme + "://" + host + uri
}

// lastListValue is the entry the nearest proxy appended to a comma list.
func lastListValue(v string) string {
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// sanitizeRequestID accepts short printable ids only, so a proxy-supplied id
// cannot inject anything into logs or headers.
func sanitizeRequestID(id string) string {
	if id == "" || len(id) > 128 {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return ""
		}
	}
	return id
}

// WriteResponse writes res: 2xx with its body and headers, anything else
// with the fixed short body for its status.
func WriteResponse(w http.ResponseWriter, res Response) {
	if res.Status < 200 || res.Status > 299 {
		for k, vs := range res.Header {
			if strings.EqualFold(k, "Content-Type") || strings.EqualFold(k, "Content-Length") {
				continue
			}
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		WriteError(w, res.Status, res.RetryAfter)
		return
	}
	h := w.Header()
	for k, vs := range res.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	body := res.Body
	if body == nil {
		body = okBody
		if _, ok := h["Content-Type"]; !ok && len(res.Header) == 0 {
			// The common answer: shared, never-mutated header values.
			h["Content-Type"] = jsonContentType
		} else if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "application/json")
		}
		h["Content-Length"] = okBodyLength
	} else {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(res.Status)
	_, _ = w.Write(body)
}

var (
	okBody          = []byte(`{"status":"accepted"}`)
	okBodyLength    = []string{strconv.Itoa(len(okBody))}
	jsonContentType = []string{"application/json"}
)

// WriteError answers status with a fixed JSON body naming only the status;
// 429 and 503 carry Retry-After in whole seconds (at least 1).
func WriteError(w http.ResponseWriter, status int, retryAfter time.Duration) {
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	h := w.Header()
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		secs := int64(math.Ceil(retryAfter.Seconds()))
		if secs < 1 {
			secs = 1
		}
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	body := errorBody(status)
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

var errorBodies = func() map[int][]byte {
	m := map[int][]byte{}
	for s := 400; s <= 599; s++ {
		if t := http.StatusText(s); t != "" {
			m[s] = []byte(`{"error":"` + strings.ToLower(t) + `"}`)
		}
	}
	return m
}()

func errorBody(status int) []byte {
	if b, ok := errorBodies[status]; ok {
		return b
	}
	return []byte(`{"error":"error"}`)
}
