package deltalake

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/exactlyonce"
	"github.com/danube-connect/danube-connect/plugins/deltalake/tablewriter"
)

// batchErrors returns the per-message errors of a WriteBatch result, by index.
func batchErrors(t *testing.T, batch service.MessageBatch, err error) map[int]error {
	t.Helper()
	out := map[int]error{}
	if err == nil {
		return out
	}
	var be *service.BatchError
	require.True(t, errors.As(err, &be), "want a BatchError, got %v", err)
	be.WalkMessages(func(i int, _ *service.Message, e error) bool {
		if e != nil {
			out[i] = e
		}
		return true
	})
	return out
}

func TestBadRowsFailAloneRestCommits(t *testing.T) {
	dir := t.TempDir()
	out := newTestOutput(t, fmt.Sprintf(`
path: %s
flush_period: 10ms
partition_by: [ region ]
schema_evolution: none
schema: '{"type":"struct","fields":[{"name":"id","type":"long","nullable":false,"metadata":{}},{"name":"name","type":"string","nullable":true,"metadata":{}},{"name":"region","type":"string","nullable":true,"metadata":{}}]}'
`, dir))
	batch := service.MessageBatch{
		msg(`{"id":0,"name":"ok","region":"eu"}`),
		msg(`{"id":1,"name":`),                          // malformed JSON
		msg(`{"id":"two","name":"x","region":"eu"}`),    // type conflict
		msg(`{"id":null,"name":"x","region":"eu"}`),     // null in non-nullable
		msg(`{"id":4,"name":"x"}`),                      // missing partition value
		msg(`{"id":5,"name":"x","region":"us","zz":1}`), // unknown field, evolution off
		msg(`[1,2]`), // not an object
		msg(`{"id":7,"name":null,"region":null}`),
	}
	errs := batchErrors(t, batch, out.WriteBatch(context.Background(), batch))
	require.Len(t, errs, 6, "%v", errs)
	assert.ErrorContains(t, errs[1], "malformed JSON")
	assert.ErrorContains(t, errs[2], "id")
	assert.ErrorContains(t, errs[3], "id")
	assert.ErrorContains(t, errs[4], "region")
	assert.ErrorContains(t, errs[5], "zz")
	assert.ErrorContains(t, errs[6], "object")
	require.NoError(t, out.Close(context.Background()))
	_, rows := tableRows(t, dir)
	assert.Equal(t, []int64{0, 7}, ids(t, rows))
}

func TestManyBatchesShareCommits(t *testing.T) {
	dir := t.TempDir()
	// Benthos makes at most max_in_flight concurrent calls: allow all 40.
	out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 200ms\nmax_in_flight: 64\n", dir))
	var wg sync.WaitGroup
	const calls, per = 40, 25
	for c := 0; c < calls; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b service.MessageBatch
			for i := 0; i < per; i++ {
				b = append(b, msg(fmt.Sprintf(`{"id":%d}`, c*per+i)))
			}
			assert.NoError(t, out.WriteBatch(context.Background(), b))
		}()
	}
	wg.Wait()
	require.NoError(t, out.Close(context.Background()))
	_, rows := tableRows(t, dir)
	assert.Equal(t, seq(0, calls*per-1), ids(t, rows))
	versions := commitVersions(t, dir)
	assert.Less(t, len(versions), calls/2, "concurrent batches must share commits, got %d commits for %d batches", len(versions)-1, calls)
}

func TestExactlyOnceAcrossRestartAndRedelivery(t *testing.T) {
	dir := t.TempDir()
	conf := fmt.Sprintf("path: %s\nflush_period: 10ms\n", dir)
	const topic = "/default/orders-part-0"
	mk := func(offs ...uint64) service.MessageBatch {
		var b service.MessageBatch
		for _, o := range offs {
			b = append(b, danubeMsg(fmt.Sprintf(`{"id":%d}`, o), topic, o))
		}
		return b
	}
	ctx := context.Background()
	out := newTestOutput(t, conf)
	// Offset 3 is malformed the first time: it fails alone.
	first := mk(0, 1, 2, 3, 4, 5)
	first[3] = danubeMsg(`{"id":`, topic, 3)
	errs := batchErrors(t, first, out.WriteBatch(ctx, first))
	require.Len(t, errs, 1)
	// A nacked offset redelivered after newer ones were committed.
	require.NoError(t, out.WriteBatch(ctx, mk(6, 7)))
	require.NoError(t, out.WriteBatch(ctx, mk(3)))
	// Redelivery of committed offsets (crash between commit and ack).
	require.NoError(t, out.WriteBatch(ctx, mk(0, 1, 2, 6)))
	require.NoError(t, out.Close(ctx))

	// A restarted writer rebuilds the offsets from the log.
	out2 := newTestOutput(t, conf)
	require.NoError(t, out2.WriteBatch(ctx, mk(5, 6, 7, 8, 3)))
	require.NoError(t, out2.Close(ctx))

	_, rows := tableRows(t, dir)
	assert.Equal(t, seq(0, 8), ids(t, rows))

	// Each commit records its offsets and a txn per topic-partition.
	last := commitVersions(t, dir)
	actions := readCommitJSON(t, dir, last[len(last)-1])
	var sawTxn bool
	for _, a := range actions {
		if ci, ok := a["commitInfo"]; ok {
			assert.Equal(t, map[string]any{topic: []any{[]any{float64(8), float64(8)}}}, ci[exactlyonce.CommitInfoKey])
		}
		if txn, ok := a["txn"]; ok {
			sawTxn = true
			assert.Equal(t, exactlyonce.AppID(out2.w.WriterID(), topic), txn["appId"])
			assert.Equal(t, float64(8), txn["version"])
		}
	}
	assert.True(t, sawTxn)
}

func TestWithoutOffsetsIsAtLeastOnce(t *testing.T) {
	dir := t.TempDir()
	out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 10ms\n", dir))
	b := service.MessageBatch{msg(`{"id":1}`)}
	require.NoError(t, out.WriteBatch(context.Background(), b))
	require.NoError(t, out.WriteBatch(context.Background(), b))
	require.NoError(t, out.Close(context.Background()))
	_, rows := tableRows(t, dir)
	assert.Equal(t, []int64{1, 1}, ids(t, rows), "without Danube offsets a redelivery is written again")
}

// TestSharedSubscriptionTwoWriters delivers every offset to one of two
// writers at random, redelivers random already-delivered offsets to either
// writer (as a Shared subscription does after ack timeouts), and checks
// that every offset is in the table exactly once with contiguous versions.
func TestSharedSubscriptionTwoWriters(t *testing.T) {
	dir := t.TempDir()
	conf := fmt.Sprintf("path: %s\nflush_period: 5ms\n", dir)
	const topic = "/default/shared-part-0"
	writers := []*deltaLakeOutput{newTestOutput(t, conf), newTestOutput(t, conf)}
	// Create the table first so both writers append.
	require.NoError(t, writers[0].WriteBatch(context.Background(), service.MessageBatch{danubeMsg(`{"id":0}`, topic, 0)}))

	const total = 400
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for sent := 0; sent < total/4; sent++ {
				var b service.MessageBatch
				for k := 0; k < 5; k++ {
					off := uint64(1 + rng.IntN(total-1))
					b = append(b, danubeMsg(fmt.Sprintf(`{"id":%d}`, off), topic, off))
				}
				err := writers[w].WriteBatch(context.Background(), b)
				for i, e := range batchErrors(t, b, err) {
					// Only races with the same offset buffered in this writer may fail.
					assert.ErrorIs(t, e, tablewriter.ErrPendingDuplicate, "message %d", i)
				}
			}
		}()
	}
	wg.Wait()
	// Then every offset once more through writer 1, as a final redelivery sweep.
	var b service.MessageBatch
	for off := uint64(0); off < total; off++ {
		b = append(b, danubeMsg(fmt.Sprintf(`{"id":%d}`, off), topic, off))
	}
	require.NoError(t, writers[1].WriteBatch(context.Background(), b))
	for _, w := range writers {
		require.NoError(t, w.Close(context.Background()))
	}
	snap, rows := tableRows(t, dir)
	assert.Equal(t, seq(0, total-1), ids(t, rows))
	versions := commitVersions(t, dir)
	assert.Equal(t, seq(0, snap.Version()), versions, "versions are contiguous")
}

func TestSchemaEvolutionMerge(t *testing.T) {
	dir := t.TempDir()
	out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 10ms\n", dir))
	ctx := context.Background()
	require.NoError(t, out.WriteBatch(ctx, service.MessageBatch{msg(`{"id":1,"a":"x"}`)}))
	require.NoError(t, out.WriteBatch(ctx, service.MessageBatch{msg(`{"id":2,"a":"y","b":{"c":true}}`), msg(`{"id":3}`)}))
	b := service.MessageBatch{msg(`{"id":4,"a":5}`)} // type conflict with the table
	errs := batchErrors(t, b, out.WriteBatch(ctx, b))
	require.Len(t, errs, 1)
	assert.ErrorContains(t, errs[0], "a")
	require.NoError(t, out.Close(ctx))

	snap, rows := tableRows(t, dir)
	assert.Equal(t, []int64{1, 2, 3}, ids(t, rows))
	require.NotNil(t, snap.Schema().Field("b"), "new column added")
	assert.True(t, snap.Schema().Field("b").Nullable)
	var metaCommits int
	for _, v := range commitVersions(t, dir)[1:] {
		for _, a := range readCommitJSON(t, dir, v) {
			if _, ok := a["metaData"]; ok {
				metaCommits++
			}
		}
	}
	assert.Equal(t, 1, metaCommits, "one metaData action, in the commit of the first row with the new column")
}

func TestNonReliableTopicFallsBackToAtLeastOnce(t *testing.T) {
	dir := t.TempDir()
	out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 10ms\n", dir))
	const topic = "/default/fire-and-forget"
	b := service.MessageBatch{danubeMsg(`{"id":1}`, topic, 0), danubeMsg(`{"id":2}`, topic, 0), danubeMsg(`{"id":3}`, topic, 0)}
	require.NoError(t, out.WriteBatch(context.Background(), b))
	require.NoError(t, out.WriteBatch(context.Background(), service.MessageBatch{danubeMsg(`{"id":4}`, topic, 0)}))
	require.NoError(t, out.Close(context.Background()))
	_, rows := tableRows(t, dir)
	assert.Equal(t, []int64{1, 2, 3, 4}, ids(t, rows), "offset 0 everywhere must not be taken for redeliveries")
}

// TestExactlyOnceHistoryHorizon: a restarted writer knows the offsets of the
// last history_commits commits only; older redeliveries are outside the
// documented horizon.
func TestExactlyOnceHistoryHorizon(t *testing.T) {
	dir := t.TempDir()
	const topic = "/default/h-part-0"
	out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 1ms\n", dir))
	for off := uint64(0); off < 40; off++ {
		require.NoError(t, out.WriteBatch(context.Background(), service.MessageBatch{danubeMsg(fmt.Sprintf(`{"id":%d}`, off), topic, off)}))
	}
	require.NoError(t, out.Close(context.Background()))

	out2 := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 1ms\nexactly_once: { history_commits: 20 }\n", dir))
	committed := out2.conf.table.HistoryCommits
	require.Equal(t, 20, committed)
	b := service.MessageBatch{danubeMsg(`{"id":39}`, topic, 39), danubeMsg(`{"id":21}`, topic, 21), danubeMsg(`{"id":5}`, topic, 5)}
	require.NoError(t, out2.WriteBatch(context.Background(), b))
	require.NoError(t, out2.Close(context.Background()))
	_, rows := tableRows(t, dir)
	got := ids(t, rows)
	assert.Len(t, got, 41, "only offset 5, older than the last 20 commits, is written again")
	assert.Equal(t, []int64{5, 5}, got[5:7])
}

func TestWriteAfterCloseFailsFast(t *testing.T) {
	dir := t.TempDir()
	out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 10ms\n", dir))
	ctx := context.Background()
	require.NoError(t, out.WriteBatch(ctx, service.MessageBatch{msg(`{"id":1}`)}))
	require.NoError(t, out.Close(ctx))
	require.NoError(t, out.Close(ctx), "Close is idempotent")
	err := out.WriteBatch(ctx, service.MessageBatch{msg(`{"id":2}`)})
	assert.ErrorIs(t, err, service.ErrNotConnected)
	_, rows := tableRows(t, dir)
	assert.Equal(t, []int64{1}, ids(t, rows))
}
