package deltalake

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

func TestWriteBatchCommitsRows(t *testing.T) {
	dir := t.TempDir()
	out := newTestOutput(t, fmt.Sprintf(`
path: %s
flush_period: 20ms
`, dir))
	ctx := context.Background()
	var batch service.MessageBatch
	for i := 0; i < 100; i++ {
		batch = append(batch, msg(fmt.Sprintf(`{"id":%d,"name":"n%d","user":{"age":%d}}`, i, i, i%7)))
	}
	require.NoError(t, out.WriteBatch(ctx, batch))
	require.NoError(t, out.Close(ctx))
	snap, rows := tableRows(t, dir)
	assert.Equal(t, seq(0, 99), ids(t, rows))
	assert.Equal(t, int64(1), snap.Version())
	assert.Equal(t, []int64{0, 1}, commitVersions(t, dir))
}

func TestDeltaRSReadsOurTable(t *testing.T) {
	dir := t.TempDir()
	out := newTestOutput(t, fmt.Sprintf(`
path: %s
flush_period: 20ms
partition_by: [ country ]
metadata_columns:
  topic: src_topic
  offset: src_offset
`, dir))
	ctx := context.Background()
	var batch service.MessageBatch
	countries := []string{"FR", "a/b", "b b", "", "é=%"}
	for i := 0; i < 50; i++ {
		batch = append(batch, danubeMsg(fmt.Sprintf(`{"id":%d,"name":"n%d","country":%q,"user":{"age":%d}}`, i, i, countries[i%len(countries)], i%7), "/default/t-part-0", uint64(i)))
	}
	require.NoError(t, out.WriteBatch(ctx, batch))
	require.NoError(t, out.Close(ctx))
	res := deltaRS(t, "read", dir, "--rows", "--sort", "id", "--app", "danube-connect/"+out.w.WriterID()+"/default/t-part-0")
	assert.EqualValues(t, "1", fmt.Sprint(res["version"]))
	assert.EqualValues(t, "50", fmt.Sprint(res["num_rows"]))
	assert.Equal(t, []any{"country"}, res["partition_columns"])
	txn := res["txn"].(map[string]any)
	assert.Equal(t, "49", fmt.Sprint(txn["danube-connect/"+out.w.WriterID()+"/default/t-part-0"]))
	rows := res["rows"].([]any)
	for i, r := range rows {
		row := r.(map[string]any)
		assert.Equal(t, fmt.Sprint(i), fmt.Sprint(row["id"]))
		want := countries[i%len(countries)]
		if want == "" {
			assert.Nil(t, row["country"], "row %d", i)
		} else {
			assert.Equal(t, want, row["country"], "row %d", i)
		}
		assert.Equal(t, "/default/t-part-0", row["src_topic"])
		assert.Equal(t, fmt.Sprint(i), fmt.Sprint(row["src_offset"]))
	}
	hist := res["history"].([]any)
	require.Len(t, hist, 2)
	assert.Equal(t, "STREAMING UPDATE", hist[0].(map[string]any)["operation"])
	assert.Equal(t, "CREATE TABLE", hist[1].(map[string]any)["operation"])
}

func TestScheduledOptimizeAndVacuum(t *testing.T) {
	dir := t.TempDir()
	out := newTestOutput(t, fmt.Sprintf(`
path: %s
flush_period: 5ms
optimize: { enabled: true, interval: 50ms, min_files: 2 }
vacuum: { enabled: true, interval: 50ms, retention: 1s }
`, dir))
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		require.NoError(t, out.WriteBatch(ctx, service.MessageBatch{msg(fmt.Sprintf(`{"id":%d}`, i))}))
	}
	// Poll until an OPTIMIZE commit appears and the compacted files are gone.
	deadline := time.Now().Add(20 * time.Second)
	store, err := objstore.Open(ctx, dir, objstore.Options{})
	require.NoError(t, err)
	for {
		snap, err := delta.Load(ctx, store)
		require.NoError(t, err)
		parquet, _ := filepath.Glob(filepath.Join(dir, "*.parquet"))
		if snap.NumFiles() == 1 && len(parquet) == 1 {
			break
		}
		require.True(t, time.Now().Before(deadline), "no compaction: %d live files, %d parquet files on disk", snap.NumFiles(), len(parquet))
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, out.Close(ctx))
	_, rows := tableRows(t, dir)
	assert.Equal(t, seq(0, 5), ids(t, rows))
	var sawOptimize bool
	for _, v := range commitVersions(t, dir) {
		for _, a := range readCommitJSON(t, dir, v) {
			if ci, ok := a["commitInfo"]; ok && ci["operation"] == "OPTIMIZE" {
				sawOptimize = true
			}
		}
	}
	assert.True(t, sawOptimize)
}
