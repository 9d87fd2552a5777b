package tablewriter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

func TestDecodeChunks(t *testing.T) {
	msgs := make([]Message, 8)
	idxs := make([]int, 8)
	for i := range msgs {
		msgs[i].Payload = make([]byte, 512<<10)
		idxs[i] = i
	}
	assert.Len(t, decodeChunks(msgs, idxs, 1), 1, "one core: one chunk")
	assert.Len(t, decodeChunks(msgs[:1], idxs[:1], 4), 1, "one message is never split")
	chunks := decodeChunks(msgs, idxs, 2)
	require.Len(t, chunks, 2)
	assert.Equal(t, []int{0, 1, 2, 3}, chunks[0])
	assert.Equal(t, []int{4, 5, 6, 7}, chunks[1])
	var all []int
	for _, c := range decodeChunks(msgs, idxs, 3) {
		all = append(all, c...)
	}
	assert.Equal(t, idxs, all, "chunks cover every message once, in order")
	small := []Message{{Payload: []byte(`{}`)}, {Payload: []byte(`{}`)}}
	assert.Len(t, decodeChunks(small, []int{0, 1}, 4), 1, "small calls stay in the caller")
}

// TestParallelDecodeKeepsEveryRowOnce writes calls large enough to be
// decoded by several goroutines into a partitioned table, with a bad row in
// one message: every other row lands exactly once, in its partition.
func TestParallelDecodeKeepsEveryRowOnce(t *testing.T) {
	dir := t.TempDir()
	conf := testConfig()
	conf.PayloadFormat = jsonrows.FormatNDJSON
	conf.PartitionBy = []string{"kind"}
	w := newTestWriter(t, conf)
	pad := strings.Repeat("p", 300)
	const msgsPerCall, rowsPerMsg = 6, 1200
	var msgs []Message
	for m := 0; m < msgsPerCall; m++ {
		var b strings.Builder
		for r := 0; r < rowsPerMsg; r++ {
			id := m*rowsPerMsg + r
			if m == 3 && r == 700 {
				b.WriteString(`{"id":"bad","kind":"a"}` + "\n")
				continue
			}
			fmt.Fprintf(&b, `{"id":%d,"kind":"k%d","pad":"%s"}`+"\n", id, id%3, pad)
		}
		msgs = append(msgs, Message{Table: dir, Payload: []byte(b.String()), Topic: "/t-part-0", Offset: uint64(m), HasOffset: true})
	}
	require.Greater(t, len(decodeChunks(msgs, []int{0, 1, 2, 3, 4, 5}, 2)), 1, "the call is split")
	failed := map[int]error{}
	require.NoError(t, w.Write(context.Background(), msgs, func(i int, err error) { failed[i] = err }))
	require.Len(t, failed, 1)
	assert.ErrorContains(t, failed[3], "row 701")
	_, rows := tableRows(t, dir)
	assert.Len(t, rows, (msgsPerCall-1)*rowsPerMsg)
	seen := map[string]bool{}
	for _, r := range rows {
		id := fmt.Sprint(r["id"])
		require.False(t, seen[id], "row %s twice", id)
		seen[id] = true
		var n int
		fmt.Sscan(id, &n)
		require.Equal(t, fmt.Sprintf("k%d", n%3), r["kind"])
		require.NotEqual(t, 3, n/rowsPerMsg, "a row of the failed message was written")
	}
}
