package objstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore/objstoretest"
)

// Without static keys the S3 store takes credentials (and the region) from
// the AWS default chain, here the environment.
func TestS3DefaultCredentialChain(t *testing.T) {
	loc, opts := objstoretest.NewS3Bucket(t)
	t.Setenv("AWS_ACCESS_KEY_ID", opts.S3.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", opts.S3.SecretAccessKey)
	t.Setenv("AWS_REGION", opts.S3.Region)
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	chainOpts := objstore.Options{S3: objstore.S3Options{Endpoint: opts.S3.Endpoint}}
	st := open(t, loc+"/chain", chainOpts)
	ctx := context.Background()
	if err := st.PutIfAbsent(ctx, "_delta_log/00000000000000000000.json", []byte("v0")); err != nil {
		t.Fatalf("PutIfAbsent with chain credentials: %v", err)
	}
	if err := st.PutIfAbsent(ctx, "_delta_log/00000000000000000000.json", []byte("v0'")); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("second PutIfAbsent: %v", err)
	}

	// Wrong keys are an error, not a false "exists" or "missing".
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
	bad := open(t, loc+"/chain", chainOpts)
	_, err := bad.Get(ctx, "_delta_log/00000000000000000000.json")
	if err == nil || errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Get with a wrong secret: got %v, want an authentication error", err)
	}
	err = bad.PutIfAbsent(ctx, "_delta_log/00000000000000000001.json", []byte("v1"))
	if err == nil || errors.Is(err, objstore.ErrExists) {
		t.Fatalf("PutIfAbsent with a wrong secret: got %v, want an authentication error", err)
	}
}
