package tablewriter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// TestWriterAppendsAndSkipsCommittedOffsets drives the writer without
// Benthos: rows land in the table, a redelivered offset is acknowledged
// without being written again, and a bad row fails only its message.
func TestWriterAppendsAndSkipsCommittedOffsets(t *testing.T) {
	dir := t.TempDir()
	w := newTestWriter(t, testConfig())
	msgs := jsonMessages(dir, `{"id":1}`, `{"id":2}`, `{"id":"three"}`)
	for i := range msgs {
		msgs[i].Topic, msgs[i].Offset, msgs[i].HasOffset = "/default/t-part-0", uint64(i), true
	}
	failed := map[int]error{}
	require.NoError(t, w.Write(context.Background(), msgs, func(i int, err error) { failed[i] = err }))
	require.Len(t, failed, 1)
	require.ErrorContains(t, failed[2], "field id: expected long, got string")

	// Redelivery of offsets 0 and 1 with different payloads: skipped.
	again := jsonMessages(dir, `{"id":100}`, `{"id":101}`)
	for i := range again {
		again[i].Topic, again[i].Offset, again[i].HasOffset = "/default/t-part-0", uint64(i), true
	}
	writeAll(t, w, again...)
	_, rows := tableRows(t, dir)
	assert.ElementsMatch(t, []string{"1", "2"}, idsOf(rows))
}

// TestWriterManyRowsPerMessage checks payload_format ndjson: every line is
// a row, a message with a bad row fails whole (naming the row) even when
// rows before it were already buffered, and the other messages commit with
// their offsets (exactly-once is per message).
func TestWriterManyRowsPerMessage(t *testing.T) {
	dir := t.TempDir()
	conf := testConfig()
	conf.PayloadFormat = jsonrows.FormatNDJSON
	w := newTestWriter(t, conf)
	lines := func(from, n int) string {
		var b strings.Builder
		for i := from; i < from+n; i++ {
			fmt.Fprintf(&b, "{\"id\":%d}\n", i)
		}
		return b.String()
	}
	msgs := jsonMessages(dir, lines(0, 100), lines(100, 50)+`{"id":"x"}`+"\n"+lines(151, 10), lines(200, 100))
	for i := range msgs {
		msgs[i].Topic, msgs[i].Offset, msgs[i].HasOffset = "/default/t-part-0", uint64(i), true
	}
	failed := map[int]error{}
	require.NoError(t, w.Write(context.Background(), msgs, func(i int, err error) { failed[i] = err }))
	require.Len(t, failed, 1)
	var rowErr *jsonrows.RowError
	require.True(t, errors.As(failed[1], &rowErr), "%v", failed[1])
	assert.Equal(t, 51, rowErr.Row)
	assert.ErrorContains(t, failed[1], "row 51")
	_, rows := tableRows(t, dir)
	assert.Len(t, rows, 200)

	// The failed message, fixed and redelivered with its offset, commits;
	// the committed ones are skipped.
	fixed := jsonMessages(dir, lines(0, 100), lines(100, 61))
	for i := range fixed {
		fixed[i].Topic, fixed[i].Offset, fixed[i].HasOffset = "/default/t-part-0", uint64(i), true
	}
	writeAll(t, w, fixed...)
	_, rows = tableRows(t, dir)
	assert.Len(t, rows, 261)
}
