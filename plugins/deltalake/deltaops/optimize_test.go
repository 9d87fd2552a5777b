package deltaops

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
)

func TestOptimizeCompactsPerPartitionKeepingRows(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tbl := setupOptimizeTable(t, store)
	before := readTable(t, store, tbl.Snapshot())
	require.Equal(t, 9, tbl.Snapshot().NumFiles())
	readVersion := tbl.Version()
	// Maintenance works from a table that does not keep files in memory.
	tbl, err := delta.Open(ctx, store, delta.TableOptions{CheckpointInterval: -1, WithoutFiles: true})
	require.NoError(t, err)

	res, err := Optimize(ctx, tbl, OptimizeOptions{TargetSize: 1 << 20})
	require.NoError(t, err)
	assert.Equal(t, readVersion+1, res.Version)
	assert.Equal(t, 9, res.FilesRemoved)
	assert.Equal(t, 2, res.FilesAdded)
	assert.Empty(t, res.Skipped)

	snap, err := delta.Load(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, 2, snap.NumFiles())
	after := readTable(t, store, snap)
	assert.Equal(t, before, after, "same rows per partition; evolved field kept, old rows null")
	assert.Equal(t, 8, after["2024-01-01"].ages, "10 new rows, 2 with null user")

	c, err := delta.ReadCommit(ctx, store, res.Version)
	require.NoError(t, err)
	assert.Equal(t, "OPTIMIZE", c.CommitInfo().Operation)
	assert.False(t, *c.CommitInfo().IsBlindAppend)
	for _, a := range c.Actions {
		switch {
		case a.Remove != nil:
			assert.False(t, a.Remove.DataChange)
			assert.True(t, *a.Remove.ExtendedFileMetadata)
			assert.NotNil(t, a.Remove.DeletionTimestamp)
			assert.NotNil(t, a.Remove.Size)
			assert.NotNil(t, a.Remove.PartitionValues["day"])
		case a.Add != nil:
			assert.False(t, a.Add.DataChange)
			assert.Contains(t, a.Add.Path, ".snappy.parquet", "inputs' codec kept")
			assert.Contains(t, a.Add.Stats, `"numRecords":`)
			assert.Contains(t, a.Add.Path, "day=2024-01-0")
		}
	}
	for _, tomb := range snap.Tombstones() {
		key, _ := delta.DecodePath(tomb.Path)
		_, err := store.Get(ctx, key)
		assert.NoError(t, err, "optimize does not delete inputs (vacuum does)")
	}

	// Nothing left to compact.
	res, err = Optimize(ctx, tbl, OptimizeOptions{TargetSize: 1 << 20})
	require.NoError(t, err)
	assert.Equal(t, int64(-1), res.Version)
}

func TestOptimizePartitionFilterAndMinFiles(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tbl := setupOptimizeTable(t, store)
	res, err := Optimize(ctx, tbl, OptimizeOptions{TargetSize: 1 << 20, PartitionFilter: func(pv map[string]*string) bool {
		return pv["day"] != nil && *pv["day"] == "2024-01-02"
	}})
	require.NoError(t, err)
	assert.Equal(t, 4, res.FilesRemoved)
	assert.Equal(t, 1, res.FilesAdded)

	res, err = Optimize(ctx, tbl, OptimizeOptions{TargetSize: 1 << 20, MinFiles: 6})
	require.NoError(t, err)
	assert.Equal(t, int64(-1), res.Version, "only 5 small files left in 2024-01-01")
}

func TestOptimizeNeverLosesConcurrentAppend(t *testing.T) {
	ctx := context.Background()
	hs := &hookStore{Store: newStore(t)}
	tbl := setupOptimizeTable(t, hs.Store)
	tblHooked, err := delta.Open(ctx, hs, delta.TableOptions{CheckpointInterval: -1, RetryBackoff: time.Millisecond})
	require.NoError(t, err)
	other, err := delta.Open(ctx, hs.Store, delta.TableOptions{CheckpointInterval: -1})
	require.NoError(t, err)
	var appended delta.Add
	hs.onGet = func(string) {
		// Another writer appends while OPTIMIZE is reading its inputs.
		tx := other.NewTransaction()
		appended = writeDataFile(t, hs.Store, "2024-01-01", 1000, 1010, true)
		tx.Adds = []delta.Add{appended}
		_, err := other.Commit(ctx, tx)
		require.NoError(t, err)
	}
	before := tbl.Version()
	res, err := Optimize(ctx, tblHooked, OptimizeOptions{TargetSize: 1 << 20})
	require.NoError(t, err)
	assert.Equal(t, before+2, res.Version, "optimize retried on top of the append")

	snap, err := delta.Load(ctx, hs.Store)
	require.NoError(t, err)
	_, ok := snap.File(mustDecode(t, appended.Path))
	assert.True(t, ok, "the concurrent append is still live")
	rows := readTable(t, hs.Store, snap)
	assert.Len(t, rows["2024-01-01"].ids, 60)
	assert.Len(t, rows["2024-01-02"].ids, 40)
}

func TestOptimizeConflictsWithConcurrentRemove(t *testing.T) {
	for _, withoutFiles := range []bool{false, true} {
		t.Run(fmt.Sprintf("withoutFiles=%v", withoutFiles), func(t *testing.T) { testOptimizeConcurrentRemove(t, withoutFiles) })
	}
}

func testOptimizeConcurrentRemove(t *testing.T, withoutFiles bool) {
	ctx := context.Background()
	hs := &hookStore{Store: newStore(t)}
	tbl := setupOptimizeTable(t, hs.Store)
	tblHooked, err := delta.Open(ctx, hs, delta.TableOptions{CheckpointInterval: -1, RetryBackoff: time.Millisecond, WithoutFiles: withoutFiles})
	require.NoError(t, err)
	victim := tbl.Snapshot().Files()[0]
	hs.onGet = func(string) {
		tx := tbl.NewTransaction()
		tx.Removes = []delta.Remove{{Path: victim.Path}}
		_, err := tbl.Commit(ctx, tx)
		require.NoError(t, err)
	}
	keysBefore := len(keys(t, hs.Store))
	_, err = Optimize(ctx, tblHooked, OptimizeOptions{TargetSize: 1 << 20})
	assert.ErrorIs(t, err, delta.ErrConcurrentDeleteDelete)
	assert.Equal(t, keysBefore+1, len(keys(t, hs.Store)), "only the winner's commit is new: merged files were deleted")
}

// Appenders and a compaction loop run concurrently on separate Tables: no
// appended row is lost or duplicated, whatever the interleaving.
func TestOptimizeStressWithConcurrentAppenders(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tbl := setupOptimizeTable(t, store)
	want := map[int64]bool{}
	for _, rows := range readTable(t, store, tbl.Snapshot()) {
		for _, id := range rows.ids {
			want[id] = true
		}
	}
	const appenders, perAppender = 2, 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := make(chan error, appenders+1)
	stop := make(chan struct{})
	for w := 0; w < appenders; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := delta.Open(ctx, store, delta.TableOptions{CheckpointInterval: 7, RetryBackoff: time.Millisecond, MaxCommitAttempts: 200, WithoutFiles: w == 0})
			if err != nil {
				errs <- err
				return
			}
			defer a.Close(ctx)
			for i := 0; i < perAppender; i++ {
				from := int64(10000*(w+1) + 10*i)
				day := []string{"2024-01-01", "2024-01-02"}[i%2]
				add := writeDataFile(t, store, day, from, from+10, i%3 == 0)
				tx := a.NewTransaction()
				tx.Adds = []delta.Add{add}
				if _, err := a.Commit(ctx, tx); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for id := from; id < from+10; id++ {
					want[id] = true
				}
				mu.Unlock()
			}
		}()
	}
	var optWG sync.WaitGroup
	optWG.Add(1)
	compactions := 0
	go func() {
		defer optWG.Done()
		o, err := delta.Open(ctx, store, delta.TableOptions{CheckpointInterval: -1, RetryBackoff: time.Millisecond, MaxCommitAttempts: 200})
		if err != nil {
			errs <- err
			return
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			res, err := Optimize(ctx, o, OptimizeOptions{TargetSize: 1 << 20, Compression: "snappy"})
			if err != nil {
				errs <- err
				return
			}
			if res.Version >= 0 {
				compactions++
			}
		}
	}()
	wg.Wait()
	close(stop)
	optWG.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Greater(t, compactions, 0)

	snap, err := delta.Load(ctx, store)
	require.NoError(t, err)
	got := map[int64]int{}
	for _, rows := range readTable(t, store, snap) {
		for _, id := range rows.ids {
			got[id]++
		}
	}
	require.Equal(t, len(want), len(got), "every row present once")
	for id, n := range got {
		require.True(t, want[id], "unexpected row %d", id)
		require.Equal(t, 1, n, "row %d duplicated", id)
	}
}
