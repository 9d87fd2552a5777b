package delta

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// logModel is an independent expectation of table state: what a correct
// log replay must yield after the operations the test performed.
type logModel struct {
	version int64
	files   map[string]int64 // add.path -> size
	txns    map[string]int64
	columns []string
}

func (m *logModel) check(t *testing.T, s *Snapshot, step string) {
	t.Helper()
	require.Equal(t, m.version, s.Version(), step)
	got := map[string]int64{}
	for _, f := range s.Files() {
		got[f.Path] = f.Size
	}
	if s.TracksFiles() {
		require.Equal(t, m.files, got, step)
	} else {
		require.Empty(t, got, step)
	}
	gotTxns := map[string]int64{}
	for k, v := range s.Txns() {
		gotTxns[k] = v.Version
	}
	require.Equal(t, m.txns, gotTxns, step)
	var cols []string
	for _, f := range s.Schema().Fields {
		cols = append(cols, f.Name)
	}
	require.Equal(t, m.columns, cols, step)
}

func TestModelBasedLogReplay(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		withoutFiles := seed%2 == 0
		t.Run(fmt.Sprintf("seed%d/withoutFiles=%v", seed, withoutFiles), func(t *testing.T) { runModel(t, seed, withoutFiles) })
	}
}

func runModel(t *testing.T, seed uint64, withoutFiles bool) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 99))
	store := newMemStore()
	opts := TableOptions{CheckpointInterval: -1, WithoutFiles: withoutFiles}
	tbl := testCreate(t, store, nil, opts)
	m := &logModel{files: map[string]int64{}, txns: map[string]int64{}, columns: []string{"id", "day"}}
	lastCheckpoint := int64(-1)
	for step := 0; step < 40; step++ {
		name := ""
		switch op := rng.IntN(10); {
		case op < 5: // append 1-3 files, maybe with a txn
			name = "append"
			tx := tbl.NewTransaction()
			for i := 0; i <= rng.IntN(3); i++ {
				a := newAdd("")
				a.Size = int64(rng.IntN(1000) + 1)
				tx.Adds = append(tx.Adds, a)
				m.files[a.Path] = a.Size
			}
			if rng.IntN(2) == 0 {
				app := fmt.Sprintf("app%d", rng.IntN(3))
				v := m.txns[app] + int64(rng.IntN(5)+1)
				tx.SetTxn(app, v)
				m.txns[app] = v
			}
			_, err := tbl.Commit(ctx, tx)
			require.NoError(t, err)
			m.version++
		case op < 7: // compact: remove up to 2 live files, add one
			if len(m.files) == 0 {
				continue
			}
			name = "compact"
			tx := tbl.NewTransaction()
			tx.Operation = "OPTIMIZE"
			paths := make([]string, 0, len(m.files))
			for p := range m.files {
				paths = append(paths, p)
			}
			sort.Strings(paths)
			rng.Shuffle(len(paths), func(i, j int) { paths[i], paths[j] = paths[j], paths[i] })
			var total int64
			for _, p := range paths[:min(2, len(paths))] {
				tx.Removes = append(tx.Removes, Remove{Path: p})
				total += m.files[p]
				delete(m.files, p)
			}
			a := newAdd("")
			a.Size, a.DataChange = total, false
			tx.Adds = []Add{a}
			m.files[a.Path] = total
			_, err := tbl.Commit(ctx, tx)
			require.NoError(t, err)
			m.version++
		case op < 8: // evolve
			name = "evolve"
			col := fmt.Sprintf("c%d", step)
			s := &StructType{Fields: []*StructField{{Name: col, Type: &PrimitiveType{Name: TypeString}, Nullable: true}}}
			tx := tbl.NewTransaction()
			tx.SetSchema(s)
			tx.Adds = []Add{newAdd("")}
			m.files[tx.Adds[0].Path] = tx.Adds[0].Size
			_, err := tbl.Commit(ctx, tx)
			require.NoError(t, err)
			m.columns = append(m.columns, col)
			m.version++
		case op < 9: // checkpoint, sometimes dropping older JSON commits
			name = "checkpoint"
			_, err := tbl.Checkpoint(ctx, m.version)
			require.NoError(t, err)
			if rng.IntN(2) == 0 {
				for v := lastCheckpoint + 1; v <= m.version; v++ {
					require.NoError(t, store.Delete(ctx, CommitKey(v)))
				}
			}
			lastCheckpoint = m.version
		default: // reopen from storage
			name = "reopen"
			var err error
			tbl, err = Open(ctx, store, opts)
			require.NoError(t, err)
		}
		step := fmt.Sprintf("step %d (%s)", step, name)
		m.check(t, tbl.Snapshot(), step+" in memory")
		loaded, err := Load(ctx, store)
		require.NoError(t, err, step)
		m.check(t, loaded, step+" loaded")
		meta, err := LoadMetadata(ctx, store)
		require.NoError(t, err, step)
		m.check(t, meta, step+" metadata only")
	}
}

// Two OS processes append to one table on local disk. The child mode is
// selected by an environment variable; the test binary re-executes itself.
const childEnv = "DELTA_TEST_CHILD_WRITER"

func TestTwoProcessWriters(t *testing.T) {
	if spec := os.Getenv(childEnv); spec != "" {
		childWriter(t, spec)
		return
	}
	ctx := context.Background()
	dir := t.TempDir()
	store, err := objstore.NewLocal(dir)
	require.NoError(t, err)
	testCreate(t, store, nil, TableOptions{CheckpointInterval: -1})

	const perWriter = 25
	var cmds []*exec.Cmd
	for _, app := range []string{"proc-a", "proc-b"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTwoProcessWriters$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|%d", childEnv, dir, app, perWriter))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		require.NoError(t, cmd.Start())
		cmds = append(cmds, cmd)
	}
	for _, c := range cmds {
		require.NoError(t, c.Wait(), "child writer failed")
	}

	// Versions contiguous, every commit parses, no lost or doubled commit.
	total := int64(2 * perWriter)
	objs, err := store.List(ctx, LogDir, "")
	require.NoError(t, err)
	commits := 0
	for _, o := range objs {
		if len(o.Key) == len(CommitKey(0)) {
			commits++
		}
	}
	assert.Equal(t, int(total)+1, commits)
	rows := map[string]int{}
	for v := int64(1); v <= total; v++ {
		c, err := ReadCommit(ctx, store, v)
		require.NoError(t, err)
		require.Len(t, c.Txns(), 1)
		rows[c.Txns()[0].AppID]++
	}
	assert.Equal(t, map[string]int{"proc-a": perWriter, "proc-b": perWriter}, rows)
	snap, err := Load(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, total, snap.Version())
	assert.Equal(t, int(total), snap.NumFiles())
	for _, app := range []string{"proc-a", "proc-b"} {
		txn, ok := snap.Txn(app)
		require.True(t, ok)
		assert.Equal(t, int64(perWriter), txn.Version)
	}

	// Checkpoint on local disk (read back through the file, not memory).
	require.NoError(t, writeCheckpointDefault(ctx, store, snap))
	for v := int64(0); v <= total; v++ {
		require.NoError(t, store.Delete(ctx, CommitKey(v)))
	}
	again, err := Load(ctx, store)
	require.NoError(t, err)
	snapshotsEqual(t, snap, again)
}

// writeCheckpointDefault writes a checkpoint of s with default options.
func writeCheckpointDefault(ctx context.Context, store objstore.Store, s *Snapshot) error {
	_, err := WriteCheckpoint(ctx, store, s, CheckpointOptions{})
	return err
}

func childWriter(t *testing.T, spec string) {
	var dir, app string
	var n int
	parts := splitSpec(spec)
	require.Len(t, parts, 3)
	dir, app = parts[0], parts[1]
	n, err := strconv.Atoi(parts[2])
	require.NoError(t, err)
	ctx := context.Background()
	store, err := objstore.NewLocal(dir)
	require.NoError(t, err)
	tbl, err := Open(ctx, store, TableOptions{CheckpointInterval: -1, MaxCommitAttempts: 1000, RetryBackoff: time.Millisecond})
	require.NoError(t, err)
	for i := 1; i <= n; i++ {
		tx := tbl.NewTransaction()
		tx.Adds = []Add{newAdd("")}
		tx.SetTxn(app, int64(i))
		_, err := tbl.Commit(ctx, tx)
		require.NoError(t, err)
	}
}

func splitSpec(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '|' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
