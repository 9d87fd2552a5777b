package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/internal/testnet"
)

// binPath is the danube-connect binary built once for these tests, so that the
// CLI is exercised exactly as users run it.
var binPath string

// stampedVersion is the version the test build stamps into the binary.
const stampedVersion = "v0.0.0-clitest"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "danube-connect-cli")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "danube-connect")
	// `make build`: the shipped tags and linker flags, so a binary that
	// builds but cannot start (as an unresolved cgo symbol would make it)
	// fails here.
	build := exec.Command("make", "--no-print-directory", "-C", "../..", "build", "BIN="+binPath, "VERSION="+stampedVersion)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building danube-connect:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Dir = filepath.Join("..", "..") // repository root, so config paths resolve
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestListShowsOurComponents(t *testing.T) {
	out, err := run(t, "list", "--format", "json", "inputs", "outputs", "processors", "metrics")
	require.NoError(t, err, out)
	var listed map[string][]string
	require.NoError(t, json.Unmarshal([]byte(out), &listed), out)
	assert.Contains(t, listed["inputs"], "danube")
	assert.Contains(t, listed["outputs"], "danube")
	assert.Contains(t, listed["outputs"], "clickhouse_async")
	assert.Contains(t, listed["metrics"], "prometheus")
	// Benthos standard components stay available.
	assert.Contains(t, listed["inputs"], "http_server")
	assert.Contains(t, listed["outputs"], "drop")
}

func TestVersionIsStamped(t *testing.T) {
	out, err := run(t, "--version")
	require.NoError(t, err, out)
	assert.Contains(t, out, "Version: "+stampedVersion)
}

// Every runnable example must lint cleanly with our component set.
func TestLintEveryConfig(t *testing.T) {
	root := filepath.Join("..", "..", "config")
	var files []string
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) &&
			!strings.HasSuffix(p, "_benthos_test.yaml") {
			files = append(files, p)
		}
		return nil
	}))
	require.NotEmpty(t, files)
	for _, f := range files {
		rel, _ := filepath.Rel(filepath.Join("..", ".."), f)
		t.Run(rel, func(t *testing.T) {
			// --skip-env-var-check: examples reference secrets such as ${GITHUB_WEBHOOK_SECRET}.
			out, err := run(t, "lint", "--skip-env-var-check", rel)
			assert.NoError(t, err, "lint %s:\n%s", rel, out)
		})
	}
}

func TestConfigUnitTests(t *testing.T) {
	out, err := run(t, "test", "./config/...")
	require.NoError(t, err, out)
	assert.Contains(t, out, "succeeded")
}

func TestEchoScrubsSecrets(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "secret.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`
input:
  danube:
    url: http://127.0.0.1:6650
    topics: [ /default/events ]
    subscription: sub
    token: super-secret-token
output:
  drop: {}
`), 0o600))
	out, err := run(t, "echo", cfg)
	require.NoError(t, err, out)
	assert.NotContains(t, out, "super-secret-token")
	assert.Contains(t, out, "SECRET_SCRUBBED")
}

// startCLI runs danube-connect in the background and stops it at test end.
func startCLI(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() { // keep the pipe drained; show logs when verbose
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			t.Log(s.Text())
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
}

func getUntil(t *testing.T, url string, ok func(status int, body string) bool) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if ok(resp.StatusCode, last) {
				return last
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s never satisfied the condition; last body:\n%s", url, last)
	return ""
}

// Prometheus is the default exporter: no metrics section needed.
func TestPrometheusIsDefaultAndServesMetrics(t *testing.T) {
	addr := testnet.FreeAddr(t)
	cfg := filepath.Join(t.TempDir(), "gen.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`
http:
  address: %s
input:
  generate:
    interval: 10ms
    mapping: 'root = {"n": counter()}'
output:
  drop: {}
`, addr)), 0o600))
	startCLI(t, "run", cfg)
	body := getUntil(t, "http://"+addr+"/metrics", func(status int, body string) bool {
		return status == 200 && strings.Contains(body, "output_sent")
	})
	assert.Contains(t, body, "# TYPE output_sent counter")
	assert.Contains(t, body, "process_resident_memory_bytes")
}

func TestStreamsModeRunsEveryStream(t *testing.T) {
	addr := testnet.FreeAddr(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "root.yaml")
	require.NoError(t, os.WriteFile(root, []byte(fmt.Sprintf("http:\n  address: %s\n", addr)), 0o600))
	streams := filepath.Join(dir, "streams")
	require.NoError(t, os.MkdirAll(streams, 0o755))
	for _, name := range []string{"first", "second"} {
		require.NoError(t, os.WriteFile(filepath.Join(streams, name+".yaml"), []byte(`
input:
  generate:
    interval: 20ms
    mapping: 'root = "x"'
output:
  drop: {}
`), 0o600))
	}
	startCLI(t, "streams", "-o", root, streams)
	body := getUntil(t, "http://"+addr+"/streams", func(status int, body string) bool {
		return status == 200 && strings.Contains(body, "first") && strings.Contains(body, "second")
	})
	assert.Contains(t, body, `"active":true`)
	getUntil(t, "http://"+addr+"/metrics", func(status int, body string) bool {
		return status == 200 && strings.Contains(body, `stream="first"`) && strings.Contains(body, `stream="second"`)
	})
}

// The delta subcommands maintain a table written by the delta_lake output.
func TestDeltaMaintenanceCommands(t *testing.T) {
	table := filepath.Join(t.TempDir(), "events")
	cfg := filepath.Join(t.TempDir(), "gen.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`
input:
  generate:
    count: 400
    interval: ""
    batch_size: 40
    mapping: 'root = {"id": counter(), "name": "event-" + counter().string()}'
output:
  delta_lake:
    path: %s
    flush_period: 1ms
    max_in_flight: 1
    batching: { count: 40 } # ten small commits, so there is something to compact
`, table)), 0o600))
	out, err := run(t, "run", cfg)
	require.NoError(t, err, out)

	out, err = run(t, "delta", "optimize", "--json", "--min-files", "2", table)
	require.NoError(t, err, out)
	var opt struct{ Version, FilesRemoved, FilesAdded int64 }
	require.NoError(t, json.Unmarshal([]byte(out), &opt), out)
	assert.Greater(t, opt.FilesRemoved, int64(1), out)
	assert.Equal(t, int64(1), opt.FilesAdded, out)

	out, err = run(t, "delta", "vacuum", "--json", "--dry-run", "--retention", "0s", "--allow-short-retention", table)
	require.NoError(t, err, out)
	assert.Contains(t, out, ".parquet", "the compacted-away files are vacuum candidates")

	_, err = run(t, "delta", "optimize", filepath.Join(t.TempDir(), "missing"))
	require.Error(t, err, "a missing table is an error")
}
