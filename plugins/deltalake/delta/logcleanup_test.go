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

// A table with LogCleanupInterval cleans up expired log files after its
// background checkpoints, at most once per interval, and never when the table
// sets delta.enableExpiredLogCleanup to false.
func TestBackgroundCheckpointCleansUpExpiredLog(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	old := func() time.Time { return now.Add(-40 * 24 * time.Hour) }

	store := newMemStore()
	store.now = old // every log file is older than the 30-day retention
	cleanups := make(chan []string, 8)
	opts := TableOptions{CheckpointInterval: 10, LogCleanupInterval: time.Hour, Now: func() time.Time { return now },
		OnLogCleanup: func(deleted []string, err error) {
			if err != nil {
				t.Errorf("log cleanup: %v", err)
			}
			cleanups <- deleted
		}}
	tbl := testCreate(t, store, nil, opts)
	appendN(t, tbl, "a", 10) // version 10: checkpoint, then cleanup
	select {
	case deleted := <-cleanups:
		assert.Len(t, deleted, 10, "commits 0..9")
		assert.Contains(t, deleted, CommitKey(0))
		assert.NotContains(t, deleted, CommitKey(10))
	case <-time.After(10 * time.Second):
		t.Fatal("no log cleanup after the background checkpoint")
	}
	want := tbl.Snapshot()
	got, err := Load(ctx, store)
	require.NoError(t, err)
	snapshotsEqual(t, want, got)

	// The next checkpoint comes within the hour: no second cleanup.
	appendN(t, tbl, "b", 10)
	require.NoError(t, tbl.Close(ctx))
	assert.Empty(t, cleanups)
	_, err = store.Get(ctx, CommitKey(10))
	require.NoError(t, err, "commit 10 is kept until the next cleanup")

	// A table that opts out keeps its log.
	store2 := newMemStore()
	store2.now = old
	tbl2, err := Create(ctx, store2, CreateOptions{Schema: mustSchema(t, baseSchema),
		Configuration: map[string]string{ConfigEnableExpiredLogCleanup: "false"}}, opts)
	require.NoError(t, err)
	appendN(t, tbl2, "a", 10)
	require.NoError(t, tbl2.Close(ctx))
	assert.Empty(t, cleanups)
	_, err = store2.Get(ctx, CommitKey(0))
	require.NoError(t, err)
}

// A writer idle for longer than the log retention while another one committed
// and cleaned up must not take its next version for free: that slot was
// cleaned up and no reader would see a commit there. Its refresh fails with
// ErrBehindLogCleanup, and a reopened table commits visibly.
func TestStaleWriterBehindLogCleanupRefusesToCommit(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	store := newMemStore()
	store.now = func() time.Time { return now.Add(-40 * 24 * time.Hour) }
	opts := TableOptions{CheckpointInterval: -1, Now: func() time.Time { return now }}
	b := testCreate(t, store, nil, opts)
	a, err := Open(ctx, store, opts) // the idle writer, at version 0
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close(ctx) })
	appendN(t, b, "b", 12)
	_, err = b.Checkpoint(ctx, 10)
	require.NoError(t, err)
	deleted, err := b.CleanupLog(ctx, CleanupOptions{})
	require.NoError(t, err)
	require.Contains(t, deleted, CommitKey(1))
	require.Contains(t, deleted, CommitKey(0))

	// Writers refresh before committing (the delta_lake output does).
	_, err = a.Update(ctx)
	require.ErrorIs(t, err, ErrBehindLogCleanup)
	_, err = store.Get(ctx, CommitKey(1))
	require.Error(t, err, "nothing was written into the cleaned-up slot")

	reopened, err := Open(ctx, store, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = reopened.Close(ctx) })
	tx := reopened.NewTransaction()
	add := newAdd("")
	tx.Adds = []Add{add}
	res, err := reopened.Commit(ctx, tx)
	require.NoError(t, err)
	assert.EqualValues(t, 13, res.Version)
	snap, err := Load(ctx, store)
	require.NoError(t, err)
	found := false
	for _, f := range snap.Files() {
		found = found || f.Path == add.Path
	}
	assert.True(t, found)
}

// MinLogRetention keeps log files that a short delta.logRetentionDuration
// would let the background cleanup delete.
func TestBackgroundLogCleanupHonoursMinLogRetention(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		floor       time.Duration
		wantDeleted bool
	}{{0, true}, {7 * 24 * time.Hour, false}} {
		store := newMemStore()
		store.now = func() time.Time { return now.Add(-5 * 24 * time.Hour) } // files 5 days old
		cleanups := make(chan []string, 4)
		tbl, err := Create(ctx, store, CreateOptions{Schema: mustSchema(t, baseSchema),
			Configuration: map[string]string{ConfigLogRetention: "interval 1 days"}},
			TableOptions{CheckpointInterval: 10, LogCleanupInterval: time.Hour, MinLogRetention: tc.floor,
				Now: func() time.Time { return now },
				OnLogCleanup: func(deleted []string, err error) {
					if err != nil {
						t.Errorf("log cleanup: %v", err)
					}
					cleanups <- deleted
				}})
		require.NoError(t, err)
		appendN(t, tbl, "a", 10)
		require.NoError(t, tbl.Close(ctx))
		require.Len(t, cleanups, 1, "floor %v", tc.floor)
		deleted := <-cleanups
		assert.Equal(t, tc.wantDeleted, len(deleted) > 0, "floor %v deleted %v", tc.floor, deleted)
	}
}
