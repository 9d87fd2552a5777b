package deltalake

import (
	"context"

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

// openTableStore opens the store rooted at a table location.
func openTableStore(ctx context.Context, location string, c storageConfig) (objstore.Store, error) {
	return objstore.Open(ctx, location, c.storeOptions())
}
