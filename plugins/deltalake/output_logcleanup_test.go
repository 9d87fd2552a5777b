package deltalake

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// A writer that sat idle while another one committed, checkpointed and
// cleaned up the log past this writer's version reloads the table and
// commits where readers see it, instead of into a cleaned-up slot.
func TestWriterBehindLogCleanupReloadsAndCommitsVisibly(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 20ms\ncheckpoint_interval: 0\n", dir))
	require.NoError(t, out.WriteBatch(ctx, service.MessageBatch{msg(`{"id":0}`)})) // version 1

	// Another writer, 40 days later: 12 commits, a checkpoint at 10, and
	// a log cleanup that deletes versions 0-9, this writer's among them.
	store, err := objstore.Open(ctx, dir, objstore.Options{})
	require.NoError(t, err)
	later := func() time.Time { return time.Now().Add(40 * 24 * time.Hour) }
	other, err := delta.Open(ctx, store, delta.TableOptions{CheckpointInterval: -1, Now: later})
	require.NoError(t, err)
	for i := 1; i <= 12; i++ {
		_, err := other.Commit(ctx, other.NewTransaction())
		require.NoError(t, err)
	}
	_, err = other.Checkpoint(ctx, 10)
	require.NoError(t, err)
	deleted, err := other.CleanupLog(ctx, delta.CleanupOptions{})
	require.NoError(t, err)
	require.Contains(t, deleted, delta.CommitKey(2), "the slot after this writer's version is cleaned up")
	require.NoError(t, other.Close(ctx))

	require.NoError(t, out.WriteBatch(ctx, service.MessageBatch{msg(`{"id":1}`)}))
	require.NoError(t, out.Close(ctx))
	snap, rows := tableRows(t, dir)
	assert.Equal(t, []int64{0, 1}, ids(t, rows), "both rows are visible")
	assert.EqualValues(t, 14, snap.Version(), "after the other writer's versions 2-13")
}
