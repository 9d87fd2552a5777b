package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/danube-connect/danube-connect/internal/testnet"
	_ "github.com/danube-connect/danube-connect/plugins/danube"
	"github.com/danube-connect/danube-connect/plugins/danube/danubepb"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
)

// danubeFast are client settings that make recovery quick in tests.
const danubeFast = `
    backoff: { initial_interval: 10ms, max_interval: 200ms, max_retries: 1000 }
    health_check_interval: 200ms`

// danubeIDSet records the distinct "id" values a consumer has seen.
type danubeIDSet struct {
	mu    sync.Mutex
	seen  map[int64]int
	total atomic.Int64
}

func newDanubeIDSet() *danubeIDSet { return &danubeIDSet{seen: map[int64]int{}} }

func (s *danubeIDSet) add(payload []byte) error {
	var doc struct {
		ID *int64 `json:"id"`
	}
	if err := json.Unmarshal(payload, &doc); err != nil || doc.ID == nil {
		return fmt.Errorf("parsing id of %q: %v", payload, err)
	}
	s.mu.Lock()
	s.seen[*doc.ID]++
	s.mu.Unlock()
	s.total.Add(1)
	return nil
}

func (s *danubeIDSet) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// missing lists ids in [from, to] not seen (at most 20).
func (s *danubeIDSet) missing(from, to int64) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int64
	for i := from; i <= to && len(out) < 20; i++ {
		if s.seen[i] == 0 {
			out = append(out, i)
		}
	}
	return out
}

// runDanubeStream builds and runs a stream until the test ends.
func runDanubeStream(t *testing.T, build func(sb *service.StreamBuilder)) (stop func()) {
	t.Helper()
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: warn"))
	build(sb)
	strm, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := strm.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("stream ended: %v", err)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = strm.StopWithin(20 * time.Second)
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

// danubeConsume runs danube input → consumer func into set.
func danubeConsume(t *testing.T, url, topic, sub string, set *danubeIDSet) (stop func()) {
	return runDanubeStream(t, func(sb *service.StreamBuilder) {
		require.NoError(t, sb.AddInputYAML(fmt.Sprintf(`
danube:
    url: %s
    topics: [ %s ]
    subscription: %s
    subscription_type: exclusive
    consumer_name: e2e-consumer%s
`, url, topic, sub, danubeFast)))
		require.NoError(t, sb.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
			b, err := m.AsBytes()
			if err != nil {
				return err
			}
			return set.add(b)
		}))
	})
}

// danubeWaitStreaming waits until a subscription has an open consumer stream.
func danubeWaitStreaming(t *testing.T, b *danubetest.Broker, topic, sub string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, ok := b.Stats(topic)
		if ok && st.Subscriptions[sub].Streaming > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no consumer stream on %s/%s within 30s (stats %+v)", topic, sub, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// danubeWaitFor polls cond until it holds or the deadline passes.
func danubeWaitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDanubeE2E100kAcrossBrokerRestart: generate → danube output →
// danubetest → danube input delivers 100,000 messages with none missing,
// although the broker restarts mid-stream (reliable dispatch).
func TestDanubeE2E100kAcrossBrokerRestart(t *testing.T) {
	n := 100000
	if danubeRaceEnabled {
		n = 20000 // same path, less volume: the race detector is 5-10x slower
	}
	b := danubetest.Start(t, danubetest.Options{MaxUnacked: 1000})
	const topic, sub = "/default/e2e-100k", "e2e"
	require.NoError(t, b.CreateTopic(topic, true))

	set := newDanubeIDSet()
	danubeConsume(t, b.URL(), topic, sub, set)
	danubeWaitStreaming(t, b, topic, sub)

	runDanubeStream(t, func(sb *service.StreamBuilder) {
		require.NoError(t, sb.AddInputYAML(fmt.Sprintf(`
generate:
  count: %d
  interval: ""
  batch_size: 100
  mapping: 'root = {"id": count("e2e-100k") - 1, "pad": "0123456789abcdef"}'
`, n)))
		require.NoError(t, sb.AddOutputYAML(fmt.Sprintf(`
danube:
    url: %s
    topic: %s
    producer_name: e2e-producer
    max_in_flight: 64%s
`, b.URL(), topic, danubeFast)))
	})

	danubeWaitFor(t, 60*time.Second, "30% of the messages before the restart", func() bool { return set.distinct() >= n*3/10 })
	require.NoError(t, b.Restart())
	t.Logf("broker restarted after %d distinct messages", set.distinct())

	danubeWaitFor(t, 120*time.Second, "all messages after the restart", func() bool { return set.distinct() == n })
	require.Empty(t, set.missing(0, int64(n-1)))
	t.Logf("received %d messages (%d redelivered) for %d distinct ids", set.total.Load(), set.total.Load()-int64(n), n)
	st, _ := b.Stats(topic)
	require.GreaterOrEqual(t, st.Messages, uint64(n), "every message stored once at least")
}

// TestDanubeInvalidTopicName: a bad topic name fails the message with an
// error naming the topic, without stopping the stream; the input rejects a bad
// name at config time.
func TestDanubeInvalidTopicName(t *testing.T) {
	b := danubetest.Start(t)
	var produce service.MessageHandlerFunc
	runDanubeStream(t, func(sb *service.StreamBuilder) {
		var err error
		produce, err = sb.AddProducerFunc()
		require.NoError(t, err)
		require.NoError(t, sb.AddOutputYAML(fmt.Sprintf(`
danube:
    url: %s
    topic: '${! meta("topic") }'%s
`, b.URL(), danubeFast)))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bad := service.NewMessage([]byte(`{"id":1}`))
	bad.MetaSetMut("topic", "/default/bad.name")
	err := produce(ctx, bad)
	require.Error(t, err)
	require.Contains(t, err.Error(), "/default/bad.name")

	good := service.NewMessage([]byte(`{"id":2}`))
	good.MetaSetMut("topic", "/default/good")
	require.NoError(t, produce(ctx, good), "the stream must survive a bad topic")
	st, ok := b.Stats("/default/good")
	require.True(t, ok)
	require.Equal(t, uint64(1), st.Messages)

	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	err = sb.AddInputYAML(fmt.Sprintf(`
danube:
    url: %s
    topics: [ "no-slashes" ]
    subscription: s
`, b.URL()))
	if err == nil {
		require.NoError(t, sb.AddConsumerFunc(func(context.Context, *service.Message) error { return nil }))
		var strm *service.Stream
		if strm, err = sb.Build(); err == nil {
			runCtx, runCancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = strm.Run(runCtx)
			runCancel()
		}
	}
	require.Error(t, err, "an invalid input topic must stop the stream from starting")
	require.Contains(t, err.Error(), "no-slashes")
}

// danubeLogBuffer collects log output of a stream for assertions.
type danubeLogBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *danubeLogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *danubeLogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestDanubeUnknownSchemaSubject: a producer referencing an unregistered
// subject publishes nothing. With a static topic the output does not connect
// and logs the subject (nothing is lost; it connects once the subject is
// registered); with an interpolated topic each message fails with an error
// naming the subject and the stream goes on.
func TestDanubeUnknownSchemaSubject(t *testing.T) {
	b := danubetest.Start(t)
	logs := &danubeLogBuffer{}
	var produce service.MessageHandlerFunc
	runDanubeStream(t, func(sb *service.StreamBuilder) {
		sb.SetLogger(slog.New(slog.NewTextHandler(logs, nil)))
		var err error
		produce, err = sb.AddProducerFunc()
		require.NoError(t, err)
		require.NoError(t, sb.AddOutputYAML(fmt.Sprintf(`
danube:
    url: %s
    topic: /default/schema-e2e
    schema:
      subject: no-such-subject%s
`, b.URL(), danubeFast)))
	})
	result := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		result <- produce(ctx, service.NewMessage([]byte(`{"id":1}`)))
	}()
	danubeWaitFor(t, 30*time.Second, "a logged error naming the subject", func() bool { return strings.Contains(logs.String(), "no-such-subject") })
	select {
	case err := <-result:
		t.Fatalf("the send completed (%v) although the subject does not exist", err)
	default:
	}
	st, _ := b.Stats("/default/schema-e2e")
	require.Zero(t, st.Messages, "nothing may be published without the schema")

	// Registering the subject lets the output connect and deliver.
	c := danubeDialSchemas(t, b.URL())
	_, err := c.RegisterSchema(context.Background(), &danubepb.RegisterSchemaRequest{Subject: "no-such-subject", SchemaType: "json_schema",
		SchemaDefinition: []byte(`{"type":"object","properties":{"id":{"type":"integer"}}}`)})
	require.NoError(t, err)
	select {
	case err := <-result:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("the output did not recover after the subject was registered")
	}
	st, _ = b.Stats("/default/schema-e2e")
	require.Equal(t, uint64(1), st.Messages)

	// Interpolated topic: the failure is per message.
	var produceDyn service.MessageHandlerFunc
	runDanubeStream(t, func(sb *service.StreamBuilder) {
		var err error
		produceDyn, err = sb.AddProducerFunc()
		require.NoError(t, err)
		require.NoError(t, sb.AddOutputYAML(fmt.Sprintf(`
danube:
    url: %s
    topic: '/default/${! meta("t") }'
    schema:
      subject: still-missing%s
`, b.URL(), danubeFast)))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m := service.NewMessage([]byte(`{"id":2}`))
	m.MetaSetMut("t", "dyn")
	err = produceDyn(ctx, m)
	require.Error(t, err)
	require.Contains(t, err.Error(), "still-missing")
}

// danubeDialSchemas opens a schema registry client on a broker.
func danubeDialSchemas(t *testing.T, url string) danubepb.SchemaRegistryClient {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(url, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return danubepb.NewSchemaRegistryClient(conn)
}

// TestDanubeMissingBroker: with no broker the output does not deliver (and
// does not lose) messages; when the broker appears on that address both the
// output and the input connect and the message flows.
func TestDanubeMissingBroker(t *testing.T) {
	addr := testnet.FreeAddr(t)
	url := "http://" + addr
	const topic, sub = "/default/late-broker", "late"

	set := newDanubeIDSet()
	danubeConsume(t, url, topic, sub, set)
	var produce service.MessageHandlerFunc
	var err error
	runDanubeStream(t, func(sb *service.StreamBuilder) {
		produce, err = sb.AddProducerFunc()
		require.NoError(t, err)
		require.NoError(t, sb.AddOutputYAML(fmt.Sprintf(`
danube:
    url: %s
    topic: %s%s
`, url, topic, danubeFast)))
	})

	// No broker: a send cannot complete.
	short, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	err = produce(short, service.NewMessage([]byte(`{"id":0}`)))
	cancel()
	require.Error(t, err, "a send without a broker must not succeed")

	b := danubetest.Start(t, danubetest.Options{Addr: addr})
	require.NoError(t, b.CreateTopic(topic, true))
	danubeWaitStreaming(t, b, topic, sub)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, produce(ctx, service.NewMessage([]byte(`{"id":1}`))))
	danubeWaitFor(t, 30*time.Second, "the message sent after the broker appeared", func() bool { return len(set.missing(1, 1)) == 0 })
}
