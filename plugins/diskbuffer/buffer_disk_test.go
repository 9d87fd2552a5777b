package diskbuffer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/danube-connect/danube-connect/internal/testmetrics"
	_ "github.com/danube-connect/danube-connect/plugins/danube"
	_ "github.com/danube-connect/danube-connect/plugins/deltalake"
	_ "github.com/danube-connect/danube-connect/plugins/webhook"
)

// collector records what reaches the output of a test stream.
type collector struct {
	mu   sync.Mutex
	msgs []*service.Message
	fail func(*service.Message) error
}

func (c *collector) handle(_ context.Context, m *service.Message) error {
	if c.fail != nil {
		if err := c.fail(m); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	return nil
}

func (c *collector) payloads() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.msgs))
	for i, m := range c.msgs {
		b, _ := m.AsBytes()
		out[i] = string(b)
	}
	return out
}

// buildStream runs `input` through `buffer` (YAML of each component) into c.
func buildStream(t *testing.T, input, buffer string, c *collector) *service.Stream {
	t.Helper()
	b := service.NewStreamBuilder()
	require.NoError(t, b.SetLoggerYAML("level: warn"))
	require.NoError(t, b.AddInputYAML(input))
	require.NoError(t, b.SetBufferYAML(buffer))
	require.NoError(t, b.AddConsumerFunc(c.handle))
	s, err := b.Build()
	require.NoError(t, err)
	return s
}

func TestStreamDeliversEveryMessageWithTypedMetadataAndEnds(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "buf")
	c := &collector{}
	s := buildStream(t, `
generate:
  count: 500
  interval: ""
  batch_size: 7
  mapping: |
    root = {"id": counter()}
    meta danube_topic = "/default/t-part-0"
    meta danube_offset = (counter() - 1).string()
    meta as_int = 42
    meta as_bool = true
    meta as_obj = {"a": [1, "x"]}
`, fmt.Sprintf(`
disk:
  path: %s
  read_max_messages: 64
`, dir), c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, s.Run(ctx), "a finite input ends the stream through the buffer")

	got := c.payloads()
	require.Len(t, got, 500)
	for i, p := range got {
		assert.Equal(t, fmt.Sprintf(`{"id":%d}`, i+1), p, "order is kept")
	}
	m := c.msgs[10]
	off, _ := m.MetaGet("danube_offset")
	assert.Equal(t, "10", off)
	topic, _ := m.MetaGet("danube_topic")
	assert.Equal(t, "/default/t-part-0", topic)
	v, ok := m.MetaGetMut("as_int")
	assert.True(t, ok)
	assert.Equal(t, int64(42), v, "typed metadata keeps its type")
	v, _ = m.MetaGetMut("as_bool")
	assert.Equal(t, true, v)
	v, _ = m.MetaGetMut("as_obj")
	assert.Equal(t, map[string]any{"a": []any{1.0, "x"}}, v)

	// Everything was acknowledged, so a second run starts empty.
	buf := openBuffer(t, dir, "")
	st := buf.q.Stats()
	assert.Zero(t, st.Entries)
	require.NoError(t, buf.Close(context.Background()))
}

func TestStreamRedeliversRejectedMessages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "buf")
	var mu sync.Mutex
	rejected := map[string]int{}
	c := &collector{fail: func(m *service.Message) error {
		b, _ := m.AsBytes()
		mu.Lock()
		defer mu.Unlock()
		if strings.HasSuffix(string(b), "7}") && rejected[string(b)] < 2 {
			rejected[string(b)]++
			return errors.New("sink says no")
		}
		return nil
	}}
	s := buildStream(t, `
generate:
  count: 100
  interval: ""
  mapping: 'root = {"id": counter()}'
`, fmt.Sprintf(`
disk:
  path: %s
  redelivery_delay: 10ms
  read_max_messages: 1 # a rejected read batch comes back whole: one message per batch keeps this exact
`, dir), c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, s.Run(ctx))
	got := c.payloads()
	sort.Strings(got)
	want := make([]string, 100)
	for i := range want {
		want[i] = fmt.Sprintf(`{"id":%d}`, i+1)
	}
	sort.Strings(want)
	assert.Equal(t, want, got, "every rejected message came back until it was accepted, none twice")
	assert.Len(t, rejected, 10)
}

// TestStreamRestartReadsWhatTheOutputDidNotAcknowledge stops a stream whose
// output rejects everything, then runs a second stream on the same
// directory: it receives all of it.
func TestStreamRestartReadsWhatTheOutputDidNotAcknowledge(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "buf")
	stuck := &collector{fail: func(*service.Message) error { return errors.New("down") }}
	s1 := buildStream(t, `
generate:
  count: 50
  interval: ""
  mapping: |
    root = {"id": counter()}
    meta danube_offset = counter().string()
`, fmt.Sprintf(`
disk:
  path: %s
  redelivery_delay: 50ms
`, dir), stuck)
	done := make(chan error, 1)
	go func() { done <- s1.Run(context.Background()) }()
	// The buffer acknowledges the input once the batches are on disk, so
	// generate finishes even though nothing gets out.
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, s1.StopWithin(2*time.Second))
	<-done

	c := &collector{}
	s2 := buildStream(t, `
generate:
  count: 1
  interval: ""
  mapping: 'root = {"id": 0}'
`, fmt.Sprintf(`
disk:
  path: %s
`, dir), c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, s2.Run(ctx))
	got := c.payloads()
	require.Len(t, got, 51)
	for i := 0; i < 50; i++ {
		assert.Equal(t, fmt.Sprintf(`{"id":%d}`, i+1), got[i], "the stored backlog comes first, in order")
	}
	assert.Equal(t, `{"id":0}`, got[50])
	off, _ := c.msgs[4].MetaGet("danube_offset")
	assert.Equal(t, "5", off)
}

func mustParse(t *testing.T, dir, extra string) *service.ParsedConfig {
	t.Helper()
	conf, err := diskBufferSpec().ParseYAML(fmt.Sprintf("path: %s\n%s", dir, extra), nil)
	require.NoError(t, err)
	return conf
}

func openBuffer(t *testing.T, dir, extra string) *diskBuffer {
	t.Helper()
	c, err := diskBufferConfigFromParsed(mustParse(t, dir, extra))
	require.NoError(t, err)
	b, err := newDiskBuffer(c, service.MockResources())
	require.NoError(t, err)
	return b
}

func TestSecondBufferOnTheSameDirectoryFails(t *testing.T) {
	dir := t.TempDir()
	first := openBuffer(t, dir, "")
	defer first.Close(context.Background())
	c, err := diskBufferConfigFromParsed(mustParse(t, dir, "lock_timeout: 100ms"))
	require.NoError(t, err)
	start := time.Now()
	_, err = newDiskBuffer(c, service.MockResources())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "in use by another process")
	assert.Contains(t, err.Error(), "directory "+dir+" stayed locked")
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestWriteAcksInputOnlyAfterCommitAndBlocksWhenFull(t *testing.T) {
	b := openBuffer(t, t.TempDir(), "max_bytes: 300B")
	defer b.Close(context.Background())
	acked := make(chan error, 10)
	ack := func(_ context.Context, err error) error { acked <- err; return nil }
	msg := service.NewMessage(make([]byte, 100))
	msg.MetaSetMut("danube_offset", "1")
	require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{msg}, ack))
	require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{msg.Copy()}, ack))
	for i := 0; i < 2; i++ {
		select {
		case err := <-acked:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("the input was not acknowledged after the commit")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := b.WriteBatch(ctx, service.MessageBatch{msg.Copy()}, ack)
	require.ErrorIs(t, err, context.DeadlineExceeded, "a full buffer makes the input wait")

	batch, ackFn, err := b.ReadBatch(context.Background())
	require.NoError(t, err)
	require.Len(t, batch, 2)
	off, _ := batch[1].MetaGet("danube_offset")
	assert.Equal(t, "1", off)
	require.NoError(t, ackFn(context.Background(), nil))
	require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{msg.Copy()}, ack), "acknowledged messages free space")

	err = b.WriteBatch(context.Background(), service.MessageBatch{service.NewMessage(make([]byte, 400))}, ack)
	assert.ErrorContains(t, err, "larger than the queue's size limit")
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for extra, want := range map[string]string{
		"max_bytes: lots":        "max_bytes",
		"read_max_bytes: 0":      "read_max_bytes",
		"read_max_messages: 0\n": "read_max_messages",
	} {
		conf, err := diskBufferSpec().ParseYAML("path: /tmp/x\n"+extra, nil)
		require.NoError(t, err)
		_, err = diskBufferConfigFromParsed(conf)
		assert.ErrorContains(t, err, want, extra)
	}
}

func TestLintRules(t *testing.T) {
	env := service.NewEnvironment()
	for yaml, want := range map[string]string{
		"buffer:\n  disk:\n    path: \"\"\n":                        "path must name a directory",
		"buffer:\n  disk:\n    path: x\n    read_max_messages: 0\n": "read_max_messages must be at least 1",
	} {
		b := env.NewStreamBuilder()
		err := b.SetYAML(yaml)
		require.Error(t, err, yaml)
		assert.Contains(t, err.Error(), want)
	}
}

func TestSpecExamplesLint(t *testing.T) {
	env := service.NewEnvironment()
	var examples []string
	env.WalkBuffers(func(name string, cfg *service.ConfigView) {
		if name != "disk" {
			return
		}
		data, err := cfg.FormatJSON()
		require.NoError(t, err)
		var spec struct {
			Description string `json:"description"`
			Examples    []struct {
				Config string `json:"config"`
			} `json:"examples"`
		}
		require.NoError(t, json.Unmarshal(data, &spec))
		assert.Contains(t, spec.Description, "== Delivery guarantees")
		assert.Contains(t, spec.Description, "== When to use it")
		for _, ex := range spec.Examples {
			examples = append(examples, ex.Config)
		}
	})
	require.Len(t, examples, 2, "the disk buffer is registered with its examples")
	for _, ex := range examples {
		assert.NoError(t, env.NewStreamBuilder().SetYAML(ex), ex)
	}
}

func TestMetricsCountWhatPassesThrough(t *testing.T) {
	mm := testmetrics.New()
	env := service.NewEnvironment()
	require.NoError(t, env.RegisterMetricsExporter("disk_buffer_test_metrics", service.NewConfigSpec(),
		func(*service.ParsedConfig, *service.Logger) (service.MetricsExporter, error) { return mm, nil }))
	b := env.NewStreamBuilder()
	require.NoError(t, b.SetLoggerYAML("level: warn"))
	require.NoError(t, b.SetMetricsYAML("disk_buffer_test_metrics: {}"))
	require.NoError(t, b.AddInputYAML(`
generate:
  count: 300
  interval: ""
  batch_size: 10
  mapping: 'root = "x".repeat(100)'
`))
	require.NoError(t, b.SetBufferYAML(fmt.Sprintf("disk:\n  path: %s\n  redelivery_delay: 1ms\n", t.TempDir())))
	var once sync.Once
	require.NoError(t, b.AddBatchConsumerFunc(func(_ context.Context, batch service.MessageBatch) error {
		var err error
		once.Do(func() { err = errors.New("first batch fails") })
		if err == nil {
			time.Sleep(5 * time.Millisecond) // let the depth build up
		}
		return err
	}))
	s, err := b.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, s.Run(ctx))

	assert.EqualValues(t, 300, mm.Get("disk_buffer_written{}"))
	assert.EqualValues(t, 300, mm.Get("disk_buffer_acked{}"))
	assert.GreaterOrEqual(t, mm.Get("disk_buffer_read{}"), int64(301), "the rejected batch was read twice")
	assert.Positive(t, mm.Get("disk_buffer_nacked{}"))
	assert.Positive(t, mm.Get("disk_buffer_commits{}"))
	assert.Positive(t, mm.Get("disk_buffer_commit_latency_ns{}"))
	assert.Zero(t, mm.Get("disk_buffer_errors{}"))
	assert.Zero(t, mm.Get("disk_buffer_depth_messages{}"), "empty at the end")
	assert.Zero(t, mm.Get("disk_buffer_depth_bytes{}"))
	assert.Greater(t, mm.MaxGauge("disk_buffer_depth_messages{}"), int64(10), "the depth rose while the output was slow")
	assert.Greater(t, mm.MaxGauge("disk_buffer_depth_bytes{}"), int64(1000))
}
