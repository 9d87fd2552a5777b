package deltalake

import (
	"context"
	"strings"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// storeOptions maps the storage fields onto the object-store options.
func (c storageConfig) storeOptions() objstore.Options {
	var opts objstore.Options
	opts.S3.Region = c.s3Region
	opts.S3.Endpoint = c.s3Endpoint
	opts.S3.AccessKeyID = c.s3AccessKeyID
	opts.S3.SecretAccessKey = c.s3SecretAccessKey
	opts.S3.SessionToken = c.s3SessionToken
	opts.S3.ForcePathStyle = c.s3ForcePathStyle
	opts.Azure.Account = c.azureAccount
	opts.Azure.Key = c.azureKey
	opts.Azure.Endpoint = c.azureEndpoint
	opts.Azure.SASToken = c.azureSASToken
	opts.GCS.Endpoint = c.gcsEndpoint
	opts.GCS.CredentialsJSON = c.gcsCredentialsJSON
	return opts
}

// openTableStore opens the store rooted at a table location. Cloud stores are
// probed once: an S3-compatible server that ignores If-None-Match would let
// two writers both commit one version, so such a store is refused up front.
func openTableStore(ctx context.Context, location string, c storageConfig) (objstore.Store, error) {
	store, err := objstore.Open(ctx, location, c.storeOptions())
	if err != nil {
		return nil, err
	}
	return store, verifyCloudStore(ctx, store)
}

// verifyCloudStore runs objstore.VerifyPutIfAbsent on every store but local
// disk, whose hard-link commit is atomic by construction.
func verifyCloudStore(ctx context.Context, store objstore.Store) error {
	if strings.HasPrefix(store.URL(), "file://") {
		return nil
	}
	return objstore.VerifyPutIfAbsent(ctx, store)
}
