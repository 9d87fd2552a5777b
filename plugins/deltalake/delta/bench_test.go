package delta

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildLog writes a table with `commits` single-file appends (no automatic
// checkpoints) straight through the Table API.
func buildLog(tb testing.TB, store *memStore, commits int) *Table {
	tb.Helper()
	ctx := context.Background()
	tbl, err := Create(ctx, store, CreateOptions{Schema: &StructType{Fields: []*StructField{
		{Name: "id", Type: &PrimitiveType{Name: TypeLong}, Nullable: true},
	}}}, TableOptions{CheckpointInterval: -1})
	require.NoError(tb, err)
	for i := 0; i < commits; i++ {
		tx := tbl.NewTransaction()
		a := newAdd("")
		a.Stats = fmt.Sprintf(`{"numRecords":100,"minValues":{"id":%d},"maxValues":{"id":%d},"nullCount":{"id":0}}`, i*100, i*100+99)
		tx.Adds = []Add{a}
		tx.SetTxn(fmt.Sprintf("app-%d", i%4), int64(i))
		_, err := tbl.Commit(ctx, tx)
		require.NoError(tb, err)
	}
	return tbl
}

// A checkpoint bounds the work of opening a long log: the hint, the
// checkpoint and the commits after it are read, nothing older.
func TestLoadReadsOnlyCheckpointAndTail(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	tbl := buildLog(t, store, 300)
	_, err := tbl.Checkpoint(ctx, 300)
	require.NoError(t, err)
	appendN(t, tbl, "tail", 3)

	store.mu.Lock()
	store.gets = 0
	store.mu.Unlock()
	snap, err := Load(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, int64(303), snap.Version())
	assert.Equal(t, 303, snap.NumFiles())
	store.mu.Lock()
	gets := store.gets
	store.mu.Unlock()
	assert.Equal(t, 1+1+3, gets, "_last_checkpoint + checkpoint + 3 commits")

	// Incremental update reads only new commits.
	appendN(t, tbl, "more", 2)
	store.mu.Lock()
	store.gets = 0
	store.mu.Unlock()
	news, err := snap.Update(ctx, store)
	require.NoError(t, err)
	assert.Len(t, news, 2)
	assert.Equal(t, int64(305), snap.Version())
	store.mu.Lock()
	assert.Equal(t, 2, store.gets)
	store.mu.Unlock()
}

func BenchmarkLoad1000Commits(b *testing.B) {
	ctx := context.Background()
	store := newMemStore()
	tbl := buildLog(b, store, 1000)
	b.Run("json-only", func(b *testing.B) {
		for b.Loop() {
			if _, err := loadFrom(ctx, store, -1, -1, false, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	_, err := tbl.Checkpoint(ctx, 1000)
	require.NoError(b, err)
	b.Run("checkpoint", func(b *testing.B) {
		for b.Loop() {
			if _, err := Load(ctx, store); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("checkpoint-metadata-only", func(b *testing.B) {
		for b.Loop() {
			if _, err := LoadMetadata(ctx, store); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCheckpointWrite10kFiles(b *testing.B) {
	ctx := context.Background()
	store := newMemStore()
	tbl := buildLog(b, store, 0)
	snap := tbl.Snapshot()
	for i := 0; i < 10000; i++ {
		a := newAdd("")
		a.Stats = fmt.Sprintf(`{"numRecords":100,"minValues":{"id":%d},"maxValues":{"id":%d},"nullCount":{"id":0}}`, i*100, i*100+99)
		snap.files[a.Path] = &a
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := WriteCheckpoint(ctx, store, snap, CheckpointOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCommitBlindAppend(b *testing.B) {
	ctx := context.Background()
	store := newMemStore()
	tbl := buildLog(b, store, 0)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		tx := tbl.NewTransaction()
		tx.Adds = []Add{newAdd("")}
		tx.SetTxn("bench", int64(i))
		if _, err := tbl.Commit(ctx, tx); err != nil {
			b.Fatal(err)
		}
	}
}
