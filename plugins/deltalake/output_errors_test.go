package deltalake

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore/objstoretest"
)

// TestFailedWriteNamesTableMessageAndCause checks the text Benthos logs
// for a failed write: the table, the first failed message, its cause
// (invalid JSON at a byte offset) and how many more failed.
func TestFailedWriteNamesTableMessageAndCause(t *testing.T) {
	dir := t.TempDir()
	out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 5ms\n", dir))
	batch := service.MessageBatch{
		msg(`{"id":1}`), msg(`{"id":2}`), msg(`{"id": 3,,}`), msg(`not json`), msg(`{"id":"x"}`),
	}
	err := out.WriteBatch(context.Background(), batch)
	require.Error(t, err)
	text := err.Error()
	assert.Contains(t, text, "message 2 of 5")
	assert.Contains(t, text, "table "+dir)
	assert.Contains(t, text, "invalid JSON at byte 9")
	assert.Contains(t, text, "and 2 more of the batch failed: messages 3, 4")
	errs := batchErrors(t, batch, err)
	require.Len(t, errs, 3)
	assert.ErrorContains(t, errs[4], "field id: expected long, got string")
	_, rows := tableRows(t, dir)
	assert.Equal(t, []int64{1, 2}, ids(t, rows))
}

// TestConnectFailsWhenTableIsNotWritable: a path that cannot be created and
// a missing S3 bucket fail Connect with the store's reason.
func TestConnectFailsWhenTableIsNotWritable(t *testing.T) {
	out := newTestOutput(t, "path: /proc/nope/table\n")
	err := out.Connect(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/proc/nope/table")

	if os.Geteuid() != 0 {
		ro := filepath.Join(t.TempDir(), "ro")
		require.NoError(t, os.Mkdir(ro, 0o500))
		out := newTestOutput(t, fmt.Sprintf("path: %s/table\n", ro))
		err := out.Connect(context.Background())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "permission denied")
	}

	location, opts := objstoretest.NewS3Bucket(t)
	missing := strings.Replace(location, "s3://", "s3://no-such-bucket-", 1) + "/events"
	out = newTestOutput(t, fmt.Sprintf("path: %s\n%s", missing, storageYAML(opts)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = out.Connect(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NoSuchBucket")
	assert.Contains(t, err.Error(), missing)

	// A writable location connects, and leaves no probe behind.
	dir := t.TempDir()
	out = newTestOutput(t, fmt.Sprintf("path: %s/table\n", dir))
	require.NoError(t, out.Connect(context.Background()))
	left, err := os.ReadDir(filepath.Join(dir, "table", "_delta_log"))
	require.NoError(t, err)
	assert.Empty(t, left)
}

// TestDeadLetterFallback runs the documented dead-letter pattern: messages
// the table can never take go to the fallback output with the reason, the
// others are committed, nothing is retried forever.
func TestDeadLetterFallback(t *testing.T) {
	dir := t.TempDir()
	dlq := filepath.Join(t.TempDir(), "dead.ndjson")
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	require.NoError(t, sb.AddOutputYAML(fmt.Sprintf(`
fallback:
  - delta_lake:
      path: %s
      flush_period: 5ms
  - file:
      path: %s
      codec: lines
    processors:
      - mapping: |
          root.error = @fallback_error
          root.payload = content().string()
`, dir, dlq)))
	produce, err := sb.AddBatchProducerFunc()
	require.NoError(t, err)
	stream, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx) }()
	require.NoError(t, produce(ctx, service.MessageBatch{msg(`{"id":1}`), msg(`oops`), msg(`{"id":2}`)}))
	require.NoError(t, stream.Stop(ctx))
	<-done
	_, rows := tableRows(t, dir)
	assert.Equal(t, []int64{1, 2}, ids(t, rows))
	data, err := os.ReadFile(dlq)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"payload":"oops"`)
	assert.Contains(t, string(data), "invalid JSON at byte")
}
