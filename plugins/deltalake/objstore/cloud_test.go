package objstore_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore/objstoretest"
)

func TestS3Conformance(t *testing.T) {
	loc, opts := objstoretest.NewS3Bucket(t)
	objstoretest.Conformance(t, objstoretest.Prefixed(loc, opts))
	t.Run("SmallListPages", func(t *testing.T) {
		objstoretest.Conformance(t, smallPages(objstoretest.Prefixed(loc, opts)))
	})
}

func TestAzureConformance(t *testing.T) {
	loc, opts := objstoretest.NewAzureContainer(t)
	objstoretest.Conformance(t, objstoretest.Prefixed(loc, opts))
	t.Run("SmallListPages", func(t *testing.T) {
		objstoretest.Conformance(t, smallPages(objstoretest.Prefixed(loc, opts)))
	})
}

// GCS runs against fake-gcs-server, an in-process emulator of the GCS JSON
// API (not Google Cloud Storage itself); its memory backend checks
// ifGenerationMatch under a lock, which the race test confirms.
func TestGCSEmulatorConformance(t *testing.T) {
	_, loc, opts := objstoretest.StartGCSEmulator(t)
	objstoretest.Conformance(t, objstoretest.Prefixed(loc, opts))
	t.Run("SmallListPages", func(t *testing.T) {
		objstoretest.Conformance(t, smallPages(objstoretest.Prefixed(loc, opts)))
	})
}

// smallPages lists two objects per request, so List must follow
// continuation tokens (with StartAfter and the store prefix) correctly.
func smallPages(newStore objstoretest.NewStoreFunc) objstoretest.NewStoreFunc {
	return func(t *testing.T) objstore.Store {
		st := newStore(t)
		objstore.SetListPageSize(st, 2)
		return st
	}
}

func open(t *testing.T, loc string, opts objstore.Options) objstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := objstore.Open(ctx, loc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func hostOf(t *testing.T, endpoint string) string {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func TestS3Outage(t *testing.T) {
	t.Parallel() // mostly waiting on timeouts
	loc, opts := objstoretest.NewS3Bucket(t)
	proxy := objstoretest.NewProxy(t, hostOf(t, opts.S3.Endpoint))
	opts.S3.Endpoint = proxy.URL()
	objstoretest.Outage(t, open(t, loc+"/outage", objstoretest.FaultOptions(opts)), proxy)
}

func TestAzureOutage(t *testing.T) {
	t.Parallel() // mostly waiting on timeouts
	loc, opts := objstoretest.NewAzureContainer(t)
	proxy := objstoretest.NewProxy(t, hostOf(t, opts.Azure.Endpoint))
	opts.Azure.Endpoint = proxy.URL() + "/" + opts.Azure.Account
	objstoretest.Outage(t, open(t, loc+"/outage", objstoretest.FaultOptions(opts)), proxy)
}

func TestGCSEmulatorOutage(t *testing.T) {
	t.Parallel() // mostly waiting on timeouts
	em, loc, opts := objstoretest.StartGCSEmulator(t)
	objstoretest.Outage(t, open(t, loc+"/outage", objstoretest.FaultOptions(opts)), em.Proxy)
}

func lostResponseClient() (*http.Client, *objstoretest.LostResponseTransport) {
	lost := &objstoretest.LostResponseTransport{Match: objstoretest.IsConditionalCreate}
	return &http.Client{Transport: lost}, lost
}

func TestS3LostCreateResponse(t *testing.T) {
	loc, opts := objstoretest.NewS3Bucket(t)
	client, lost := lostResponseClient()
	opts.HTTPClient = client
	objstoretest.LostCreateResponse(t, open(t, loc, opts), lost)
}

func TestAzureLostCreateResponse(t *testing.T) {
	loc, opts := objstoretest.NewAzureContainer(t)
	client, lost := lostResponseClient()
	opts.HTTPClient = client
	objstoretest.LostCreateResponse(t, open(t, loc, opts), lost)
}

func TestGCSEmulatorLostCreateResponse(t *testing.T) {
	_, loc, opts := objstoretest.StartGCSEmulator(t)
	client, lost := lostResponseClient()
	opts.HTTPClient = client
	objstoretest.LostCreateResponse(t, open(t, loc, opts), lost)
}

// conflictTransport answers the first n conditional creates with S3's
// 409 ConditionalRequestConflict without forwarding them.
type conflictTransport struct {
	n    int
	seen int
}

func (c *conflictTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if objstoretest.IsConditionalCreate(r) && c.seen < c.n {
		c.seen++
		if r.Body != nil {
			_ = r.Body.Close()
		}
		body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ConditionalRequestConflict</Code><Message>A conflicting operation is in progress.</Message></Error>`
		return &http.Response{
			StatusCode: http.StatusConflict, Status: "409 Conflict", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/xml"}},
			Body:   http.NoBody, ContentLength: int64(len(body)), Request: r,
		}, nil
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestS3ConditionalConflictIsRetried(t *testing.T) {
	loc, opts := objstoretest.NewS3Bucket(t)
	ct := &conflictTransport{n: 3}
	opts.HTTPClient = &http.Client{Transport: ct}
	opts.MaxAttempts = 1 // the SDK must not be the one retrying
	st := open(t, loc, opts)
	ctx := context.Background()
	if err := st.PutIfAbsent(ctx, "_delta_log/00000000000000000000.json", []byte("v0")); err != nil {
		t.Fatalf("PutIfAbsent after 409 conflicts: %v", err)
	}
	if ct.seen != 3 {
		t.Fatalf("saw %d conflicts, want 3", ct.seen)
	}
	got, err := st.Get(ctx, "_delta_log/00000000000000000000.json")
	if err != nil || string(got) != "v0" {
		t.Fatalf("Get: %q, %v", got, err)
	}
	if err := st.PutIfAbsent(ctx, "_delta_log/00000000000000000000.json", []byte("v0-other")); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("PutIfAbsent on the existing key: %v", err)
	}
}

func unavailableOpts(opts objstore.Options) (objstore.Options, *objstoretest.UnavailableTransport) {
	u := &objstoretest.UnavailableTransport{N: 2}
	opts.HTTPClient = &http.Client{Transport: u}
	opts.MaxAttempts = 3
	return opts, u
}

func TestS3TransientErrorsRetried(t *testing.T) {
	t.Parallel() // waits on retry back-off
	loc, opts := objstoretest.NewS3Bucket(t)
	opts, u := unavailableOpts(opts)
	objstoretest.TransientErrors(t, open(t, loc, opts), u)
}

func TestAzureTransientErrorsRetried(t *testing.T) {
	t.Parallel() // waits on retry back-off
	loc, opts := objstoretest.NewAzureContainer(t)
	opts, u := unavailableOpts(opts)
	objstoretest.TransientErrors(t, open(t, loc, opts), u)
}

func TestGCSEmulatorTransientErrorsRetried(t *testing.T) {
	t.Parallel() // waits on retry back-off
	_, loc, opts := objstoretest.StartGCSEmulator(t)
	opts, u := unavailableOpts(opts)
	objstoretest.TransientErrors(t, open(t, loc, opts), u)
}
