package danube

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/danube-connect/danube-connect/plugins/danube/client"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
)

var testTopicSeq struct {
	sync.Mutex
	n int
}

func testTopic(t testing.TB) string {
	testTopicSeq.Lock()
	testTopicSeq.n++
	n := testTopicSeq.n
	testTopicSeq.Unlock()
	name := strings.NewReplacer("/", "-", " ", "-", "_", "-").Replace(t.Name())
	return fmt.Sprintf("/default/%s-%d-%d", name, time.Now().UnixNano()%1e9, n)
}

func newTestOutput(t *testing.T, yaml string) *danubeOutput {
	t.Helper()
	pc, err := danubeOutputSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	oc, err := outputConfigFromParsed(pc, nil)
	require.NoError(t, err)
	out := newDanubeOutput(oc, service.MockResources())
	t.Cleanup(func() { _ = out.Close(context.Background()) })
	return out
}

func newTestInput(t *testing.T, yaml string) *danubeInput {
	t.Helper()
	pc, err := danubeInputSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	ic, err := inputConfigFromParsed(pc, nil)
	require.NoError(t, err)
	in := newDanubeInput(ic, service.MockResources())
	t.Cleanup(func() { _ = in.Close(context.Background()) })
	return in
}

const fastBackoff = `
backoff: { initial_interval: 10ms, max_interval: 100ms, max_retries: 5 }
health_check_interval: 100ms
`

func TestOutputLintRules(t *testing.T) {
	linter := service.GlobalEnvironment().NewComponentConfigLinter()
	for _, tc := range []struct {
		name, yaml, lint string
	}{
		{"minimal", `danube: { url: "http://127.0.0.1:6650", topic: /default/t }`, ""},
		{"full", `
danube:
  url: http://127.0.0.1:6650
  topic: '/default/${! meta("k") }'
  producer_name: p
  dispatch_strategy: non_reliable
  partitions: 3
  routing_key: '${! meta("key") }'
  schema: { subject: orders, min_version: 2 }
  metadata: { exclude_prefixes: [ "_" ] }
  max_in_flight: 8
  batching: { count: 10, period: 5ms }
  tls: { enabled: true, ca_file: ca.pem }
  token: abc
  backoff: { initial_interval: 1s, max_interval: 5s, max_retries: 3 }
`, ""},
		{"both versions", `danube: { url: x, topic: /default/t, schema: { subject: s, version: 1, min_version: 2 } }`, "at most one"},
		{"negative partitions", `danube: { url: x, topic: /default/t, partitions: -1 }`, "negative"},
		{"bad dispatch", `danube: { url: x, topic: /default/t, dispatch_strategy: sometimes }`, "sometimes"},
		{"missing topic", `danube: { url: x }`, "topic"},
		{"cert without key", `danube: { url: x, topic: /default/t, tls: { cert_file: c.pem } }`, "key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lints, err := linter.LintOutputYAML([]byte(tc.yaml))
			require.NoError(t, err)
			if tc.lint == "" {
				assert.Empty(t, lints)
				return
			}
			require.NotEmpty(t, lints)
			assert.Contains(t, fmt.Sprint(lints), tc.lint)
		})
	}
}

func TestOutputConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, errContains string }{
		{"invalid static topic", `{url: x, topic: "default/t"}`, "invalid format"},
		{"version without subject", `{url: x, topic: /default/t, schema: { version: 2 }}`, "subject"},
		{"both versions", `{url: x, topic: /default/t, schema: { subject: s, version: 1, min_version: 1 }}`, "at most one"},
		{"empty url", `{url: "", topic: /default/t}`, "url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc, err := danubeOutputSpec().ParseYAML(tc.yaml, nil)
			require.NoError(t, err)
			_, err = outputConfigFromParsed(pc, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.errContains)
		})
	}
	pc, err := danubeOutputSpec().ParseYAML(`{url: x, topic: /default/t}`, nil)
	require.NoError(t, err)
	oc, err := outputConfigFromParsed(pc, nil)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(oc.producerName, "danube-connect-"), oc.producerName)
	assert.Equal(t, client.DispatchReliable, oc.dispatch, "reliable is the default")
}

func TestOutputSendsBatchAndSetsAttributes(t *testing.T) {
	url, _ := danubetest.BrokerURL(t, danubetest.Options{MaxUnacked: 1000})
	topic := testTopic(t)
	out := newTestOutput(t, fmt.Sprintf(`
url: %s
topic: %s
routing_key: '${! meta("key") }'
partitions: 2
%s`, url, topic, fastBackoff))
	ctx := context.Background()
	require.NoError(t, out.Connect(ctx))

	c, err := client.New(client.Options{URL: url})
	require.NoError(t, err)
	defer c.Close()
	cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "check"})
	require.NoError(t, err)

	var batch service.MessageBatch
	for i := range 50 {
		m := service.NewMessage([]byte(strconv.Itoa(i)))
		m.MetaSetMut("key", "k"+strconv.Itoa(i%5))
		m.MetaSetMut("danube_offset", "999") // stale input metadata is not forwarded
		batch = append(batch, m)
	}
	require.NoError(t, out.WriteBatch(ctx, batch))

	seen := map[string]bool{}
	for range 50 {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := cons.Receive(rctx)
		cancel()
		require.NoError(t, err)
		require.NoError(t, cons.Ack(ctx, m))
		seen[string(m.Payload)] = true
		assert.Equal(t, m.RoutingKey, m.Attributes["key"])
		assert.NotContains(t, m.Attributes, "danube_offset")
		assert.Equal(t, client.PartitionTopic(topic, client.PartitionForKey(m.RoutingKey, 2)), m.Topic)
	}
	assert.Len(t, seen, 50)
}

func TestOutputPermanentFailureFailsOnlyThatMessage(t *testing.T) {
	b := danubetest.Start(t)
	good := testTopic(t)
	out := newTestOutput(t, fmt.Sprintf(`
url: %s
topic: '${! meta("topic") }'
%s`, b.URL(), fastBackoff))
	ctx := context.Background()
	require.NoError(t, out.Connect(ctx))

	batch := service.MessageBatch{
		service.NewMessage([]byte("ok-1")),
		service.NewMessage([]byte("bad")),
		service.NewMessage([]byte("ok-2")),
	}
	batch[0].MetaSetMut("topic", good)
	batch[1].MetaSetMut("topic", "/default/not a topic")
	batch[2].MetaSetMut("topic", good)
	err := out.WriteBatch(ctx, batch)
	require.Error(t, err)
	var bErr *service.BatchError
	require.ErrorAs(t, err, &bErr)
	assert.Equal(t, 1, bErr.IndexedErrors())
	bErr.WalkMessagesIndexedBy(batch.Index(), func(i int, _ *service.Message, merr error) bool {
		if i == 1 {
			require.Error(t, merr)
			assert.Contains(t, merr.Error(), "/default/not a topic")
			assert.True(t, client.IsPermanent(merr))
		} else {
			assert.NoError(t, merr)
		}
		return true
	})
	st, ok := b.Stats(good)
	require.True(t, ok)
	assert.EqualValues(t, 2, st.Messages)

	// A permission denial from the broker is permanent as well.
	b.FailNext("SendMessage", codes.PermissionDenied, 2) // initial try + the re-creation retry
	err = out.WriteBatch(ctx, service.MessageBatch{batch[0]})
	require.ErrorAs(t, err, &bErr)
	assert.Contains(t, err.Error(), good)
}

func TestOutputRetriesUnavailableAndReportsNotConnected(t *testing.T) {
	b := danubetest.Start(t)
	topic := testTopic(t)
	out := newTestOutput(t, fmt.Sprintf(`
url: %s
topic: %s
backoff: { initial_interval: 5ms, max_interval: 20ms, max_retries: 3 }
`, b.URL(), topic))
	ctx := context.Background()
	require.NoError(t, out.Connect(ctx))

	b.FailNext("SendMessage", codes.Unavailable, 2)
	require.NoError(t, out.WriteBatch(ctx, service.MessageBatch{service.NewMessage([]byte("retried"))}))

	b.Stop()
	err := out.WriteBatch(ctx, service.MessageBatch{service.NewMessage([]byte("down"))})
	assert.ErrorIs(t, err, service.ErrNotConnected)
	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	assert.Error(t, out.Connect(cctx), "connect fails while the broker is down")
	cancel()

	require.NoError(t, b.Restart())
	require.Eventually(t, func() bool { return out.Connect(ctx) == nil }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, out.WriteBatch(ctx, service.MessageBatch{service.NewMessage([]byte("back"))}))
	st, ok := b.Stats(topic)
	require.True(t, ok)
	assert.EqualValues(t, 2, st.Messages, "the send of the down period was not acknowledged")
}

func TestOutputConnectSurfacesAuthFailure(t *testing.T) {
	b := danubetest.Start(t, danubetest.Options{Auth: &danubetest.AuthOptions{Secret: []byte("k")}})
	out := newTestOutput(t, fmt.Sprintf("url: %s\ntopic: /default/t\n%s", b.URL(), fastBackoff))
	err := out.Connect(context.Background())
	require.Error(t, err)
	assert.True(t, client.IsPermanent(err), "%v", err)
	assert.Contains(t, err.Error(), "/default/t")

	tok, err := danubetest.MintToken([]byte("k"), "svc", time.Hour)
	require.NoError(t, err)
	ok := newTestOutput(t, fmt.Sprintf("url: %s\ntopic: /default/t\ntoken: %s\n%s", b.URL(), tok, fastBackoff))
	require.NoError(t, ok.Connect(context.Background()))
}

func TestOutputProducerCacheIsBounded(t *testing.T) {
	b := danubetest.Start(t)
	out := newTestOutput(t, fmt.Sprintf(`
url: %s
topic: '${! meta("topic") }'
max_producers: 2
%s`, b.URL(), fastBackoff))
	ctx := context.Background()
	require.NoError(t, out.Connect(ctx))
	base := testTopic(t)
	for i := range 5 {
		m := service.NewMessage([]byte("x"))
		m.MetaSetMut("topic", base+strconv.Itoa(i))
		require.NoError(t, out.WriteBatch(ctx, service.MessageBatch{m}))
	}
	out.producers.mu.Lock()
	n := len(out.producers.entries)
	out.producers.mu.Unlock()
	assert.LessOrEqual(t, n, 2)
	require.NoError(t, out.Close(ctx))
	require.NoError(t, out.Close(ctx), "Close is idempotent")
	assert.Error(t, out.WriteBatch(ctx, service.MessageBatch{service.NewMessage(nil)}))
	assert.False(t, errors.Is(out.Connect(ctx), nil))
}

func TestInputOutputCloseLeaveNoGoroutines(t *testing.T) {
	b := danubetest.Start(t)
	topic := testTopic(t)
	createTopic(t, b.URL(), topic, 2)
	ctx := context.Background()
	time.Sleep(50 * time.Millisecond)
	base := runtime.NumGoroutine()
	for range 2 {
		out := newTestOutput(t, fmt.Sprintf("url: %s\ntopic: %s\npartitions: 2\n%s", b.URL(), topic, fastBackoff))
		in := newTestInput(t, fmt.Sprintf("url: %s\ntopics: [ %s ]\nsubscription: leak\n%s", b.URL(), topic, fastBackoff))
		require.NoError(t, in.Connect(ctx))
		require.NoError(t, out.Connect(ctx))
		require.NoError(t, out.WriteBatch(ctx, service.MessageBatch{service.NewMessage([]byte("x"))}))
		_, ack := readBatch(t, in)
		require.NoError(t, ack(ctx, nil))
		time.Sleep(250 * time.Millisecond) // health checks run
		require.NoError(t, out.Close(ctx))
		require.NoError(t, in.Close(ctx))
		require.NoError(t, in.Close(ctx), "Close is idempotent")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutine leak: %d > %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOutputWriteRacingCloseNeverHangs: batches written while the output
// closes are either sent or fail with ErrClosed; none waits forever on the
// send queue.
func TestOutputWriteRacingCloseNeverHangs(t *testing.T) {
	b := danubetest.Start(t)
	topic := testTopic(t)
	out := newTestOutput(t, fmt.Sprintf("url: %s\ntopic: %s\nmax_in_flight: 2\n%s", b.URL(), topic, fastBackoff))
	ctx := context.Background()
	require.NoError(t, out.Connect(ctx))
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make(service.MessageBatch, 30)
			for i := range batch {
				batch[i] = service.NewMessage([]byte("m"))
			}
			if err := out.WriteBatch(ctx, batch); err != nil {
				var bErr *service.BatchError
				if errors.As(err, &bErr) {
					bErr.WalkMessagesIndexedBy(batch.Index(), func(_ int, _ *service.Message, err error) bool {
						assert.ErrorIs(t, err, client.ErrClosed)
						return true
					})
				}
			}
		}()
	}
	require.NoError(t, out.Close(ctx))
	written := make(chan struct{})
	go func() { wg.Wait(); close(written) }()
	select {
	case <-written:
	case <-time.After(30 * time.Second):
		t.Fatal("a batch written during Close never returned")
	}
}

// TestOutputCloseDoesNotWaitOutSendBackoff: sends retrying against a stopped
// broker (here with an hour-long backoff) must not hold Close.
func TestOutputCloseDoesNotWaitOutSendBackoff(t *testing.T) {
	b := danubetest.Start(t)
	topic := testTopic(t)
	out := newTestOutput(t, fmt.Sprintf("url: %s\ntopic: %s\nbackoff: { initial_interval: 1h, max_interval: 1h, max_retries: 3 }\n", b.URL(), topic))
	var retries atomic.Int64
	out.conf.client.OnRetry = func(error) { retries.Add(1) }
	ctx := context.Background()
	require.NoError(t, out.Connect(ctx))
	b.Stop()
	written := make(chan error, 1)
	go func() {
		written <- out.WriteBatch(ctx, service.MessageBatch{service.NewMessage([]byte("a")), service.NewMessage([]byte("b"))})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for retries.Load() < 2 {
		require.False(t, time.Now().After(deadline), "both sends should be waiting in their retry backoff")
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() {
		_ = out.Close(ctx)
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close waited for the sends' one-hour retry backoff")
	}
	select {
	case err := <-written:
		require.Error(t, err, "the sends could not reach the stopped broker")
	case <-time.After(30 * time.Second):
		t.Fatal("WriteBatch did not end when the output closed")
	}
}

// When the write is cancelled (shutdown) after part of a batch reached the
// broker, only the unsent messages fail, so only they are sent again.
func TestOutputCancelledWriteFailsOnlyUnsentMessages(t *testing.T) {
	b := danubetest.Start(t)
	topic := testTopic(t)
	out := newTestOutput(t, fmt.Sprintf("url: %s\ntopic: %s\nbackoff: { initial_interval: 1h, max_interval: 1h, max_retries: 3 }\n", b.URL(), topic))
	var retries atomic.Int64
	out.conf.client.OnRetry = func(error) { retries.Add(1) }
	require.NoError(t, out.Connect(context.Background()))

	// The first send fails and waits in its one-hour backoff; the others
	// go through.
	b.FailNext("SendMessage", codes.Unavailable, 1)
	batch := service.MessageBatch{
		service.NewMessage([]byte("a")), service.NewMessage([]byte("b")), service.NewMessage([]byte("c")),
	}
	ctx, cancel := context.WithCancel(context.Background())
	written := make(chan error, 1)
	go func() { written <- out.WriteBatch(ctx, batch) }()
	require.Eventually(t, func() bool {
		st, ok := b.Stats(topic)
		return retries.Load() == 1 && ok && st.Messages == 2
	}, 10*time.Second, 5*time.Millisecond)
	// The broker has stored both; give their answers time to reach the
	// client on a loaded machine (a send whose answer is still on the wire
	// when the write is cancelled fails too, which is correct but not what
	// this test is about).
	time.Sleep(300 * time.Millisecond)
	cancel()

	var err error
	select {
	case err = <-written:
	case <-time.After(10 * time.Second):
		t.Fatal("WriteBatch did not end when its context was cancelled")
	}
	var bErr *service.BatchError
	require.ErrorAs(t, err, &bErr, "a cancelled write that sent some messages must say which failed")
	assert.Equal(t, 1, bErr.IndexedErrors())
}
