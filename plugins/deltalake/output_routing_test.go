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
)

// TestRoutingToManyTablesWithLRU routes messages to five tables through an
// interpolated path while at most two tables stay open.
func TestRoutingToManyTablesWithLRU(t *testing.T) {
	dir := t.TempDir()
	out := newTestOutput(t, fmt.Sprintf(`
path: '%s/${! meta("table") }'
max_open_tables: 2
flush_period: 5ms
`, dir))
	ctx := context.Background()
	for round := 0; round < 3; round++ {
		var b service.MessageBatch
		for tbl := 0; tbl < 5; tbl++ {
			b = append(b, msg(fmt.Sprintf(`{"id":%d}`, round*10+tbl), "table", fmt.Sprintf("t%d", tbl)))
		}
		require.NoError(t, out.WriteBatch(ctx, b))
		open := out.w.OpenTables()
		assert.LessOrEqual(t, open, 2, "idle tables beyond max_open_tables are closed")
	}
	require.NoError(t, out.Close(ctx))
	for tbl := 0; tbl < 5; tbl++ {
		_, rows := tableRows(t, filepath.Join(dir, fmt.Sprintf("t%d", tbl)))
		assert.Equal(t, []int64{int64(tbl), int64(10 + tbl), int64(20 + tbl)}, ids(t, rows), "table t%d", tbl)
	}
	// An empty interpolation fails only that message.
	out2 := newTestOutput(t, fmt.Sprintf("path: '%s/${! meta(\"table\").or(\"\") }x'\nflush_period: 5ms\n", dir))
	b := service.MessageBatch{msg(`{"id":1}`, "table", "t0")}
	require.NoError(t, out2.WriteBatch(ctx, b))
}

// TestPartitionMappingAndPublishTime partitions by a day computed with
// Bloblang and fills topic/offset/publish-time columns from metadata; delta-rs
// checks the partition values and types.
func TestPartitionMappingAndPublishTime(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "table")
	out := newTestOutput(t, fmt.Sprintf(`
path: %s
flush_period: 5ms
partition_by: [ day ]
partition_mapping: 'root.day = this.ts.slice(0, 10)'
metadata_columns: { topic: src_topic, offset: src_offset, publish_time: published }
`, dir))
	ctx := context.Background()
	var b service.MessageBatch
	days := []string{"2026-01-01", "2026-01-02"}
	for i := 0; i < 6; i++ {
		m := danubeMsg(fmt.Sprintf(`{"id":%d,"ts":"%sT10:00:00Z"}`, i, days[i%2]), "/default/p-part-0", uint64(i))
		m.MetaSetMut(dlMetaPublishTime, fmt.Sprint(1767261600000+int64(i))) // 2026-01-01T10:00:00.00iZ
		b = append(b, m)
	}
	b = append(b, msg(`{"id":99}`)) // ts missing: the mapping fails for this message only
	errs := batchErrors(t, b, out.WriteBatch(ctx, b))
	require.Len(t, errs, 1)
	assert.ErrorContains(t, errs[6], dlFieldPartitionMapping)
	require.NoError(t, out.Close(ctx))

	res := deltaRS(t, "read", dir, "--rows", "--sort", "id")
	assert.Equal(t, []any{"day"}, res["partition_columns"])
	schema := res["arrow_schema"].(map[string]any)
	assert.Equal(t, "timestamp[us, tz=UTC]", schema["published"])
	assert.Equal(t, "int64", schema["src_offset"])
	for i, r := range res["rows"].([]any) {
		row := r.(map[string]any)
		assert.Equal(t, days[i%2], row["day"])
		assert.Equal(t, fmt.Sprintf("2026-01-01T10:00:00.%03d000Z", i), row["published"])
		assert.Equal(t, fmt.Sprint(i), fmt.Sprint(row["src_offset"]))
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "day=*"))
	assert.Len(t, parts, 2)
}

// TestSizeTriggersCommitBeforeFlushPeriod: with an hour-long flush period,
// reaching max_buffered_bytes (or target_file_size) commits at once.
func TestSizeTriggersCommitBeforeFlushPeriod(t *testing.T) {
	for _, field := range []string{"max_buffered_bytes", "target_file_size"} {
		t.Run(field, func(t *testing.T) {
			dir := t.TempDir()
			out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 1h\nmax_in_flight: 64\n%s: 1KiB\n", dir, field))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var b service.MessageBatch
			for i := 0; i < 100; i++ {
				b = append(b, msg(fmt.Sprintf(`{"id":%d,"pad":"%040d"}`, i, i)))
			}
			require.NoError(t, out.WriteBatch(ctx, b), "committed by size, not after the flush period")
			_, rows := tableRows(t, dir)
			assert.Equal(t, seq(0, 99), ids(t, rows))
		})
	}
}
