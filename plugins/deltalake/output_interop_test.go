package deltalake

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeJSONL(t *testing.T, from, to int) string {
	t.Helper()
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "{\"id\":%d,\"name\":\"rs%d\",\"kind\":\"k%d\"}\n", i, i, i%2)
	}
	path := filepath.Join(t.TempDir(), "rows.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

func writeIDs(t *testing.T, out *deltaLakeOutput, from, to int) {
	t.Helper()
	var b service.MessageBatch
	for i := from; i < to; i++ {
		b = append(b, msg(fmt.Sprintf(`{"id":%d,"name":"go%d","kind":"k%d"}`, i, i, i%2)))
	}
	require.NoError(t, out.WriteBatch(context.Background(), b))
}

// TestInteropWeAppendToDeltaRSTable: delta-rs creates a partitioned table
// (and a checkpoint), we append, delta-rs appends again, and both readers
// see every row with a contiguous history.
func TestInteropWeAppendToDeltaRSTable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "table")
	deltaRS(t, "append", dir, writeJSONL(t, 0, 10), "--partition-by", "kind")
	deltaRS(t, "checkpoint", dir)

	out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 5ms\npartition_by: [ kind ]\n", dir))
	writeIDs(t, out, 10, 20)
	require.NoError(t, out.Close(context.Background()))

	deltaRS(t, "append", dir, writeJSONL(t, 20, 30))
	res := deltaRS(t, "read", dir, "--rows", "--sort", "id")
	assert.Equal(t, "30", fmt.Sprint(res["num_rows"]))
	assert.Equal(t, "2", fmt.Sprint(res["version"]))
	rows := res["rows"].([]any)
	for i, r := range rows {
		row := r.(map[string]any)
		assert.Equal(t, fmt.Sprint(i), fmt.Sprint(row["id"]))
		assert.Equal(t, fmt.Sprintf("k%d", i%2), row["kind"])
	}
	ops := []string{}
	for _, h := range res["history"].([]any) {
		ops = append(ops, fmt.Sprint(h.(map[string]any)["operation"]))
	}
	assert.Equal(t, []string{"WRITE", "STREAMING UPDATE", "WRITE"}, ops) // delta-rs names its create "WRITE"

	_, ours := tableRows(t, dir)
	assert.Equal(t, seq(0, 29), ids(t, ours))
}

// TestInteropDeltaRSAppendsToOurTable: we create and write, delta-rs
// appends with its own writer, we append again.
func TestInteropDeltaRSAppendsToOurTable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "table")
	conf := fmt.Sprintf("path: %s\nflush_period: 5ms\n", dir)
	out := newTestOutput(t, conf)
	writeIDs(t, out, 0, 10)
	require.NoError(t, out.Close(context.Background()))
	deltaRS(t, "append", dir, writeJSONL(t, 10, 20))
	out2 := newTestOutput(t, conf)
	writeIDs(t, out2, 20, 30)
	require.NoError(t, out2.Close(context.Background()))

	res := deltaRS(t, "read", dir)
	assert.Equal(t, "30", fmt.Sprint(res["num_rows"]))
	assert.Equal(t, "3", fmt.Sprint(res["version"]))
	_, ours := tableRows(t, dir)
	assert.Equal(t, seq(0, 29), ids(t, ours))
}

// TestCheckpointsReadableByDeltaRS writes 25 commits (checkpoints at 10 and
// 20), deletes the JSON commits the last checkpoint covers, and checks that
// delta-rs and our writer still load the table with its txn versions.
func TestCheckpointsReadableByDeltaRS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "table")
	conf := fmt.Sprintf("path: %s\nflush_period: 1ms\ncheckpoint_interval: 10\nwriter_id: cp\n", dir)
	out := newTestOutput(t, conf)
	const topic = "/default/cp-part-0"
	for i := 0; i < 25; i++ {
		require.NoError(t, out.WriteBatch(context.Background(), service.MessageBatch{danubeMsg(fmt.Sprintf(`{"id":%d}`, i), topic, uint64(i))}))
	}
	require.NoError(t, out.Close(context.Background()))
	for _, v := range []int{10, 20} {
		_, err := os.Stat(filepath.Join(dir, "_delta_log", fmt.Sprintf("%020d.checkpoint.parquet", v)))
		require.NoError(t, err, "checkpoint %d", v)
	}
	for v := 0; v < 20; v++ {
		require.NoError(t, os.Remove(filepath.Join(dir, "_delta_log", fmt.Sprintf("%020d.json", v))))
	}
	app := "danube-connect/cp" + topic
	res := deltaRS(t, "read", dir, "--app", app)
	assert.Equal(t, "25", fmt.Sprint(res["version"]))
	assert.Equal(t, "25", fmt.Sprint(res["num_rows"]))
	assert.Equal(t, "24", fmt.Sprint(res["txn"].(map[string]any)[app]))

	// A restarted writer loads from the checkpoint, still recognises the
	// offsets of the commits it can read, and appends.
	out2 := newTestOutput(t, conf)
	b := service.MessageBatch{danubeMsg(`{"id":24}`, topic, 24), danubeMsg(`{"id":25}`, topic, 25)}
	require.NoError(t, out2.WriteBatch(context.Background(), b))
	require.NoError(t, out2.Close(context.Background()))
	_, rows := tableRows(t, dir)
	assert.Equal(t, seq(0, 25), ids(t, rows))
}
