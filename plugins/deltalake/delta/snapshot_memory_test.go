package delta

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// TestWithoutFilesStateDoesNotGrowWithCommits checks that an appender's
// table (WithoutFiles) keeps nothing per commit: after many commits its
// snapshot holds no files, tombstones or commit timestamps, and one txn
// per app id.
func TestWithoutFilesStateDoesNotGrowWithCommits(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	buildLog(t, store, 3)
	tbl, err := Open(ctx, store, TableOptions{WithoutFiles: true, CheckpointInterval: -1})
	require.NoError(t, err)
	appendN(t, tbl, "app-x", 200)

	tbl.mu.RLock()
	defer tbl.mu.RUnlock()
	s := tbl.snap
	require.EqualValues(t, 203, s.version)
	require.Empty(t, s.files)
	require.Empty(t, s.tombstones)
	require.Empty(t, s.commitTimestamps, "a timestamp per commit would grow without bound")
	require.Len(t, s.txns, 4, "app-0..2 from the log and app-x")
}

// listCountingStore counts List calls.
type listCountingStore struct {
	*memStore
	lists int
}

func (s *listCountingStore) List(ctx context.Context, prefix, startAfter string) ([]objstore.ObjectInfo, error) {
	s.lists++
	return s.memStore.List(ctx, prefix, startAfter)
}

// TestUpdateWithoutNewCommitsDoesNotList checks that refreshing a table
// that nobody else changed costs one read of the next version, not a
// listing of the log (which grows with every commit), and that commits of
// another writer are still all found, in order.
func TestUpdateWithoutNewCommitsDoesNotList(t *testing.T) {
	ctx := context.Background()
	mem := newMemStore()
	buildLog(t, mem, 20)
	store := &listCountingStore{memStore: mem}
	tbl, err := Open(ctx, store, TableOptions{WithoutFiles: true, CheckpointInterval: -1})
	require.NoError(t, err)
	store.lists = 0

	news, err := tbl.Update(ctx)
	require.NoError(t, err)
	require.Empty(t, news)
	require.Zero(t, store.lists, "an update without new commits listed the log")

	other, err := Open(ctx, mem, TableOptions{CheckpointInterval: -1})
	require.NoError(t, err)
	appendN(t, other, "other", 11)
	news, err = tbl.Update(ctx)
	require.NoError(t, err)
	require.Len(t, news, 11)
	for i, c := range news {
		require.EqualValues(t, 21+i, c.Version)
	}
	require.EqualValues(t, 31, tbl.Version())

	// Our own commit after the update lands on the next version.
	appendN(t, tbl, "ours", 1)
	require.EqualValues(t, 32, tbl.Version())
}

// TestCheckpointFromHintDoesNotList checks that an appender's checkpoint
// (WithoutFiles) starts from the checkpoint named by _last_checkpoint
// without listing the log, and that the result holds every file.
func TestCheckpointFromHintDoesNotList(t *testing.T) {
	ctx := context.Background()
	mem := newMemStore()
	buildLog(t, mem, 12)
	store := &listCountingStore{memStore: mem}
	tbl, err := Open(ctx, store, TableOptions{WithoutFiles: true, CheckpointInterval: -1})
	require.NoError(t, err)
	_, err = tbl.Checkpoint(ctx, 12) // no hint yet: lists and loads
	require.NoError(t, err)
	appendN(t, tbl, "tail", 5)

	store.lists = 0
	lc, err := tbl.Checkpoint(ctx, 17)
	require.NoError(t, err)
	require.Zero(t, store.lists, "the checkpoint listed the log although _last_checkpoint names the previous one")
	require.EqualValues(t, 17, lc.Version)
	require.EqualValues(t, 17, lc.NumOfAddFiles)

	snap, err := Load(ctx, mem)
	require.NoError(t, err)
	require.EqualValues(t, 17, snap.Version())
	require.Equal(t, 17, snap.NumFiles())

	// A commit missing after the hinted checkpoint is still an error.
	appendN(t, tbl, "more", 2)
	require.NoError(t, mem.Delete(ctx, CommitKey(18)))
	_, err = checkpointFromLog(ctx, store, 19, CheckpointOptions{})
	require.ErrorIs(t, err, objstore.ErrNotExist)
}

// TestLargeCheckpointIsSpooledNotHeld checks that a checkpoint read from a
// store without random access (cloud stores) is spooled to a temporary
// file above randomAccessMemoryBytes, reads back completely, and that the
// file is removed afterwards.
func TestLargeCheckpointIsSpooledNotHeld(t *testing.T) {
	ctx := context.Background()
	mem := newMemStore() // Open returns a plain stream, as the cloud stores do
	tbl := buildLog(t, mem, 40)
	_, err := tbl.Checkpoint(ctx, 40)
	require.NoError(t, err)
	data, err := mem.Get(ctx, CheckpointKey(40))
	require.NoError(t, err)

	spool := t.TempDir()
	t.Setenv("TMPDIR", spool)
	old := randomAccessMemoryBytes
	randomAccessMemoryBytes = int64(len(data)) / 4
	t.Cleanup(func() { randomAccessMemoryBytes = old })

	src, done, err := openRandomAccess(ctx, mem, CheckpointKey(40))
	require.NoError(t, err)
	_, isFile := src.(*os.File)
	require.True(t, isFile, "a checkpoint above the limit must be spooled")
	entries, err := os.ReadDir(spool)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	done()
	entries, err = os.ReadDir(spool)
	require.NoError(t, err)
	require.Empty(t, entries, "the spool file is removed")

	snap, err := Load(ctx, mem)
	require.NoError(t, err)
	require.EqualValues(t, 40, snap.Version())
	require.Equal(t, 40, snap.NumFiles())
	entries, err = os.ReadDir(spool)
	require.NoError(t, err)
	require.Empty(t, entries)
}
