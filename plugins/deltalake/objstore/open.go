package objstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Options holds the per-cloud settings Open needs, plus transport tuning
// shared by every cloud store. The zero value is usable: credentials then
// come from each SDK's default chain.
type Options struct {
	S3    S3Options
	Azure AzureOptions
	GCS   GCSOptions

	// HTTPClient, when set, carries every cloud request instead of the
	// default client (tests use it to inject faults). The default client
	// bounds dialling and waiting for response headers.
	HTTPClient *http.Client
	// MaxAttempts bounds attempts per request, retries of transient errors
	// (5xx, throttling, timeouts, connection resets) included. Default 5.
	MaxAttempts int
	// DialTimeout bounds connection and TLS set-up. Default 10 s.
	DialTimeout time.Duration
	// ResponseTimeout bounds the wait for response headers once a request
	// has been sent. Default 60 s.
	ResponseTimeout time.Duration
}

func (o Options) maxAttempts() int {
	if o.MaxAttempts > 0 {
		return o.MaxAttempts
	}
	return 5
}

func (o Options) dialTimeout() time.Duration {
	if o.DialTimeout > 0 {
		return o.DialTimeout
	}
	return 10 * time.Second
}

func (o Options) responseTimeout() time.Duration {
	if o.ResponseTimeout > 0 {
		return o.ResponseTimeout
	}
	return 60 * time.Second
}

// httpClient is the client for the Azure and GCS SDKs.
func (o Options) httpClient() *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: o.dialTimeout(), KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = o.dialTimeout()
	t.ResponseHeaderTimeout = o.responseTimeout()
	t.MaxIdleConnsPerHost = 32
	return &http.Client{Transport: t}
}

// Open returns the store for a table location:
//
//	/path/to/table, ./rel, file:///path/to/table    local disk
//	s3://bucket/prefix (also s3a://)                Amazon S3 or S3-compatible (S3 options)
//	az://container/prefix                           Azure Blob Storage (Azure options; account required)
//	abfs[s]://container@account.dfs.core.windows.net/prefix
//	gs://bucket/prefix                              Google Cloud Storage (GCS options)
func Open(ctx context.Context, location string, opts Options) (Store, error) {
	if location == "" {
		return nil, errors.New("opening store: empty location")
	}
	scheme, _, ok := strings.Cut(location, "://")
	if !ok {
		return NewLocal(location)
	}
	u, err := url.Parse(location)
	if err != nil {
		return nil, fmt.Errorf("opening store %q: %w", location, err)
	}
	prefix := strings.Trim(u.Path, "/")
	switch strings.ToLower(scheme) {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("opening store %q: file URLs must not name a host", location)
		}
		if u.Path == "" {
			return nil, fmt.Errorf("opening store %q: empty path", location)
		}
		return NewLocal(u.Path)
	case "s3", "s3a":
		return NewS3(ctx, u.Host, prefix, opts)
	case "az", "azure":
		return NewAzure(ctx, u.Host, prefix, opts)
	case "abfs", "abfss":
		// url.Parse reads "container@account.dfs.core.windows.net" as user info and host.
		if u.User == nil || u.User.Username() == "" {
			return nil, fmt.Errorf("opening store %q: abfs URLs have the form abfss://container@account.dfs.core.windows.net/path", location)
		}
		if opts.Azure.Account == "" {
			account, _, _ := strings.Cut(u.Host, ".")
			opts.Azure.Account = account
		}
		return NewAzure(ctx, u.User.Username(), prefix, opts)
	case "gs", "gcs":
		return NewGCS(ctx, u.Host, prefix, opts)
	default:
		return nil, fmt.Errorf("opening store %q: unsupported scheme %q (want a path, file://, s3://, az://, abfss:// or gs://)", location, scheme)
	}
}
