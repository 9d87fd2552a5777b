package deltalake

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore/objstoretest"
)

// twoWriters appends rows from two outputs (two writers with their own
// state, as two processes would be) concurrently to one table and checks
// that every row is there and the versions are contiguous.
func twoWriters(t *testing.T, location string, opts objstore.Options) {
	conf := fmt.Sprintf("path: %s\nflush_period: 5ms\n%s", location, storageYAML(opts))
	a, b := newTestOutput(t, conf), newTestOutput(t, conf)
	ctx := context.Background()
	const perWriter, batches = 120, 12
	var wg sync.WaitGroup
	for w, out := range []*deltaLakeOutput{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < batches; k++ {
				var batch service.MessageBatch
				for i := 0; i < perWriter/batches; i++ {
					id := w*perWriter + k*(perWriter/batches) + i
					batch = append(batch, msg(fmt.Sprintf(`{"id":%d,"writer":"w%d"}`, id, w)))
				}
				assert.NoError(t, out.WriteBatch(ctx, batch))
			}
		}()
	}
	wg.Wait()
	require.NoError(t, a.Close(ctx))
	require.NoError(t, b.Close(ctx))

	snap, rows := tableRowsWith(t, location, opts)
	assert.Equal(t, seq(0, 2*perWriter-1), ids(t, rows))
	store, err := objstore.Open(ctx, location, opts)
	require.NoError(t, err)
	objs, err := store.List(ctx, "_delta_log/", "")
	require.NoError(t, err)
	var commits []int64
	for _, o := range objs {
		var v int64
		if _, err := fmt.Sscanf(o.Key, "_delta_log/%020d.json", &v); err == nil && len(o.Key) == len("_delta_log/")+25 {
			commits = append(commits, v)
		}
	}
	assert.Equal(t, seq(0, snap.Version()), commits, "contiguous versions, no lost commit")
	assert.GreaterOrEqual(t, snap.Version(), int64(3))
}

func TestTwoWritersLocalDisk(t *testing.T) {
	twoWriters(t, t.TempDir(), objstore.Options{})
}

func TestTwoWritersS3MinIO(t *testing.T) {
	location, opts := objstoretest.NewS3Bucket(t)
	table := location + "/events"
	twoWriters(t, table, opts)
	// delta-rs reads the same table from MinIO.
	res := deltaRS(t, "read", table)
	assert.Equal(t, "240", fmt.Sprint(res["num_rows"]))
}

func TestAzuriteAppend(t *testing.T) {
	location, opts := objstoretest.NewAzureContainer(t)
	table := location + "/events"
	out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 5ms\npartition_by: [ kind ]\n%s", table, storageYAML(opts)))
	ctx := context.Background()
	for k := 0; k < 3; k++ {
		var b service.MessageBatch
		for i := 0; i < 10; i++ {
			b = append(b, msg(fmt.Sprintf(`{"id":%d,"kind":"k%d"}`, k*10+i, i%2)))
		}
		require.NoError(t, out.WriteBatch(ctx, b))
	}
	require.NoError(t, out.Close(ctx))
	_, rows := tableRowsWith(t, table, opts)
	assert.Equal(t, seq(0, 29), ids(t, rows))
	res := deltaRS(t, "read", table)
	assert.Equal(t, "30", fmt.Sprint(res["num_rows"]))
	assert.Equal(t, []any{"kind"}, res["partition_columns"])
}

func TestGCSEmulatorAppend(t *testing.T) {
	_, location, opts := objstoretest.StartGCSEmulator(t)
	table := location + "/events"
	out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 5ms\n%s", table, storageYAML(opts)))
	ctx := context.Background()
	for k := 0; k < 3; k++ {
		require.NoError(t, out.WriteBatch(ctx, service.MessageBatch{msg(fmt.Sprintf(`{"id":%d}`, k))}))
	}
	require.NoError(t, out.Close(ctx))
	snap, rows := tableRowsWith(t, table, opts)
	assert.Equal(t, seq(0, 2), ids(t, rows))
	assert.Equal(t, int64(3), snap.Version())
}

// TestStorageOutageMidCommitRecovers cuts the connection to MinIO while
// flushes are in progress: the affected messages fail (and are redelivered
// by the input, simulated here by writing them again), nothing is lost and,
// with Danube offsets, nothing is duplicated.
func TestStorageOutageMidCommitRecovers(t *testing.T) {
	location, opts := objstoretest.NewS3Bucket(t)
	proxy := objstoretest.NewProxy(t, opts.S3.Endpoint[len("http://"):])
	viaProxy := opts
	viaProxy.S3.Endpoint = proxy.URL()
	table := location + "/events"
	out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 5ms\n%s", table, storageYAML(viaProxy)))
	const topic = "/default/outage-part-0"
	ctx := context.Background()
	pending := map[uint64]bool{}
	for off := uint64(0); off < 200; off++ {
		pending[off] = true
	}
	send := func(offs []uint64) {
		var b service.MessageBatch
		for _, o := range offs {
			b = append(b, danubeMsg(fmt.Sprintf(`{"id":%d}`, o), topic, o))
		}
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		err := out.WriteBatch(wctx, b)
		failed := batchErrors(t, b, err)
		if err != nil && len(failed) == 0 {
			return // the whole batch failed (not a BatchError): all stay pending
		}
		for i, o := range offs {
			if _, bad := failed[i]; !bad {
				delete(pending, o)
			}
		}
	}
	// First round with an outage in the middle.
	for start := uint64(0); start < 200; start += 20 {
		if start == 100 {
			proxy.Cut()
			go func() {
				time.Sleep(300 * time.Millisecond)
				proxy.Restore()
			}()
		}
		var offs []uint64
		for o := start; o < start+20; o++ {
			offs = append(offs, o)
		}
		send(offs)
	}
	proxy.Restore()
	// Redeliver everything that was not acknowledged, plus a full replay of
	// what was (as after a consumer restart), until all is acknowledged.
	deadline := time.Now().Add(60 * time.Second)
	for len(pending) > 0 {
		require.True(t, time.Now().Before(deadline), "%d offsets never acknowledged", len(pending))
		var offs []uint64
		for o := range pending {
			offs = append(offs, o)
		}
		send(offs)
	}
	var all []uint64
	for o := uint64(0); o < 200; o++ {
		all = append(all, o)
	}
	send(all)
	require.NoError(t, out.Close(ctx))
	_, rows := tableRowsWith(t, table, opts)
	assert.Equal(t, seq(0, 199), ids(t, rows))
}
