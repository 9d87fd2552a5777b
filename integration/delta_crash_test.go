package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/danube/client"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

var (
	deltaBinOnce sync.Once
	deltaBinPath string
	deltaBinErr  error
)

// deltaBinary builds ./cmd/danube-connect once for the delta process tests.
func deltaBinary(t *testing.T) string {
	t.Helper()
	deltaBinOnce.Do(func() {
		_, here, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(here), "..")
		dir, err := os.MkdirTemp("", "delta-it-bin")
		if err != nil {
			deltaBinErr = err
			return
		}
		deltaBinPath = filepath.Join(dir, "danube-connect")
		// The deltacrash tag compiles in the kill -9 hook
		// (DANUBE_CONNECT_DELTA_CRASH_AT), which the product binary lacks.
		cmd := exec.Command("go", "build", "-tags", "deltacrash", "-o", deltaBinPath, "./cmd/danube-connect")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			deltaBinErr = fmt.Errorf("building danube-connect: %v\n%s", err, out)
		}
	})
	require.NoError(t, deltaBinErr)
	return deltaBinPath
}

// deltaProcess is one danube-connect run whose logs go to the test log.
type deltaProcess struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
	mu   *sync.Mutex
	done chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startDeltaProcess(t *testing.T, config string, env ...string) *deltaProcess {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(config), 0o600))
	p := &deltaProcess{logs: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	p.cmd = exec.Command(deltaBinary(t), "run", cfgPath)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = lockedWriter{p.mu, p.logs}
	p.cmd.Stderr = lockedWriter{p.mu, p.logs}
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("danube-connect logs:\n%s", p.output())
		}
	})
	return p
}

func (p *deltaProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// stop asks for a graceful shutdown and waits for the exit.
func (p *deltaProcess) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("danube-connect did not stop within 30s")
	}
}

// waitKilled waits until the process died of SIGKILL (the crash test hook).
func (p *deltaProcess) waitKilled(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("the crash hook did not fire within %v", within)
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "want death by SIGKILL, got %v", p.cmd.ProcessState)
}

// deltaTableIDs reads the live files of a table and returns its "id" values.
func deltaTableIDs(t *testing.T, path string) (snapVersion int64, liveFiles int, idList []int64) {
	t.Helper()
	return deltaTableIDsWith(t, path, objstore.Options{})
}

func deltaTableIDsWith(t *testing.T, path string, opts objstore.Options) (snapVersion int64, liveFiles int, idList []int64) {
	t.Helper()
	ctx := context.Background()
	store, err := objstore.Open(ctx, path, opts)
	require.NoError(t, err)
	snap, err := delta.Load(ctx, store)
	if err != nil {
		return -1, 0, nil
	}
	for _, add := range snap.Files() {
		key, err := add.DecodedPath()
		require.NoError(t, err)
		data, err := store.Get(ctx, key)
		require.NoError(t, err)
		rdr, err := file.NewParquetReader(bytes.NewReader(data))
		require.NoError(t, err)
		fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		require.NoError(t, err)
		tbl, err := fr.ReadTable(ctx)
		require.NoError(t, err)
		cols := tbl.Schema().FieldIndices("id")
		require.Len(t, cols, 1)
		for _, chunk := range tbl.Column(cols[0]).Data().Chunks() {
			arr := chunk.(*array.Int64)
			for i := 0; i < arr.Len(); i++ {
				idList = append(idList, arr.Value(i))
			}
		}
		tbl.Release()
	}
	sort.Slice(idList, func(i, j int) bool { return idList[i] < idList[j] })
	return snap.Version(), len(snap.Files()), idList
}

func produceDelta(t *testing.T, url, topic string, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(client.Options{URL: url})
	require.NoError(t, err)
	defer c.Close()
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	for i := from; i < to; i++ {
		_, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte(fmt.Sprintf(`{"id":%d,"body":"event %d"}`, i, i))})
		require.NoError(t, err)
	}
}

func waitSubscribed(t *testing.T, b *danubetest.Broker, topic, sub string) {
	t.Helper()
	require.Eventually(t, func() bool {
		st, ok := b.Stats(topic)
		if !ok {
			return false
		}
		s, ok := st.Subscriptions[sub]
		return ok && s.Streaming > 0
	}, 30*time.Second, 20*time.Millisecond, "the danube input did not subscribe")
}

func deltaCrashConfig(url, topic, table string) string {
	return fmt.Sprintf(`
http:
  enabled: false
logger:
  level: info
input:
  danube:
    url: %s
    topics: [ %q ]
    subscription: delta-writer
    subscription_type: shared
output:
  delta_lake:
    path: %s
    flush_period: 50ms
    writer_id: crash-test
    batching:
      count: 20
      period: 10ms
`, url, topic, table)
}

// runDeltaCrash kills danube-connect (kill -9 via the test hook) at a crash
// point after a few flushes, restarts it, and checks that the table holds
// every produced message exactly once.
func runDeltaCrash(t *testing.T, point string) {
	broker := danubetest.Start(t)
	topic := "/default/delta-crash-" + strings.ReplaceAll(point, "-", "")
	require.NoError(t, broker.CreateTopic(topic, true))
	table := filepath.Join(t.TempDir(), "table")
	cfg := deltaCrashConfig(broker.URL(), topic, table)
	const total = 400

	first := startDeltaProcess(t, cfg, "DANUBE_CONNECT_DELTA_CRASH_AT="+point, "DANUBE_CONNECT_DELTA_CRASH_AFTER=3")
	waitSubscribed(t, broker, topic, "delta-writer")
	produceDelta(t, broker.URL(), topic, 0, total)
	first.waitKilled(t, time.Minute)

	version, live, before := deltaTableIDs(t, table)
	parquet, _ := filepath.Glob(filepath.Join(table, "*.parquet"))
	t.Logf("after the crash at %s: version %d, %d live files, %d parquet files, %d rows", point, version, live, len(parquet), len(before))
	if point == "after-parquet" {
		assert.Greater(t, len(parquet), live, "the crash left the uncommitted file as an orphan")
	}

	second := startDeltaProcess(t, cfg)
	deadline := time.Now().Add(90 * time.Second)
	var got []int64
	for {
		_, _, got = deltaTableIDs(t, table)
		if len(got) >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Let redeliveries that are still in flight settle, then stop cleanly.
	time.Sleep(300 * time.Millisecond)
	second.stop(t)
	_, _, got = deltaTableIDs(t, table)
	want := make([]int64, total)
	for i := range want {
		want[i] = int64(i)
	}
	assert.Equal(t, want, got, "every message exactly once")
	rows, _ := deltaRSNumRows(t, table)
	assert.Equal(t, fmt.Sprint(total), rows, "delta-rs reads the same table")
}

func TestDeltaKill9AfterParquetWrite(t *testing.T) { runDeltaCrash(t, "after-parquet") }

func TestDeltaKill9AfterCommitBeforeAck(t *testing.T) { runDeltaCrash(t, "after-commit") }

// deltaRSNumRows reads a table with delta-rs (the Python deltalake package
// at $DC_PYTHON) and returns its row count and version.
func deltaRSNumRows(t *testing.T, table string) (rows, version string) {
	t.Helper()
	py := os.Getenv("DC_PYTHON")
	if py == "" {
		t.Fatal("DC_PYTHON is not set: the delta-rs reference checks need it. Run `make services` " +
			"(resources/scripts/services.sh up), then `set -a; source ~/.cache/danube-connect/services.env; set +a`")
	}
	_, here, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(here), "..", "resources", "scripts", "delta", "deltacheck.py")
	cmd := exec.Command(py, script, "read", table)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "deltacheck read %s: %s", table, stderr.String())
	var res map[string]any
	require.NoError(t, json.Unmarshal(out, &res), string(out))
	return fmt.Sprint(res["num_rows"]), fmt.Sprint(res["version"])
}
