package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// FaultOptions are the client settings fault tests use: few attempts and a
// short response timeout, so an outage surfaces quickly as an error.
func FaultOptions(o objstore.Options) objstore.Options {
	o.MaxAttempts = 2
	o.DialTimeout = 2 * time.Second
	o.ResponseTimeout = 2 * time.Second
	return o
}

// Outage checks that a store whose server goes away fails operations with
// an error (not a hang, not a false ErrExists), that an upload cut mid-way
// leaves nothing visible, and that the store works again once the server is
// back. st must reach its server through p and use FaultOptions.
func Outage(t *testing.T, st objstore.Store, p *Proxy) {
	// The deadline only guards the test run itself; the store must give up
	// on its own well before it (asserted below).
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mustPut(t, st, "_delta_log/00000000000000000000.json", []byte("v0"))

	// An upload is cut after its first part.
	w, err := st.Create(ctx, "part-00000-cut.parquet")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	chunk := bytes.Repeat([]byte("p"), 1<<20)
	for range 9 {
		if _, err := w.Write(chunk); err != nil {
			t.Fatalf("Write before the outage: %v", err)
		}
	}

	p.Cut()
	var uploadErr error
	for range 12 {
		if _, uploadErr = w.Write(chunk); uploadErr != nil {
			break
		}
	}
	if uploadErr == nil {
		uploadErr = w.Close()
	} else {
		_ = w.Abort()
	}
	requireOutageError(t, ctx, "finishing an upload cut mid-way", uploadErr)

	err = st.PutIfAbsent(ctx, "_delta_log/00000000000000000001.json", []byte("v1"))
	requireOutageError(t, ctx, "PutIfAbsent while the server is down", err)
	_, err = st.Get(ctx, "_delta_log/00000000000000000000.json")
	requireOutageError(t, ctx, "Get while the server is down", err)
	_, err = st.List(ctx, "_delta_log/", "")
	requireOutageError(t, ctx, "List while the server is down", err)

	// A server that accepts connections but never answers.
	p.Stall()
	err = st.PutIfAbsent(ctx, "_delta_log/00000000000000000001.json", []byte("v1"))
	requireOutageError(t, ctx, "PutIfAbsent while the server hangs", err)
	_, err = st.Stat(ctx, "_delta_log/00000000000000000000.json")
	requireOutageError(t, ctx, "Stat while the server hangs", err)

	p.Restore()
	if err := st.PutIfAbsent(ctx, "_delta_log/00000000000000000001.json", []byte("v1")); err != nil {
		t.Fatalf("PutIfAbsent after the server is back: %v", err)
	}
	mustGet(t, st, "_delta_log/00000000000000000001.json", []byte("v1"))
	if _, err := st.Stat(ctx, "part-00000-cut.parquet"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("the upload cut by the outage is visible (Stat: %v)", err)
	}
	objs, err := st.List(ctx, "", "")
	if err != nil {
		t.Fatalf("List after the server is back: %v", err)
	}
	if got := keysOf(objs); !equalStrings(got, []string{"_delta_log/00000000000000000000.json", "_delta_log/00000000000000000001.json"}) {
		t.Fatalf("List after the outage: %q", got)
	}
}

func requireOutageError(t *testing.T, ctx context.Context, what string, err error) {
	t.Helper()
	t.Logf("%s: %.60v", what, err)
	switch {
	case err == nil:
		t.Fatalf("%s: succeeded, want an error", what)
	case errors.Is(err, objstore.ErrExists), errors.Is(err, objstore.ErrNotExist):
		t.Fatalf("%s: got %v, a storage answer instead of an outage error", what, err)
	case ctx.Err() != nil:
		t.Fatalf("%s: the store did not give up on its own (test deadline reached): %v", what, err)
	}
}

// LostResponseTransport forwards requests to Base, but for the first
// request that Match selects it drops the server's answer and reports a
// connection reset instead: the server applied the request, the client
// does not know. SDKs retry such errors.
type LostResponseTransport struct {
	Base  http.RoundTripper
	Match func(*http.Request) bool
	// Dropped counts the answers dropped (at most one).
	Dropped atomic.Int32
}

// RoundTrip implements http.RoundTripper.
func (l *LostResponseTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := l.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(r)
	if err != nil || !l.Match(r) || !l.Dropped.CompareAndSwap(0, 1) {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}

// IsConditionalCreate matches the conditional-create requests of the three
// clouds: If-None-Match: * (S3, Azure) or ifGenerationMatch=0 (GCS).
func IsConditionalCreate(r *http.Request) bool {
	return r.Header.Get("If-None-Match") == "*" || r.URL.Query().Get("ifGenerationMatch") == "0"
}

// LostCreateResponse checks that a PutIfAbsent whose first attempt was
// applied but whose answer was lost still reports success (the SDK's retry
// finds the key taken by this very call), while a real conflict still
// reports ErrExists. st must send its requests through lost.
func LostCreateResponse(t *testing.T, st objstore.Store, lost *LostResponseTransport) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	key := "_delta_log/00000000000000000003.json"
	data := racerContent(7, 1)
	if err := st.PutIfAbsent(ctx, key, data); err != nil {
		t.Fatalf("PutIfAbsent whose first answer was lost: %v", err)
	}
	if lost.Dropped.Load() != 1 {
		t.Fatalf("the fault was not injected (no conditional create seen)")
	}
	mustGet(t, st, key, data)
	if err := st.PutIfAbsent(ctx, key, racerContent(7, 2)); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("PutIfAbsent of other content on the taken key: got %v, want ErrExists", err)
	}
}

// UnavailableTransport answers the first N requests with 503 Service
// Unavailable without forwarding them, then forwards to Base.
type UnavailableTransport struct {
	Base http.RoundTripper
	N    int32
	// Answered counts the 503 answers given.
	Answered atomic.Int32
}

// RoundTrip implements http.RoundTripper.
func (u *UnavailableTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if u.Answered.Add(1) <= u.N {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return &http.Response{
			StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Body: http.NoBody, Request: r,
		}, nil
	}
	u.Answered.Add(-1)
	base := u.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// TransientErrors checks that 503 answers are retried inside the store: st
// must send its requests through u (with N smaller than the store's
// attempts per request).
func TransientErrors(t *testing.T, st objstore.Store, u *UnavailableTransport) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	key := "_delta_log/00000000000000000000.json"
	if err := st.PutIfAbsent(ctx, key, []byte("v0")); err != nil {
		t.Fatalf("PutIfAbsent after %d answers 503: %v", u.N, err)
	}
	if got := u.Answered.Load(); got != u.N {
		t.Fatalf("the server answered 503 %d times, want %d", got, u.N)
	}
	u.Answered.Store(0)
	mustGet(t, st, key, []byte("v0"))
	if got := u.Answered.Load(); got != u.N {
		t.Fatalf("Get: the server answered 503 %d times, want %d", got, u.N)
	}
}
