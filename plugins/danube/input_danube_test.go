package danube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/danube/client"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
)

func TestInputLintRules(t *testing.T) {
	linter := service.GlobalEnvironment().NewComponentConfigLinter()
	for _, tc := range []struct{ name, yaml, lint string }{
		{"minimal", `danube: { url: x, topics: [ /default/t ], subscription: s }`, ""},
		{"key filters with key_shared", `danube: { url: x, topics: [ /default/t ], subscription: s, subscription_type: key_shared, key_filters: [ "eu-*" ] }`, ""},
		{"key filters without key_shared", `danube: { url: x, topics: [ /default/t ], subscription: s, key_filters: [ "eu-*" ] }`, "key_shared"},
		{"bad subscription type", `danube: { url: x, topics: [ /default/t ], subscription: s, subscription_type: broadcast }`, "broadcast"},
		{"missing subscription", `danube: { url: x, topics: [ /default/t ] }`, "subscription"},
		{"zero batch", `danube: { url: x, topics: [ /default/t ], subscription: s, max_batch_size: 0 }`, "max_batch_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lints, err := linter.LintInputYAML([]byte(tc.yaml))
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

func TestInputConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, errContains string }{
		{"no topics", `{url: x, topics: [], subscription: s}`, "at least one topic"},
		{"invalid topic", `{url: x, topics: [ "/a/b/c" ], subscription: s}`, "invalid format"},
		{"empty subscription", `{url: x, topics: [ /default/t ], subscription: ""}`, "subscription"},
		{"filters need key_shared", `{url: x, topics: [ /default/t ], subscription: s, key_filters: [a]}`, "key_shared"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc, err := danubeInputSpec().ParseYAML(tc.yaml, nil)
			require.NoError(t, err)
			_, err = inputConfigFromParsed(pc, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.errContains)
		})
	}
	pc, err := danubeInputSpec().ParseYAML(`{url: x, topics: [ /default/t ], subscription: subs}`, nil)
	require.NoError(t, err)
	ic, err := inputConfigFromParsed(pc, nil)
	require.NoError(t, err)
	again, err := inputConfigFromParsed(pc, nil)
	require.NoError(t, err)
	assert.Equal(t, ic.consumer.ConsumerName, again.consumer.ConsumerName, "the default consumer name is stable")
	assert.Contains(t, ic.consumer.ConsumerName, "subs")
	assert.Equal(t, client.SubscriptionShared, ic.consumer.Type)
}

// publish sends payloads to topic with a plain client.
func publish(t *testing.T, url, topic string, partitions int, payloads ...string) {
	t.Helper()
	ctx := context.Background()
	c, err := client.New(client.Options{URL: url})
	require.NoError(t, err)
	defer c.Close()
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "test-publisher", Partitions: partitions, Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	for _, pl := range payloads {
		_, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte(pl), Attributes: map[string]string{"origin": "test"}, RoutingKey: "rk-" + pl})
		require.NoError(t, err)
	}
}

// createTopic makes sure topic exists (consumers cannot create topics).
func createTopic(t *testing.T, url, topic string, partitions int) {
	t.Helper()
	c, err := client.New(client.Options{URL: url})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.NewProducer(context.Background(), client.ProducerOptions{Topic: topic, Name: "test-publisher", Partitions: partitions, Dispatch: client.DispatchReliable})
	require.NoError(t, err)
}

func readBatch(t *testing.T, in *danubeInput) (service.MessageBatch, service.AckFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		batch, ack, err := in.ReadBatch(ctx)
		if errors.Is(err, service.ErrNotConnected) {
			require.NoError(t, in.Connect(ctx))
			continue
		}
		require.NoError(t, err)
		return batch, ack
	}
}

func TestInputMetadataAndAck(t *testing.T) {
	url, b := danubetest.BrokerURL(t)
	topic := testTopic(t)
	createTopic(t, url, topic, 2)
	in := newTestInput(t, fmt.Sprintf("url: %s\ntopics: [ %s ]\nsubscription: meta\n%s", url, topic, fastBackoff))
	require.NoError(t, in.Connect(context.Background()))
	publish(t, url, topic, 2, "a", "b", "c", "d")

	var got []*service.Message
	for len(got) < 4 {
		batch, ack := readBatch(t, in)
		got = append(got, batch...)
		require.NoError(t, ack(context.Background(), nil))
	}
	for _, m := range got {
		payload, err := m.AsBytes()
		require.NoError(t, err)
		meta := map[string]string{}
		require.NoError(t, m.MetaWalk(func(k, v string) error { meta[k] = v; return nil }))
		assert.Regexp(t, `^`+topic+`-part-[01]$`, meta["danube_topic"])
		assert.Equal(t, "test-publisher-"+meta["danube_topic"][len(meta["danube_topic"])-1:], meta["danube_producer"])
		_, err = strconv.ParseUint(meta["danube_offset"], 10, 64)
		assert.NoError(t, err)
		pt, err := strconv.ParseInt(meta["danube_publish_time"], 10, 64)
		require.NoError(t, err)
		assert.InDelta(t, time.Now().UnixMilli(), pt, 60_000)
		assert.Equal(t, "meta", meta["danube_subscription"])
		assert.Equal(t, "rk-"+string(payload), meta["danube_routing_key"])
		assert.Equal(t, "test", meta["origin"])
		assert.NotEmpty(t, meta["danube_producer_id"])
		assert.NotContains(t, meta, "danube_schema_id")
	}
	if b == nil {
		return // a real broker does not expose its cursors
	}
	require.Eventually(t, func() bool {
		acked := 0
		for i := range 2 {
			st, _ := b.Stats(client.PartitionTopic(topic, i))
			acked += int(st.Subscriptions["meta"].AckedCursor)
		}
		return acked == 4
	}, 5*time.Second, 10*time.Millisecond, "acks reach the broker")
}

func TestInputNackRedeliversOnlyFailedMessages(t *testing.T) {
	b := danubetest.Start(t, danubetest.Options{FailurePolicy: danubetest.FailurePolicy{
		BaseRedeliveryDelay: 20 * time.Millisecond, Backoff: danubetest.BackoffFixed,
	}})
	topic := testTopic(t)
	createTopic(t, b.URL(), topic, 0)
	in := newTestInput(t, fmt.Sprintf("url: %s\ntopics: [ %s ]\nsubscription: nack\nnack_delay: 50ms\n%s", b.URL(), topic, fastBackoff))
	require.NoError(t, in.Connect(context.Background()))
	publish(t, b.URL(), topic, 0, "m0", "m1", "m2")

	// Fail m1 in whichever read it arrives, via a BatchError that marks only
	// m1: the other messages of that read are acked.
	for read := 0; read < 3; {
		more, ack := readBatch(t, in)
		read += len(more)
		var bErr *service.BatchError
		for i, m := range more {
			if p, _ := m.AsBytes(); string(p) == "m1" {
				bErr = service.NewBatchError(more, errors.New("output failed")).Failed(i, errors.New("m1 rejected"))
			}
		}
		if bErr != nil {
			require.NoError(t, ack(context.Background(), bErr))
		} else {
			require.NoError(t, ack(context.Background(), nil))
		}
	}
	redelivered, ack := readBatch(t, in)
	require.Len(t, redelivered, 1)
	p, _ := redelivered[0].AsBytes()
	assert.Equal(t, "m1", string(p))
	require.NoError(t, ack(context.Background(), nil))

	// A plain error nacks every message of the batch.
	publish(t, b.URL(), topic, 0, "m3")
	batch3, ack3 := readBatch(t, in)
	require.NoError(t, ack3(context.Background(), errors.New("whole batch failed")))
	if len(batch3) == 0 {
		t.Fatal("no batch")
	}
	again, ack4 := readBatch(t, in)
	assert.Equal(t, len(batch3), len(again))
	require.NoError(t, ack4(context.Background(), nil))
}

func TestInputRecoversFromBrokerRestart(t *testing.T) {
	b := danubetest.Start(t)
	topic := testTopic(t)
	createTopic(t, b.URL(), topic, 0)
	in := newTestInput(t, fmt.Sprintf("url: %s\ntopics: [ %s ]\nsubscription: restart\nsubscription_type: exclusive\nconsumer_name: fixed\n%s", b.URL(), topic, fastBackoff))
	require.NoError(t, in.Connect(context.Background()))
	publish(t, b.URL(), topic, 0, "before")
	batch, ack := readBatch(t, in)
	require.Len(t, batch, 1)

	require.NoError(t, b.Restart())
	// Ack of a message read before the restart still reaches the broker
	// once it is back (the client retries transient failures).
	require.NoError(t, ack(context.Background(), nil))
	publish(t, b.URL(), topic, 0, "after")
	// "before" may come again: the broker can redeliver it when the
	// consumer re-attaches before the ack arrives (at least once).
	for seenAfter := false; !seenAfter; {
		batch, ack = readBatch(t, in)
		for _, m := range batch {
			p, _ := m.AsBytes()
			require.Contains(t, []string{"before", "after"}, string(p))
			seenAfter = seenAfter || string(p) == "after"
		}
		require.NoError(t, ack(context.Background(), nil))
	}
}

func TestInputConnectFailsForUnknownTopicAndBadAuth(t *testing.T) {
	b := danubetest.Start(t)
	in := newTestInput(t, fmt.Sprintf("url: %s\ntopics: [ /default/does-not-exist ]\nsubscription: s\n%s", b.URL(), fastBackoff))
	err := in.Connect(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/default/does-not-exist")
	_, _, err = in.ReadBatch(context.Background())
	assert.ErrorIs(t, err, service.ErrNotConnected)

	ab := danubetest.Start(t, danubetest.Options{Auth: &danubetest.AuthOptions{Secret: []byte("k")}})
	in2 := newTestInput(t, fmt.Sprintf("url: %s\ntopics: [ /default/x ]\nsubscription: s\ntoken: wrong\n%s", ab.URL(), fastBackoff))
	err = in2.Connect(context.Background())
	require.Error(t, err)
	assert.True(t, client.IsPermanent(err), "%v", err)
}

// TestStreamEndToEnd runs generate -> danube output -> danubetest -> danube
// input -> consumer through the Benthos engine with both components built
// from YAML.
func TestStreamEndToEnd(t *testing.T) {
	url, _ := danubetest.BrokerURL(t, danubetest.Options{MaxUnacked: 1000})
	topic := testTopic(t)
	createTopic(t, url, topic, 3)
	// A new reliable subscription starts at the newest message: create it
	// (with the input's consumer name) before producing.
	{
		c, err := client.New(client.Options{URL: url})
		require.NoError(t, err)
		cons, err := c.Subscribe(context.Background(), client.ConsumerOptions{Topic: topic, Subscription: "e2e", ConsumerName: "e2e-reader"})
		require.NoError(t, err)
		require.NoError(t, cons.Close())
		require.NoError(t, c.Close())
	}
	const n = 500

	var mu sync.Mutex
	received := map[string]int{}
	done := make(chan struct{})
	var closeOnce sync.Once

	consumer := service.NewStreamBuilder()
	require.NoError(t, consumer.SetYAML(fmt.Sprintf(`
input:
  danube:
    url: %s
    topics: [ %s ]
    subscription: e2e
    consumer_name: e2e-reader
%s
output:
  drop: {}
`, url, topic, indent(fastBackoff))))
	require.NoError(t, consumer.SetLoggerYAML(`level: off`))
	require.NoError(t, consumer.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
		p, err := m.AsBytes()
		if err != nil {
			return err
		}
		mu.Lock()
		received[string(p)]++
		if len(received) == n {
			closeOnce.Do(func() { close(done) })
		}
		mu.Unlock()
		return nil
	}))
	cStream, err := consumer.Build()
	require.NoError(t, err)

	producer := service.NewStreamBuilder()
	require.NoError(t, producer.SetYAML(fmt.Sprintf(`
input:
  generate:
    count: %d
    interval: ""
    batch_size: 10
    mapping: 'root = "msg-" + counter().string()'
output:
  danube:
    url: %s
    topic: %s
    partitions: 3
    max_in_flight: 8
%s
`, n, url, topic, indent(fastBackoff))))
	require.NoError(t, producer.SetLoggerYAML(`level: off`))
	pStream, err := producer.Build()
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cDone := make(chan error, 1)
	go func() { cDone <- cStream.Run(ctx) }()
	require.NoError(t, pStream.Run(ctx))

	select {
	case <-done:
	case <-ctx.Done():
		mu.Lock()
		t.Fatalf("received %d of %d", len(received), n)
		mu.Unlock()
	}
	require.NoError(t, cStream.Stop(ctx))
	<-cDone
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i <= n; i++ {
		assert.Equal(t, 1, received["msg-"+strconv.Itoa(i)], "msg-%d", i)
	}
}

func indent(s string) string {
	out := ""
	for _, line := range splitLines(s) {
		if line != "" {
			out += "    " + line + "\n"
		}
	}
	return out
}

func splitLines(s string) []string {
	var lines []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			lines = append(lines, s[start:i])
			start = i + 1
		}
	}
	return append(lines, s[start:])
}

func TestInputClosedWithUnackedMessagesGetsThemAgain(t *testing.T) {
	b := danubetest.Start(t)
	topic := testTopic(t)
	createTopic(t, b.URL(), topic, 0)
	conf := fmt.Sprintf("url: %s\ntopics: [ %s ]\nsubscription: crash\nsubscription_type: exclusive\nconsumer_name: worker-1\n%s", b.URL(), topic, fastBackoff)
	first := newTestInput(t, conf)
	require.NoError(t, first.Connect(context.Background()))
	publish(t, b.URL(), topic, 0, "u1", "u2")
	var read []string
	for len(read) < 2 {
		batch, _ := readBatch(t, first) // never acked: the pipeline "crashed"
		for _, m := range batch {
			p, _ := m.AsBytes()
			read = append(read, string(p))
		}
	}
	require.NoError(t, first.Close(context.Background()))

	second := newTestInput(t, conf)
	require.NoError(t, second.Connect(context.Background()))
	var again []string
	for len(again) < 2 {
		batch, ack := readBatch(t, second)
		for _, m := range batch {
			p, _ := m.AsBytes()
			again = append(again, string(p))
		}
		require.NoError(t, ack(context.Background(), nil))
	}
	assert.ElementsMatch(t, read, again)
}

func TestOutputUnknownSchemaSubjectFailsConnect(t *testing.T) {
	b := danubetest.Start(t)
	out := newTestOutput(t, fmt.Sprintf("url: %s\ntopic: %s\nschema: { subject: nope }\n%s", b.URL(), testTopic(t), fastBackoff))
	err := out.Connect(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nope")
	assert.True(t, client.IsPermanent(err), "%v", err)
}

// TestStreamThroughBrokerRestart restarts the broker while a stream is
// flowing: every generated message must arrive at least once.
func TestStreamThroughBrokerRestart(t *testing.T) {
	b := danubetest.Start(t, danubetest.Options{MaxUnacked: 1000})
	topic := testTopic(t)
	createTopic(t, b.URL(), topic, 2)
	{
		c, err := client.New(client.Options{URL: b.URL()})
		require.NoError(t, err)
		cons, err := c.Subscribe(context.Background(), client.ConsumerOptions{Topic: topic, Subscription: "restart", ConsumerName: "restart-reader"})
		require.NoError(t, err)
		require.NoError(t, cons.Close())
		require.NoError(t, c.Close())
	}
	const n = 2000
	var mu sync.Mutex
	received := map[string]int{}
	cb := service.NewStreamBuilder()
	require.NoError(t, cb.SetYAML(fmt.Sprintf(`
input:
  danube:
    url: %s
    topics: [ %s ]
    subscription: restart
    consumer_name: restart-reader
%s
output:
  drop: {}
`, b.URL(), topic, indent(fastBackoff))))
	require.NoError(t, cb.SetLoggerYAML(`level: off`))
	require.NoError(t, cb.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
		p, err := m.AsBytes()
		if err != nil {
			return err
		}
		mu.Lock()
		received[string(p)]++
		mu.Unlock()
		return nil
	}))
	cStream, err := cb.Build()
	require.NoError(t, err)

	pb := service.NewStreamBuilder()
	require.NoError(t, pb.SetYAML(fmt.Sprintf(`
input:
  generate:
    count: %d
    interval: ""
    batch_size: 4
    mapping: 'root = "msg-" + counter().string()'
output:
  danube:
    url: %s
    topic: %s
    partitions: 2
    max_in_flight: 16
    backoff: { initial_interval: 10ms, max_interval: 100ms, max_retries: 100 }
    health_check_interval: 100ms
`, n, b.URL(), topic)))
	require.NoError(t, pb.SetLoggerYAML(`level: off`))
	pStream, err := pb.Build()
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cDone := make(chan error, 1)
	go func() { cDone <- cStream.Run(ctx) }()
	pDone := make(chan error, 1)
	go func() { pDone <- pStream.Run(ctx) }()

	// Restart once a third of the messages went through.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) >= n/3
	}, 30*time.Second, 5*time.Millisecond)
	require.NoError(t, b.Restart())
	require.NoError(t, <-pDone)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) == n
	}, 30*time.Second, 10*time.Millisecond, "every message arrives after the restart")
	require.NoError(t, cStream.Stop(ctx))
	<-cDone
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i <= n; i++ {
		assert.GreaterOrEqual(t, received["msg-"+strconv.Itoa(i)], 1, "msg-%d", i)
	}
}

// TestInputCloseDoesNotWaitOutAckBackoff: acks stuck retrying against a
// stopped broker (here with an hour-long backoff) must not hold Close: it
// stops receiving at once and gives in-flight acks only a short grace.
func TestInputCloseDoesNotWaitOutAckBackoff(t *testing.T) {
	b := danubetest.Start(t)
	topic := testTopic(t)
	createTopic(t, b.URL(), topic, 0)
	in := newTestInput(t, fmt.Sprintf("url: %s\ntopics: [ %s ]\nsubscription: close\nbackoff: { initial_interval: 1h, max_interval: 1h, max_retries: 3 }\n", b.URL(), topic))
	var retries atomic.Int64
	in.conf.client.OnRetry = func(error) { retries.Add(1) }
	ctx := context.Background()
	require.NoError(t, in.Connect(ctx))
	publish(t, b.URL(), topic, 0, "a", "b")
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons := in.consumer
	m1, err := cons.Receive(rctx)
	require.NoError(t, err)
	m2, err := cons.Receive(rctx)
	require.NoError(t, err)

	b.Stop()
	settled := make(chan error, 1)
	go func() { settled <- in.settle(ctx, cons, nil, []*client.Message{m1, m2}, nil) }()
	deadline := time.Now().Add(10 * time.Second)
	for retries.Load() < 2 {
		require.False(t, time.Now().After(deadline), "both acks should be waiting in their retry backoff")
		time.Sleep(5 * time.Millisecond)
	}

	closed := make(chan struct{})
	go func() {
		_ = in.Close(ctx)
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close waited for the acks' one-hour retry backoff")
	}
	select {
	case err := <-settled:
		require.Error(t, err, "the acks could not reach the stopped broker")
	case <-time.After(30 * time.Second):
		t.Fatal("settling did not end when the input closed")
	}
}

// TestInputSettleRacingCloseNeverHangs: batches settled while the input
// closes either go out or fail with ErrClosed; none waits forever on the
// ack queue.
func TestInputSettleRacingCloseNeverHangs(t *testing.T) {
	b := danubetest.Start(t, danubetest.Options{MaxUnacked: 1000})
	topic := testTopic(t)
	createTopic(t, b.URL(), topic, 0)
	in := newTestInput(t, fmt.Sprintf("url: %s\ntopics: [ %s ]\nsubscription: race\nack_parallelism: 2\n%s", b.URL(), topic, fastBackoff))
	ctx := context.Background()
	require.NoError(t, in.Connect(ctx))
	payloads := make([]string, 300)
	for i := range payloads {
		payloads[i] = "m" + strconv.Itoa(i)
	}
	publish(t, b.URL(), topic, 0, payloads...)
	cons := in.consumer
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msgs := make([]*client.Message, len(payloads))
	for i := range msgs {
		m, err := cons.Receive(rctx)
		require.NoError(t, err)
		msgs[i] = m
	}
	// Ten batches of 30 settle concurrently with Close.
	var wg sync.WaitGroup
	for i := 0; i < len(msgs); i += 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := in.settle(ctx, cons, nil, msgs[i:i+30], nil)
			if err != nil {
				assert.ErrorIs(t, err, client.ErrClosed)
			}
		}()
	}
	require.NoError(t, in.Close(ctx))
	settled := make(chan struct{})
	go func() { wg.Wait(); close(settled) }()
	select {
	case <-settled:
	case <-time.After(30 * time.Second):
		t.Fatal("a batch settled during Close never returned")
	}
}

// logRecorder collects log records of an input for assertions.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r)
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// lines returns the messages logged at level containing substr.
func (l *logRecorder) lines(level slog.Level, substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		if r.Level == level && strings.Contains(r.Message, substr) {
			out = append(out, r.Message)
		}
	}
	return out
}

var skipLine = regexp.MustCompile(`topic (\S+), subscription (\S+), offsets (\d+)-(\d+) \((\d+) messages\)`)

// skippedRanges parses the skip error lines: ranges and their total.
func (l *logRecorder) skippedRanges(t *testing.T) ([][2]uint64, uint64) {
	t.Helper()
	var ranges [][2]uint64
	var total uint64
	for _, line := range l.lines(slog.LevelError, "skipped messages") {
		m := skipLine.FindStringSubmatch(line)
		require.NotNil(t, m, "unparsable skip line %q", line)
		from, _ := strconv.ParseUint(m[3], 10, 64)
		to, _ := strconv.ParseUint(m[4], 10, 64)
		n, _ := strconv.ParseUint(m[5], 10, 64)
		require.Equal(t, to-from+1, n, line)
		ranges = append(ranges, [2]uint64{from, to})
		total += n
	}
	return ranges, total
}

func newRecordedInput(t *testing.T, yaml string) (*danubeInput, *logRecorder) {
	t.Helper()
	pc, err := danubeInputSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	ic, err := inputConfigFromParsed(pc, nil)
	require.NoError(t, err)
	rec := &logRecorder{}
	in := newDanubeInput(ic, service.MockResources(service.MockResourcesOptUseLogger(service.NewLoggerFromSlog(slog.New(rec)))))
	t.Cleanup(func() { _ = in.Close(context.Background()) })
	return in, rec
}

// drainOffsets reads and acks until nothing arrives for quiet, returning the
// distinct offsets delivered.
func drainOffsets(t *testing.T, in *danubeInput, quiet time.Duration) map[uint64]bool {
	t.Helper()
	got := map[uint64]bool{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), quiet)
		batch, ack, err := in.ReadBatch(ctx)
		cancel()
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			return got
		}
		for _, m := range batch {
			off, _ := m.MetaGet("danube_offset")
			o, err := strconv.ParseUint(off, 10, 64)
			require.NoError(t, err)
			got[o] = true
		}
		require.NoError(t, ack(context.Background(), nil))
	}
}

// TestInputDetectsSkippedMessages: 1,000 messages published while the
// consumer does not read (its window of 10 stays full). On the double with
// the v0.15.1 live-feed emulation, and on a real v0.15.1 broker, only part
// of them arrives; every missing offset is counted and logged once, as one
// range. Delivered + skipped = published.
func TestInputDetectsSkippedMessages(t *testing.T) {
	url, b := danubetest.BrokerURL(t, danubetest.Options{Emulate: danubetest.Emulate{LiveFeedSkip: true}})
	topic := testTopic(t)
	createTopic(t, url, topic, 0)
	in, rec := newRecordedInput(t, fmt.Sprintf("url: %s\ntopics: [ %s ]\nsubscription: skips\nsubscription_type: exclusive\nskip_reorder_timeout: 500ms\n%s", url, topic, fastBackoff))
	require.NoError(t, in.Connect(context.Background()))
	const n = 1000
	payloads := make([]string, n)
	for i := range payloads {
		payloads[i] = strconv.Itoa(i)
	}
	publish(t, url, topic, 0, payloads...)

	got := drainOffsets(t, in, 2*time.Second)
	ranges, skipped := rec.skippedRanges(t)
	require.Equal(t, uint64(n), uint64(len(got))+skipped, "delivered %d + skipped %d (ranges %v)", len(got), skipped, ranges)
	for _, r := range ranges {
		for o := r[0]; o <= r[1]; o++ {
			require.False(t, got[o], "offset %d reported skipped but delivered", o)
		}
	}
	require.Empty(t, rec.lines(slog.LevelWarn, "after it was reported skipped"))
	if b == nil {
		t.Logf("real broker: %d delivered, %d skipped in %v", len(got), skipped, ranges)
		return
	}
	// The double skips exactly as measured on v0.15.1 (notes §19): the
	// first window, then the newest 256.
	require.Equal(t, 10+256, len(got))
	require.Equal(t, [][2]uint64{{10, n - 257}}, ranges)
	st, _ := b.Stats(topic)
	require.Equal(t, st.Subscriptions["skips"].SkippedRanges, ranges, "the input reports exactly what the broker skipped")
}

// TestInputStopsOnSkippedMessages: with skipped_messages: stop the first
// confirmed gap halts the input: reads fail as not connected and Connect
// fails with an error naming the missing range, for good.
func TestInputStopsOnSkippedMessages(t *testing.T) {
	url, _ := danubetest.BrokerURL(t, danubetest.Options{Emulate: danubetest.Emulate{LiveFeedSkip: true}})
	topic := testTopic(t)
	createTopic(t, url, topic, 0)
	in, rec := newRecordedInput(t, fmt.Sprintf("url: %s\ntopics: [ %s ]\nsubscription: halts\nsubscription_type: exclusive\nskipped_messages: stop\n%s", url, topic, fastBackoff))
	require.NoError(t, in.Connect(context.Background()))
	payloads := make([]string, 1000)
	for i := range payloads {
		payloads[i] = "m"
	}
	publish(t, url, topic, 0, payloads...)

	var stopErr error
	deadline := time.Now().Add(30 * time.Second)
	for stopErr == nil && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		batch, ack, err := in.ReadBatch(ctx)
		cancel()
		if err != nil {
			stopErr = err
			break
		}
		require.NotEmpty(t, batch)
		require.NoError(t, ack(context.Background(), nil))
	}
	require.Error(t, stopErr, "the input must stop")
	require.ErrorIs(t, stopErr, service.ErrNotConnected, "a stopped input reports itself disconnected")
	var se *SkippedError
	require.ErrorAs(t, stopErr, &se)
	require.Contains(t, stopErr.Error(), fmt.Sprintf("offsets %d-%d of %s", se.Gap.From, se.Gap.To, topic))
	require.Contains(t, stopErr.Error(), "halts")

	for range 3 {
		err := in.Connect(context.Background())
		require.ErrorAs(t, err, &se, "Connect keeps failing with the range")
		_, _, err = in.ReadBatch(context.Background())
		require.ErrorIs(t, err, service.ErrNotConnected)
		require.ErrorAs(t, err, &se, "reads keep failing with the range")
	}
	require.Len(t, rec.lines(slog.LevelError, "skipped messages: topic"), 1, "the range is logged once")
}

// TestInputOffsetResetIsNotAGap: a restarted v0.15.1 broker numbers new
// messages from 0 again; the input logs a reset (no gap, no error) and goes
// on detecting in the new numbering. Needs the double's Restart.
func TestInputOffsetResetIsNotAGap(t *testing.T) {
	b := danubetest.Start(t, danubetest.Options{Emulate: danubetest.Emulate{OffsetResetOnRestart: true}})
	topic := testTopic(t)
	createTopic(t, b.URL(), topic, 0)
	// Existing history, so that the subscription starts above 0.
	publish(t, b.URL(), topic, 0, "h1", "h2", "h3", "h4", "h5")
	in, rec := newRecordedInput(t, fmt.Sprintf("url: %s\ntopics: [ %s ]\nsubscription: resets\nsubscription_type: failover\n%s", b.URL(), topic, fastBackoff))
	require.NoError(t, in.Connect(context.Background()))
	publish(t, b.URL(), topic, 0, "a", "b", "c", "d", "e")
	got := drainOffsets(t, in, 500*time.Millisecond)
	require.Len(t, got, 5)
	require.True(t, got[5] && got[9])

	require.NoError(t, b.Restart())
	publish(t, b.URL(), topic, 0, "f", "g", "h")
	got = drainOffsets(t, in, 1500*time.Millisecond)
	require.Equal(t, map[uint64]bool{0: true, 1: true, 2: true}, got)
	require.Len(t, rec.lines(slog.LevelWarn, "went back to 0 after offsets up to 9"), 1)
	_, skipped := rec.skippedRanges(t)
	require.Zero(t, skipped)
}

func TestInputGapDetectionOnlyForSingleConsumerTypes(t *testing.T) {
	for typ, want := range map[string]bool{"exclusive": true, "failover": true, "shared": false, "key_shared": false} {
		in := newTestInput(t, fmt.Sprintf("url: x\ntopics: [ /default/t ]\nsubscription: s\nsubscription_type: %s", typ))
		assert.Equal(t, want, in.gaps != nil, typ)
	}
	pc, err := danubeInputSpec().ParseYAML(`{url: x, topics: [ /default/t ], subscription: s, skipped_messages: ignore}`, nil)
	if err == nil {
		_, err = inputConfigFromParsed(pc, nil)
	}
	require.ErrorContains(t, err, "ignore")
}

// TestInputRestartOnExistingSubscriptionIsNoGap: an earlier consumer acked
// every other message of its window and went away; a new input on the same
// subscription first gets the unacked ones (with holes where the others
// were acked), then new messages: nothing is reported. Needs the double to
// control the acks of the earlier consumer exactly.
func TestInputRestartOnExistingSubscriptionIsNoGap(t *testing.T) {
	b := danubetest.Start(t, danubetest.Options{FailurePolicy: danubetest.FailurePolicy{BaseRedeliveryDelay: 20 * time.Millisecond}})
	topic := testTopic(t)
	createTopic(t, b.URL(), topic, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(client.Options{URL: b.URL()})
	require.NoError(t, err)
	defer c.Close()
	first, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "restarts", Type: client.SubscriptionExclusive, ConsumerName: "same"})
	require.NoError(t, err)
	publish(t, b.URL(), topic, 0, "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11")
	for i := 0; i < 10; i++ { // the window
		m, err := first.Receive(ctx)
		require.NoError(t, err)
		if m.Offset%2 == 0 {
			require.NoError(t, first.Ack(ctx, m))
		}
	}
	require.NoError(t, first.Close())

	in, rec := newRecordedInput(t, fmt.Sprintf("url: %s\ntopics: [ %s ]\nsubscription: restarts\nsubscription_type: exclusive\nconsumer_name: same\nskip_reorder_count: 2\nskip_reorder_timeout: 200ms\n%s", b.URL(), topic, fastBackoff))
	require.NoError(t, in.Connect(ctx))
	publish(t, b.URL(), topic, 0, "12", "13", "14", "15")
	got := drainOffsets(t, in, time.Second)
	require.Equal(t, map[uint64]bool{1: true, 3: true, 5: true, 7: true, 9: true, 10: true, 11: true, 12: true, 13: true, 14: true, 15: true}, got)
	_, skipped := rec.skippedRanges(t)
	require.Zero(t, skipped, "leftover redeliveries are no gap: %v", rec.lines(slog.LevelError, ""))
}
