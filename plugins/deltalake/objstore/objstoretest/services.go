package objstoretest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/google/uuid"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"

	"github.com/danube-connect/danube-connect/internal/testnet"
)

// ServicesHint tells how to get the shared test services.
const ServicesHint = "start the test services with `make services` (resources/scripts/services.sh up)"

// Env returns a test-service variable (DC_S3_ENDPOINT, DC_AZURE_KEY, ...).
// It is taken from the environment, else from the services.env file that
// services.sh writes; when neither has it the test fails with ServicesHint.
func Env(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if v := servicesFileVars()[name]; v != "" {
		return v
	}
	t.Fatalf("%s is not set: %s", name, ServicesHint)
	return ""
}

// ServicesEnvFile is where services.sh writes the variables.
func ServicesEnvFile() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "danube-connect", "services.env")
}

func servicesFileVars() map[string]string {
	vars := map[string]string{}
	f, err := os.Open(ServicesEnvFile())
	if err != nil {
		return vars
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "))
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			vars[k] = strings.Trim(v, `"'`)
		}
	}
	return vars
}

// requireReachable fails the test when nothing listens at endpoint.
func requireReachable(t testing.TB, what, endpoint string) {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatalf("%s endpoint %q: %v", what, endpoint, err)
	}
	c, err := net.DialTimeout("tcp", u.Host, 3*time.Second)
	if err != nil {
		t.Fatalf("%s is not reachable at %s (%v): %s", what, endpoint, err, ServicesHint)
	}
	_ = c.Close()
}

// S3Options returns options for the shared MinIO server.
func S3Options(t testing.TB) objstore.Options {
	t.Helper()
	o := objstore.Options{S3: objstore.S3Options{
		Endpoint:        Env(t, "DC_S3_ENDPOINT"),
		AccessKeyID:     Env(t, "DC_S3_ACCESS_KEY_ID"),
		SecretAccessKey: Env(t, "DC_S3_SECRET_ACCESS_KEY"),
		Region:          Env(t, "DC_S3_REGION"),
		ForcePathStyle:  true,
	}}
	requireReachable(t, "MinIO", o.S3.Endpoint)
	return o
}

// uniqueName is a bucket/container name valid on S3, Azure and GCS.
func uniqueName() string {
	return "dc-test-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:20]
}

// NewS3Bucket creates an empty bucket on the shared MinIO server and
// returns its s3:// URL with the options to reach it. The bucket and its
// objects are removed when the test ends.
func NewS3Bucket(t testing.TB) (string, objstore.Options) {
	t.Helper()
	opts := S3Options(t)
	bucket := uniqueName()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := objstore.NewS3(ctx, bucket, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("creating bucket %s on MinIO at %s: %v", bucket, opts.S3.Endpoint, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		emptyStore(t, ctx, st)
		if _, err := st.Client().DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Logf("removing bucket %s: %v", bucket, err)
		}
	})
	return "s3://" + bucket, opts
}

// AzureOptions returns options for the shared Azurite server.
func AzureOptions(t testing.TB) objstore.Options {
	t.Helper()
	o := objstore.Options{Azure: objstore.AzureOptions{
		Endpoint: Env(t, "DC_AZURE_ENDPOINT"),
		Account:  Env(t, "DC_AZURE_ACCOUNT"),
		Key:      Env(t, "DC_AZURE_KEY"),
	}}
	requireReachable(t, "Azurite", o.Azure.Endpoint)
	return o
}

// NewAzureContainer creates an empty container on the shared Azurite server
// and returns its az:// URL with the options to reach it. The container is
// deleted when the test ends.
func NewAzureContainer(t testing.TB) (string, objstore.Options) {
	t.Helper()
	opts := AzureOptions(t)
	name := uniqueName()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := objstore.NewAzure(ctx, name, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().Create(ctx, nil); err != nil {
		t.Fatalf("creating container %s on Azurite at %s: %v", name, opts.Azure.Endpoint, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := st.Client().Delete(ctx, nil); err != nil {
			t.Logf("removing container %s: %v", name, err)
		}
	})
	return "az://" + name, opts
}

// GCSEmulator is an in-process fake-gcs-server (an emulator of the GCS
// JSON API, not Google Cloud Storage itself).
type GCSEmulator struct {
	Server *fakestorage.Server
	// Proxy sits in front of the emulator; Options point at it, so tests
	// can cut or stall the connection.
	Proxy *Proxy
}

// StartGCSEmulator starts an emulator in memory with one empty bucket and
// returns it with the gs:// URL of the bucket and the options to reach it
// (through the emulator's Proxy). It stops when the test ends.
func StartGCSEmulator(t testing.TB) (*GCSEmulator, string, objstore.Options) {
	t.Helper()
	proxy := NewProxy(t, "")
	// The emulator reports ExternalURL as its own URL, so pick its port here
	// to know where the proxy must forward. The port is free when picked but
	// may be taken before the emulator binds it: pick again then.
	var (
		srv  *fakestorage.Server
		port uint16
		err  error
	)
	for attempt := 0; attempt < 10; attempt++ {
		port = uint16(testnet.FreePort(t))
		srv, err = fakestorage.NewServerWithOptions(fakestorage.Options{
			Scheme:      "http",
			Host:        "127.0.0.1",
			Port:        port,
			ExternalURL: proxy.URL(), // resumable-upload Location headers point at the proxy too
		})
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	if err != nil {
		t.Fatalf("starting the fake-gcs-server emulator: %v", err)
	}
	t.Cleanup(srv.Stop)
	proxy.SetTarget(fmt.Sprintf("127.0.0.1:%d", port))
	bucket := uniqueName()
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	return &GCSEmulator{Server: srv, Proxy: proxy}, "gs://" + bucket, objstore.Options{GCS: objstore.GCSOptions{Endpoint: proxy.URL()}}
}

// emptyStore deletes every object of a store (best effort, for clean-up).
func emptyStore(t testing.TB, ctx context.Context, st objstore.Store) {
	objs, err := st.List(ctx, "", "")
	if err != nil {
		t.Logf("emptying %s: %v", st.URL(), err)
		return
	}
	for _, o := range objs {
		if err := st.Delete(ctx, o.Key); err != nil && !errors.Is(err, objstore.ErrNotExist) {
			t.Logf("emptying %s: %v", st.URL(), err)
			return
		}
	}
}

// Prefixed returns a NewStoreFunc that opens location (for example from
// NewS3Bucket) with a fresh random prefix per sub-test, so sub-tests share
// one bucket without seeing each other's objects.
func Prefixed(location string, opts objstore.Options) NewStoreFunc {
	return func(t *testing.T) objstore.Store {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		loc := strings.TrimSuffix(location, "/") + "/" + fmt.Sprintf("t-%s", uuid.NewString()[:8]) + "/table"
		st, err := objstore.Open(ctx, loc, opts)
		if err != nil {
			t.Fatalf("opening %s: %v", loc, err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			emptyStore(t, ctx, st)
		})
		return st
	}
}
