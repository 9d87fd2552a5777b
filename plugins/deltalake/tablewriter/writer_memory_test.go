package tablewriter

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/exactlyonce"
)

// TestCommittedRowsAreNotRetained checks that nothing keeps the payloads
// of a batch reachable once its commit is durable and WriteBatch returned,
// even while the flush_period timer of its flush has not fired: before the
// fix every settled flush of the last flush_period stayed reachable from
// its timer, which held ~100k payloads (35 MB) in the 1 GiB bench.
func TestCommittedRowsAreNotRetained(t *testing.T) {
	dir := t.TempDir()
	// max_in_flight 2: a call seals its own flush, long before flush_period.
	conf := testConfig()
	conf.FlushPeriod, conf.MaxInFlight = time.Hour, 2
	w := newTestWriter(t, conf)
	const rows = 200
	pad := strings.Repeat("x", 200)
	payloads := make([]weak.Pointer[byte], 0, rows)
	writeBatch := func(first int) {
		batch := make([]Message, 0, rows/2)
		for i := first; i < first+rows/2; i++ {
			p := fmt.Appendf(nil, `{"id":%d,"pad":"%s"}`, i, pad)
			payloads = append(payloads, weak.Make(&p[0]))
			batch = append(batch, Message{Table: dir, Payload: p})
		}
		writeAll(t, w, batch...)
	}
	// Two calls: the first creates the table (its rows are the schema
	// sample), the second appends to the open table.
	writeBatch(0)
	writeBatch(rows / 2)

	runtime.GC()
	runtime.GC()
	alive := 0
	for _, p := range payloads {
		if p.Value() != nil {
			alive++
		}
	}
	require.Zero(t, alive, "payloads of committed rows still reachable after their WriteBatch returned")

	_, got := tableRows(t, dir)
	require.Len(t, got, rows)
}

// TestDropRowsRebuildsOnlyRecordsWithCommittedOffsets checks the rebuild of
// a flush after another writer committed some of its offsets: only the
// record that held them is decoded again, without them; the record of a
// call without offsets keeps no row sources and is left untouched.
func TestDropRowsRebuildsOnlyRecordsWithCommittedOffsets(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	conf := testConfig()
	conf.FlushPeriod, conf.MaxInFlight = time.Hour, 64
	w := newTestWriter(t, conf)
	tw, err := w.acquire(ctx, dir, func() [][]byte { return [][]byte{[]byte(`{"id":0}`)} })
	require.NoError(t, err)
	defer w.release(tw)

	const topic = "/default/events-part-0"
	rows := func(ids []int, withOffsets bool) ([]Message, []int) {
		var infos []Message
		var idxs []int
		for k, id := range ids {
			info := Message{Table: dir, Payload: fmt.Appendf(nil, `{"id":%d}`, id)}
			if withOffsets {
				info.Topic, info.Offset, info.HasOffset = topic, uint64(id), true
			}
			infos = append(infos, info)
			idxs = append(idxs, k)
		}
		return infos, idxs
	}
	noFail := func(i int, err error) { t.Errorf("message %d failed: %v", i, err) }
	infosA, idxsA := rows([]int{1, 2, 3, 4}, true)
	ticketsA, _ := tw.write(ctx, infosA, idxsA, noFail)
	infosB, idxsB := rows([]int{10, 11, 12}, false)
	ticketsB, _ := tw.write(ctx, infosB, idxsB, noFail)
	require.Len(t, ticketsA, 1)
	require.Len(t, ticketsB, 1)
	f := ticketsA[0]
	require.Same(t, f, ticketsB[0], "both calls share one flush")

	require.Len(t, f.order, 1)
	g := f.groups[f.order[0]]
	require.Len(t, g.recs, 2)
	require.Len(t, g.srcs[0], 4)
	require.Nil(t, g.srcs[1], "a call without offsets keeps no row sources")
	untouched := g.recs[1]

	dups := exactlyonce.Offsets{}
	dups.Add(topic, 2)
	dups.Add(topic, 3)
	require.NoError(t, tw.dropRows(f, dups))
	require.EqualValues(t, 5, f.rows)
	require.EqualValues(t, 5, g.rows)
	require.Len(t, g.recs, 2)
	require.EqualValues(t, 2, g.recs[0].NumRows())
	require.Same(t, untouched, g.recs[1], "the record without offsets is not rebuilt")

	tw.seal(f)
	<-f.done
	require.NoError(t, f.err)
	_, got := tableRows(t, dir)
	var ids []string
	for _, r := range got {
		ids = append(ids, fmt.Sprint(r["id"]))
	}
	require.ElementsMatch(t, []string{"1", "4", "10", "11", "12"}, ids)
}

// TestRecycledArrowBuffersKeepRowsIntact commits many calls in a row, so
// that each one decodes, merges and encodes into Arrow buffers freed by the
// previous commits, and checks every row reads back with its own values.
func TestRecycledArrowBuffersKeepRowsIntact(t *testing.T) {
	dir := t.TempDir()
	conf := testConfig()
	conf.FlushPeriod, conf.MaxInFlight = time.Hour, 2
	w := newTestWriter(t, conf)
	const calls, per = 20, 300
	for c := 0; c < calls; c++ {
		batch := make([]Message, 0, per)
		for i := c * per; i < (c+1)*per; i++ {
			batch = append(batch, Message{Table: dir, Payload: fmt.Appendf(nil,
				`{"id":%d,"name":"name-%d","user":{"country":"c%d"},"tags":["t%d","u%d"]}`, i, i, i%13, i, i%5)})
		}
		writeAll(t, w, batch...)
	}
	require.Positive(t, w.mem.IdleBytes(), "freed Arrow buffers were not kept for reuse")

	_, got := tableRows(t, dir)
	require.Len(t, got, calls*per)
	seen := map[string]bool{}
	for _, r := range got {
		id := fmt.Sprint(r["id"])
		require.False(t, seen[id], "row %s twice", id)
		seen[id] = true
		require.Equal(t, "name-"+id, fmt.Sprint(r["name"]), "row %s", id)
		require.Contains(t, fmt.Sprint(r["tags"]), "t"+id, "row %s", id)
	}
}
