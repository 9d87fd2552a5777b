package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// S3Options configures the S3 (and S3-compatible, such as MinIO) store.
type S3Options struct {
	// Region of the bucket; defaults to the SDK's chain (AWS_REGION, shared
	// config), or "us-east-1" when Endpoint is set.
	Region string
	// Endpoint overrides the service URL for S3-compatible servers, for
	// example "http://127.0.0.1:19000" for MinIO. Setting it also selects
	// path-style addressing.
	Endpoint string
	// AccessKeyID, SecretAccessKey and SessionToken are static credentials;
	// when AccessKeyID is empty the SDK's default credential chain is used
	// (environment, shared files, web identity, container or instance role).
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// ForcePathStyle addresses buckets as <endpoint>/<bucket> rather than
	// <bucket>.<endpoint>.
	ForcePathStyle bool
}

// s3PartSize and s3UploadConcurrency bound the memory of one streaming
// upload to about PartSize*(Concurrency+1).
const (
	s3PartSize          = 8 << 20
	s3UploadConcurrency = 2
	// s3ConflictRetries bounds retries of 409 ConditionalRequestConflict,
	// which S3 returns when a conflicting conditional write is in flight.
	s3ConflictRetries = 10
)

// S3 is a Store in one bucket under a key prefix.
type S3 struct {
	client   *s3.Client
	uploader *manager.Uploader
	bucket   string
	prefix   string // "" or ends with "/"
	// listPageSize overrides the server's page size (tests).
	listPageSize int32
}

var _ Store = (*S3)(nil)

// NewS3 returns a store for bucket, rooted at prefix (may be empty).
func NewS3(ctx context.Context, bucket, prefix string, all Options) (*S3, error) {
	opts := all.S3
	if bucket == "" {
		return nil, errors.New("creating S3 store: empty bucket name")
	}
	loadOpts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = all.maxAttempts()
				// The client-side retry quota makes every request fail fast
				// for a while after an outage; the commit loop has its own
				// bounds, so retry each request on its own merits.
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if all.HTTPClient == nil {
		// Given to the loader (not to the client) so that AWS_CA_BUNDLE can
		// be added to its transport.
		loadOpts = append(loadOpts, config.WithHTTPClient(all.awsHTTPClient()))
	}
	region := opts.Region
	if region == "" && opts.Endpoint != "" {
		region = "us-east-1"
	}
	if region != "" {
		loadOpts = append(loadOpts, config.WithRegion(region))
	}
	if opts.AccessKeyID != "" {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(opts.AccessKeyID, opts.SecretAccessKey, opts.SessionToken)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("creating S3 store for bucket %q: loading AWS configuration: %w", bucket, err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("creating S3 store for bucket %q: no region configured (set the region option or AWS_REGION)", bucket)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = opts.ForcePathStyle || opts.Endpoint != ""
		if all.HTTPClient != nil {
			o.HTTPClient = all.HTTPClient
		}
	})
	return &S3{
		client: client,
		uploader: manager.NewUploader(client, func(u *manager.Uploader) {
			u.PartSize = s3PartSize
			u.Concurrency = s3UploadConcurrency
		}),
		bucket: bucket,
		prefix: normalizePrefix(prefix),
	}, nil
}

// normalizePrefix turns "a/b", "/a/b/" into "a/b/" and "" or "/" into "".
func normalizePrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// rootURL joins a bucket URL and a normalized prefix ("" or "a/b/").
func rootURL(bucketURL, prefix string) string {
	if prefix == "" {
		return bucketURL
	}
	return bucketURL + "/" + strings.TrimSuffix(prefix, "/")
}

// URL returns s3://bucket/prefix.
func (s *S3) URL() string { return rootURL("s3://"+s.bucket, s.prefix) }

// Client exposes the underlying SDK client (for tests and bucket setup).
func (s *S3) Client() *s3.Client { return s.client }

func (s *S3) full(key string) (string, error) {
	if err := validateKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

// mapS3Err turns a missing key into ErrNotExist and an unmet
// If-None-Match into ErrExists; a missing bucket stays a plain error.
func mapS3Err(key string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return fmt.Errorf("%w: %s", ErrNotExist, key)
		case "PreconditionFailed":
			return fmt.Errorf("%w: %s", ErrExists, key)
		case "NoSuchBucket":
			return err
		}
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		switch respErr.HTTPStatusCode() {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %s", ErrNotExist, key)
		case http.StatusPreconditionFailed:
			return fmt.Errorf("%w: %s", ErrExists, key)
		}
	}
	return err
}

func isS3ConditionalConflict(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "ConditionalRequestConflict" {
		return true
	}
	var respErr *awshttp.ResponseError
	return errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusConflict
}

// Get reads a whole object.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	r, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	return data, nil
}

// Open streams an object.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	k, err := s.full(key)
	if err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.describe(key), mapS3Err(key, err))
	}
	return out.Body, nil
}

func (s *S3) describe(key string) string { return "s3://" + s.bucket + "/" + s.prefix + key }

// Put writes or replaces an object.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	k, err := s.full(key)
	if err != nil {
		return err
	}
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: &k, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		return fmt.Errorf("writing %s: %w", s.describe(key), mapS3Err(key, err))
	}
	return nil
}

// PutIfAbsent creates an object with If-None-Match: *; S3 answers 412 when
// the key exists and 409 while a concurrent conditional write to the same
// key is in flight, after which a retry settles who won.
func (s *S3) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	k, err := s.full(key)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &s.bucket, Key: &k, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
			IfNoneMatch: aws.String("*"),
		})
		if err == nil {
			return nil
		}
		if !isS3ConditionalConflict(err) || attempt >= s3ConflictRetries {
			if err := confirmOwnWrite(ctx, s, key, data, mapS3Err(key, err)); err != nil {
				return fmt.Errorf("creating %s: %w", s.describe(key), err)
			}
			return nil
		}
		if err := sleepJitter(ctx, attempt); err != nil {
			return fmt.Errorf("creating %s: %w", s.describe(key), err)
		}
	}
}

// sleepJitter waits a jittered, growing delay (10 ms .. ~1 s) or until ctx ends.
func sleepJitter(ctx context.Context, attempt int) error {
	base := 10 * time.Millisecond << min(attempt, 6)
	d := base/2 + rand.N(base)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Create streams an object with a multipart upload (a single PutObject when
// it is smaller than one part). ctx governs the whole upload.
func (s *S3) Create(ctx context.Context, key string) (Upload, error) {
	k, err := s.full(key)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	w := &pipeWriter{desc: s.describe(key), pw: pw, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		_, err := s.uploader.Upload(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &k, Body: pr})
		// Unblock a writer still in Write if the upload stopped early.
		_ = pr.CloseWithError(errUploadEnded(err))
		w.uploadErr = err
	}()
	return w, nil
}

// List returns objects under prefix after startAfter, in key order, paging
// through ListObjectsV2.
func (s *S3) List(ctx context.Context, prefix, startAfter string) ([]ObjectInfo, error) {
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix)}
	if startAfter != "" {
		in.StartAfter = aws.String(s.prefix + startAfter)
	}
	var out []ObjectInfo
	if s.listPageSize > 0 {
		in.MaxKeys = aws.Int32(s.listPageSize)
	}
	pages := s3.NewListObjectsV2Paginator(s.client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", s.describe(prefix), err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			out = append(out, ObjectInfo{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	return out, nil
}

// Stat returns the size and modification time of an object.
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	k, err := s.full(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stating %s: %w", s.describe(key), mapS3Err(key, err))
	}
	return ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// Delete removes an object; S3 deletes are idempotent.
func (s *S3) Delete(ctx context.Context, key string) error {
	k, err := s.full(key)
	if err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &k}); err != nil {
		if errors.Is(mapS3Err(key, err), ErrNotExist) {
			return nil
		}
		return fmt.Errorf("deleting %s: %w", s.describe(key), err)
	}
	return nil
}

// awsHTTPClient bounds connection set-up and waiting for response headers,
// so an unreachable or stalled server surfaces as a (retried) error rather
// than a hang.
func (c Options) awsHTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = c.dialTimeout() }).
		WithTransportOptions(func(t *http.Transport) {
			t.ResponseHeaderTimeout = c.responseTimeout()
			t.TLSHandshakeTimeout = c.dialTimeout()
		})
}
