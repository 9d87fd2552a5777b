package deltalake

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// ignoringConditionsStore stands for an S3-compatible server that silently
// overwrites on a conditional create; its URL is not a local path.
type ignoringConditionsStore struct{ objstore.Store }

func (s ignoringConditionsStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return s.Put(ctx, key, data)
}

func (ignoringConditionsStore) URL() string { return "s3://bucket/table" }

type cloudURLStore struct{ objstore.Store }

func (cloudURLStore) URL() string { return "s3://bucket/table" }

func TestCloudStoresAreProbedForPutIfAbsent(t *testing.T) {
	ctx := context.Background()
	local, err := objstore.NewLocal(t.TempDir())
	require.NoError(t, err)

	require.NoError(t, verifyCloudStore(ctx, local), "local disk is not probed")
	require.NoError(t, verifyCloudStore(ctx, cloudURLStore{local}), "a store enforcing the condition passes")

	err = verifyCloudStore(ctx, ignoringConditionsStore{local})
	require.True(t, errors.Is(err, objstore.ErrNoAtomicCreate), "got %v", err)

	objs, err := local.List(ctx, "", "")
	require.NoError(t, err)
	require.Empty(t, objs, "probe objects are deleted")
}
