package deltaops

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

func TestVacuum(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := objstore.NewLocal(dir)
	require.NoError(t, err)
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	tbl, err := delta.Create(ctx, store, delta.CreateOptions{Schema: mustSchema(t, baseSchema)}, delta.TableOptions{CheckpointInterval: -1, Now: func() time.Time { return now }})
	require.NoError(t, err)

	put := func(key string, age time.Duration) {
		require.NoError(t, store.Put(ctx, key, []byte("x")))
		mtime := now.Add(-age)
		require.NoError(t, os.Chtimes(filepath.Join(dir, filepath.FromSlash(key)), mtime, mtime))
	}
	commit := func(tx *delta.Transaction) {
		_, err := tbl.Commit(ctx, tx)
		require.NoError(t, err)
	}
	put("live.parquet", 30*24*time.Hour)
	put("old-tomb.parquet", 30*24*time.Hour)
	put("new-tomb.parquet", 30*24*time.Hour)
	tx := tbl.NewTransaction()
	tx.Adds = []delta.Add{{Path: "live.parquet", Size: 1}, {Path: "old-tomb.parquet", Size: 1}, {Path: "new-tomb.parquet", Size: 1}}
	commit(tx)
	old := now.Add(-10 * 24 * time.Hour).UnixMilli()
	recent := now.Add(-time.Hour).UnixMilli()
	tx = tbl.NewTransaction()
	tx.Removes = []delta.Remove{{Path: "old-tomb.parquet", DeletionTimestamp: &old}, {Path: "new-tomb.parquet", DeletionTimestamp: &recent}}
	commit(tx)
	put("orphan-old.parquet", 8*24*time.Hour)
	put("d=x/orphan-old.parquet", 8*24*time.Hour)
	put("orphan-new.parquet", time.Hour)
	put("_staging/old.parquet", 30*24*time.Hour)
	put(".hidden.tmp", 30*24*time.Hour)
	put("_delta_log/00000000000000000099.crc", 30*24*time.Hour)

	_, err = Vacuum(ctx, tbl, VacuumOptions{Retention: time.Hour})
	assert.ErrorContains(t, err, "shorter")

	dry, err := Vacuum(ctx, tbl, VacuumOptions{DryRun: true})
	require.NoError(t, err)
	assert.True(t, dry.DryRun)
	want := []string{"d=x/orphan-old.parquet", "old-tomb.parquet", "orphan-old.parquet"}
	assert.Equal(t, want, dry.Files)
	for _, k := range want {
		_, err := store.Get(ctx, k)
		assert.NoError(t, err, "dry run deletes nothing")
	}
	light, err := delta.Open(ctx, store, delta.TableOptions{CheckpointInterval: -1, WithoutFiles: true, Now: func() time.Time { return now }})
	require.NoError(t, err)
	dry, err = Vacuum(ctx, light, VacuumOptions{DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, want, dry.Files, "same plan from a table without files in memory")

	res, err := Vacuum(ctx, tbl, VacuumOptions{})
	require.NoError(t, err)
	assert.Equal(t, want, res.Files)
	assert.Equal(t, int64(3), res.Bytes)
	for _, k := range want {
		_, err := store.Get(ctx, k)
		assert.Error(t, err, k)
	}
	for _, k := range []string{"live.parquet", "new-tomb.parquet", "orphan-new.parquet", "_staging/old.parquet", ".hidden.tmp", "_delta_log/00000000000000000099.crc", delta.CommitKey(0), delta.CommitKey(2)} {
		_, err := store.Get(ctx, k)
		assert.NoError(t, err, k)
	}

	// Short retention on request: the recent tombstone's file and the new orphan go too.
	res, err = Vacuum(ctx, tbl, VacuumOptions{Retention: time.Minute, AllowShortRetention: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"new-tomb.parquet", "orphan-new.parquet"}, res.Files)
}
