package delta

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCleanupLogKeepsNewestExpiredCheckpoint(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clock := now.Add(-40 * 24 * time.Hour)
	store.now = func() time.Time { return clock }
	tbl := testCreate(t, store, nil, TableOptions{CheckpointInterval: -1, Now: func() time.Time { return now }})
	for i := 1; i <= 25; i++ {
		if i == 23 {
			clock = now.Add(-time.Hour)
		}
		tx := tbl.NewTransaction()
		tx.Adds = []Add{newAdd("")}
		tx.SetTxn("a", int64(i))
		_, err := tbl.Commit(ctx, tx)
		require.NoError(t, err)
		if i == 10 || i == 20 {
			_, err := tbl.Checkpoint(ctx, int64(i))
			require.NoError(t, err)
		}
	}
	want := tbl.Snapshot()

	dry, err := tbl.CleanupLog(ctx, CleanupOptions{DryRun: true})
	require.NoError(t, err)
	assert.Len(t, dry, 20+1, "commits 0..19 and checkpoint 10")
	assert.Len(t, store.keys(LogDir), 26+2+1)

	deleted, err := tbl.CleanupLog(ctx, CleanupOptions{})
	require.NoError(t, err)
	assert.Equal(t, dry, deleted)
	assert.Contains(t, deleted, CheckpointKey(10))
	assert.NotContains(t, deleted, CheckpointKey(20))
	assert.NotContains(t, deleted, CommitKey(20))
	got, err := Load(ctx, store)
	require.NoError(t, err)
	snapshotsEqual(t, want, got)
	_, err = LoadVersion(ctx, store, 21)
	require.NoError(t, err, "time travel after the kept checkpoint still works")

	// With a long retention nothing is expired.
	deleted, err = tbl.CleanupLog(ctx, CleanupOptions{Retention: 365 * 24 * time.Hour})
	require.NoError(t, err)
	assert.Empty(t, deleted)
}
