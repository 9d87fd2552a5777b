package delta

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
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
