package objstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	htransport "google.golang.org/api/transport/http"
)

// GCSOptions configures the Google Cloud Storage store.
type GCSOptions struct {
	// Endpoint overrides the JSON API URL, for an emulator such as
	// fake-gcs-server ("http://127.0.0.1:4443"). Without credentials the
	// requests to a custom endpoint are unauthenticated.
	Endpoint string
	// CredentialsJSON is the content of a credentials file (service
	// account, authorized user, impersonated or external account). When it
	// and CredentialsFile are empty, Application Default Credentials are used.
	CredentialsJSON string
	// CredentialsFile is the path of such a file.
	CredentialsFile string
}

// gcsChunkSize is the resumable-upload chunk of Create, which is also the
// buffer each streaming upload holds.
const gcsChunkSize = 8 << 20

// GCS is a Store in one bucket under a name prefix.
type GCS struct {
	client *storage.Client
	bucket *storage.BucketHandle
	name   string
	prefix string
	// maxAttempts bounds single-request uploads (see write), dialTimeout
	// with it the retries of one chunk of a streaming upload.
	maxAttempts int
	dialTimeout time.Duration
	// listPageSize overrides the server's page size (tests).
	listPageSize int32
}

var _ Store = (*GCS)(nil)

// NewGCS returns a store for bucket, rooted at prefix.
func NewGCS(ctx context.Context, bucket, prefix string, all Options) (*GCS, error) {
	opts := all.GCS
	if bucket == "" {
		return nil, errors.New("creating GCS store: empty bucket name")
	}
	clientOpts, err := gcsClientOptions(ctx, opts, all)
	if err != nil {
		return nil, fmt.Errorf("creating GCS store for bucket %q: %w", bucket, err)
	}
	client, err := storage.NewClient(ctx, clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("creating GCS store for bucket %q: %w", bucket, err)
	}
	// Retry every operation on transient errors, bounded: overwriting Put
	// (checkpoints) and Delete are safe to repeat, and conditional creates
	// are resolved by confirmOwnWrite.
	client.SetRetry(storage.WithPolicy(storage.RetryAlways), storage.WithMaxAttempts(all.maxAttempts()))
	return &GCS{
		client: client, bucket: client.Bucket(bucket), name: bucket, prefix: normalizePrefix(prefix),
		maxAttempts: all.maxAttempts(), dialTimeout: all.dialTimeout(),
	}, nil
}

func gcsClientOptions(ctx context.Context, opts GCSOptions, all Options) ([]option.ClientOption, error) {
	var out []option.ClientOption
	if opts.Endpoint != "" {
		out = append(out, option.WithEndpoint(strings.TrimSuffix(opts.Endpoint, "/")+"/storage/v1/"), storage.WithJSONReads())
	}
	var cred option.ClientOption
	switch {
	case opts.CredentialsJSON != "":
		c, err := gcsCredentials([]byte(opts.CredentialsJSON))
		if err != nil {
			return nil, fmt.Errorf("reading the credentials JSON: %w", err)
		}
		cred = c
	case opts.CredentialsFile != "":
		data, err := os.ReadFile(opts.CredentialsFile)
		if err != nil {
			return nil, fmt.Errorf("reading the credentials file: %w", err)
		}
		c, err := gcsCredentials(data)
		if err != nil {
			return nil, fmt.Errorf("reading the credentials file %s: %w", opts.CredentialsFile, err)
		}
		cred = c
	}
	if all.HTTPClient != nil {
		// A caller-supplied client is used as is (tests, emulators).
		return append(out, option.WithHTTPClient(all.HTTPClient)), nil
	}
	base := all.httpClient()
	if cred == nil && opts.Endpoint != "" {
		// An emulator: no authentication.
		return append(out, option.WithHTTPClient(base)), nil
	}
	// Authenticate on top of our transport, which bounds dialling and
	// waiting for headers.
	authOpts := []option.ClientOption{option.WithScopes(storage.ScopeFullControl)}
	if cred != nil {
		authOpts = append(authOpts, cred)
	}
	rt, err := htransport.NewTransport(ctx, base.Transport, authOpts...)
	if err != nil {
		return nil, fmt.Errorf("setting up authentication: %w", err)
	}
	return append(out, option.WithHTTPClient(&http.Client{Transport: rt})), nil
}

// gcsCredentials accepts the credential types a deployment configures by
// hand, read from the file's "type" field.
func gcsCredentials(data []byte) (option.ClientOption, error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, err
	}
	switch head.Type {
	case string(option.ServiceAccount), string(option.AuthorizedUser),
		string(option.ImpersonatedServiceAccount), string(option.ExternalAccount):
		return option.WithAuthCredentialsJSON(option.CredentialsType(head.Type), data), nil
	default:
		return nil, fmt.Errorf("unsupported credentials type %q", head.Type)
	}
}

// URL returns gs://bucket/prefix.
func (g *GCS) URL() string { return rootURL("gs://"+g.name, g.prefix) }

// Client exposes the underlying SDK client (for tests and set-up).
func (g *GCS) Client() *storage.Client { return g.client }

// Close releases the client's connections.
func (g *GCS) Close() error { return g.client.Close() }

func (g *GCS) describe(key string) string { return "gs://" + g.name + "/" + g.prefix + key }

func (g *GCS) object(key string) (*storage.ObjectHandle, error) {
	if err := validateKey(key); err != nil {
		return nil, err
	}
	return g.bucket.Object(g.prefix + key), nil
}

func mapGCSErr(key string, err error) error {
	if errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("%w: %s", ErrNotExist, key)
	}
	var apiErr *googleapi.Error
	if errors.As(err, &apiErr) && apiErr.Code == http.StatusPreconditionFailed {
		return fmt.Errorf("%w: %s", ErrExists, key)
	}
	return err
}

// Get reads a whole object.
func (g *GCS) Get(ctx context.Context, key string) ([]byte, error) {
	r, err := g.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", g.describe(key), err)
	}
	return data, nil
}

// Open streams an object.
func (g *GCS) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := g.object(key)
	if err != nil {
		return nil, err
	}
	r, err := obj.NewReader(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", g.describe(key), mapGCSErr(key, err))
	}
	return r, nil
}

// write uploads data in one request, optionally conditional. The chunk
// size is set just above the data size: the writer then buffers the whole
// object and sends it in one request that it can retry (ChunkSize 0 would
// disable retries).
func (g *GCS) write(ctx context.Context, obj *storage.ObjectHandle, data []byte) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Single-request uploads retry until the context ends; count attempts
	// so that an outage surfaces as an error like everywhere else.
	attempts := 1
	obj = obj.Retryer(storage.WithErrorFunc(func(err error) bool {
		attempts++
		return attempts <= g.maxAttempts && storage.ShouldRetry(err)
	}))
	w := obj.NewWriter(ctx)
	const quantum = 256 << 10 // the library rounds chunk sizes to this
	w.ChunkSize = (len(data)/quantum + 1) * quantum
	if _, err := w.Write(data); err != nil {
		cancel()
		_ = w.Close()
		return err
	}
	return w.Close()
}

// Put writes or replaces an object.
func (g *GCS) Put(ctx context.Context, key string, data []byte) error {
	obj, err := g.object(key)
	if err != nil {
		return err
	}
	if err := g.write(ctx, obj, data); err != nil {
		return fmt.Errorf("writing %s: %w", g.describe(key), mapGCSErr(key, err))
	}
	return nil
}

// PutIfAbsent creates an object with the precondition ifGenerationMatch=0,
// which the service enforces atomically (412 when the name is taken).
func (g *GCS) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	obj, err := g.object(key)
	if err != nil {
		return err
	}
	if err := g.write(ctx, obj.If(storage.Conditions{DoesNotExist: true}), data); err != nil {
		if err := confirmOwnWrite(ctx, g, key, data, mapGCSErr(key, err)); err != nil {
			return fmt.Errorf("creating %s: %w", g.describe(key), err)
		}
	}
	return nil
}

// Create streams an object with a resumable upload, finalised (made
// visible) on Close; Abort cancels the upload.
func (g *GCS) Create(ctx context.Context, key string) (Upload, error) {
	obj, err := g.object(key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	w := obj.NewWriter(ctx)
	w.ChunkSize = gcsChunkSize
	// Retries of one chunk stop after MaxAttempts dial timeouts, at most
	// the library's default of 32 s.
	w.ChunkRetryDeadline = min(32*time.Second, time.Duration(g.maxAttempts)*g.dialTimeout)
	return &gcsWriter{desc: g.describe(key), w: w, cancel: cancel}, nil
}

type gcsWriter struct {
	desc     string
	w        *storage.Writer
	cancel   context.CancelFunc
	finished bool
	result   error
}

func (w *gcsWriter) Write(p []byte) (int, error) {
	if w.finished {
		return 0, fmt.Errorf("writing %s: writer already closed", w.desc)
	}
	n, err := w.w.Write(p)
	if err != nil {
		return n, fmt.Errorf("writing %s: %w", w.desc, err)
	}
	return n, nil
}

func (w *gcsWriter) Close() error {
	if w.finished {
		return w.result
	}
	w.finished = true
	defer w.cancel()
	if err := w.w.Close(); err != nil {
		w.result = fmt.Errorf("uploading %s: %w", w.desc, err)
	}
	return w.result
}

func (w *gcsWriter) Abort() error {
	if w.finished {
		return nil
	}
	w.finished = true
	w.result = fmt.Errorf("writing %s: %w", w.desc, errAborted)
	// Cancelling the context before Close abandons the upload; the object
	// is never finalised.
	w.cancel()
	_ = w.w.Close()
	return nil
}

// List returns objects under prefix after startAfter, in key order.
func (g *GCS) List(ctx context.Context, prefix, startAfter string) ([]ObjectInfo, error) {
	q := &storage.Query{Prefix: g.prefix + prefix}
	if startAfter != "" {
		// StartOffset is inclusive; no key contains NUL, so this is the
		// first possible name after startAfter.
		q.StartOffset = g.prefix + startAfter + "\x00"
	}
	if err := q.SetAttrSelection([]string{"Name", "Size", "Updated"}); err != nil {
		return nil, fmt.Errorf("listing %s: %w", g.describe(prefix), err)
	}
	var out []ObjectInfo
	it := g.bucket.Objects(ctx, q)
	if g.listPageSize > 0 {
		it.PageInfo().MaxSize = int(g.listPageSize)
	}
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", g.describe(prefix), err)
		}
		out = append(out, ObjectInfo{Key: strings.TrimPrefix(attrs.Name, g.prefix), Size: attrs.Size, ModTime: attrs.Updated})
	}
	return out, nil
}

// Stat returns the size and modification time of an object.
func (g *GCS) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	obj, err := g.object(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	attrs, err := obj.Attrs(ctx)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stating %s: %w", g.describe(key), mapGCSErr(key, err))
	}
	return ObjectInfo{Key: key, Size: attrs.Size, ModTime: attrs.Updated}, nil
}

// Delete removes an object; a missing object is not an error.
func (g *GCS) Delete(ctx context.Context, key string) error {
	obj, err := g.object(key)
	if err != nil {
		return err
	}
	if err := obj.Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("deleting %s: %w", g.describe(key), err)
	}
	return nil
}
