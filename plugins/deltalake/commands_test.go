package deltalake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"
)

func runDeltaCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	app := &cli.App{Name: "danube-connect", Commands: Commands(), Writer: &out, ErrWriter: &out}
	err := app.Run(append([]string{"danube-connect"}, args...))
	return out.String(), err
}

func TestCommandsOptimizeAndVacuum(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "table")
	out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 1ms\n", dir))
	for i := 0; i < 5; i++ {
		require.NoError(t, out.WriteBatch(context.Background(), service.MessageBatch{msg(fmt.Sprintf(`{"id":%d}`, i))}))
	}
	require.NoError(t, out.Close(context.Background()))
	// An orphan, as a crash between file upload and commit leaves.
	orphan := filepath.Join(dir, "part-00000-orphan-c000.zstd.parquet")
	require.NoError(t, os.WriteFile(orphan, []byte("PAR1"), 0o600))
	old := time.Now().Add(-2 * time.Hour)
	require.NoError(t, os.Chtimes(orphan, old, old))

	text, err := runDeltaCLI(t, "delta", "optimize", "--json", dir)
	require.NoError(t, err, text)
	var opt map[string]any
	require.NoError(t, json.Unmarshal([]byte(text), &opt), text)
	assert.EqualValues(t, 5, opt["FilesRemoved"])
	assert.EqualValues(t, 1, opt["FilesAdded"])

	text, err = runDeltaCLI(t, "delta", "vacuum", "--retention", "1h", "--allow-short-retention", "--dry-run", dir)
	require.NoError(t, err, text)
	assert.Contains(t, text, "would delete 1 files")
	assert.Contains(t, text, "part-00000-orphan-c000.zstd.parquet")
	_, err = os.Stat(orphan)
	require.NoError(t, err, "dry run deletes nothing")

	text, err = runDeltaCLI(t, "delta", "vacuum", "--retention", "1h", "--allow-short-retention", dir)
	require.NoError(t, err, text)
	assert.Contains(t, text, "deleted 1 files")
	_, err = os.Stat(orphan)
	assert.True(t, os.IsNotExist(err))

	_, rows := tableRows(t, dir)
	assert.Equal(t, seq(0, 4), ids(t, rows))

	_, err = runDeltaCLI(t, "delta", "vacuum", "--retention", "1h", dir)
	assert.ErrorContains(t, err, "--allow-short-retention")
	_, err = runDeltaCLI(t, "delta", "vacuum")
	assert.ErrorContains(t, err, "table location")
}
