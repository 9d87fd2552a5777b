package integration

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	_ "github.com/danube-connect/danube-connect/plugins/prometheus"

	"github.com/danube-connect/danube-connect/plugins/danube/client"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
)

// The skip tests run against the double with its v0.15.1 live-feed
// emulation, or against a real broker when DANUBE_BROKER_URL is set. The
// consumer lags because its output is slow (it takes skipSlowOutput per
// batch, with the broker's window of 10 in flight), not because of a hook,
// so the same test applies to both.
const skipSlowOutput = 20 * time.Millisecond

// skipRecorder keeps the log records of a stream.
type skipRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *skipRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *skipRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *skipRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *skipRecorder) WithGroup(string) slog.Handler      { return l }

func (l *skipRecorder) lines(level slog.Level, substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		if r.Level >= level && strings.Contains(r.Message, substr) {
			out = append(out, r.Message)
		}
	}
	return out
}

var skipLineRe = regexp.MustCompile(`Danube broker skipped messages: topic (\S+), subscription (\S+), offsets (\d+)-(\d+) \((\d+) messages\)`)

// skipRanges parses the skip lines of one topic.
func (l *skipRecorder) skipRanges(t *testing.T, topic string) [][2]uint64 {
	t.Helper()
	var out [][2]uint64
	for _, line := range l.lines(slog.LevelError, "Danube broker skipped messages") {
		m := skipLineRe.FindStringSubmatch(line)
		require.NotNil(t, m, "unparsable line %q", line)
		require.Equal(t, topic, m[1], line)
		from, _ := strconv.ParseUint(m[3], 10, 64)
		to, _ := strconv.ParseUint(m[4], 10, 64)
		out = append(out, [2]uint64{from, to})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// skipConsumer is a running danube input → slow output stream.
type skipConsumer struct {
	logs    *skipRecorder
	metrics http.Handler

	mu        sync.Mutex
	offsets   map[uint64]bool
	delivered atomic.Int64 // distinct offsets
}

func (c *skipConsumer) skippedMetric(t *testing.T) int64 {
	t.Helper()
	rec := httptest.NewRecorder()
	c.metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	var total float64
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "danube_input_skipped_messages{") {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			require.NoError(t, err, line)
			total += v
		}
	}
	return int64(total)
}

func (c *skipConsumer) has(off uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offsets[off]
}

func startSkipConsumer(t *testing.T, url, topic, sub, mode string) *skipConsumer {
	c := &skipConsumer{logs: &skipRecorder{}, offsets: map[uint64]bool{}}
	mux := http.NewServeMux()
	c.metrics = mux
	runDanubeStream(t, func(sb *service.StreamBuilder) {
		sb.SetLogger(slog.New(c.logs))
		sb.SetHTTPMux(mux)
		require.NoError(t, sb.SetMetricsYAML("prometheus: {}"))
		require.NoError(t, sb.AddInputYAML(fmt.Sprintf(`
danube:
    url: %s
    topics: [ %s ]
    subscription: %s
    subscription_type: exclusive
    consumer_name: skip-consumer
    skipped_messages: %s%s
`, url, topic, sub, mode, danubeFast)))
		require.NoError(t, sb.AddBatchConsumerFunc(func(_ context.Context, batch service.MessageBatch) error {
			time.Sleep(skipSlowOutput)
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, m := range batch {
				v, _ := m.MetaGet("danube_offset")
				off, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return err
				}
				if !c.offsets[off] {
					c.offsets[off] = true
					c.delivered.Add(1)
				}
			}
			return nil
		}))
	})
	danubeWaitFor(t, 30*time.Second, "the input to subscribe", func() bool { return len(c.logs.lines(slog.LevelInfo, "Subscribed")) > 0 })
	return c
}

// produceSkipTopic sends n messages to topic with 8 concurrent senders (so
// a real broker may also reorder a little).
func produceSkipTopic(t *testing.T, p *client.Producer, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if _, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte(fmt.Sprintf(`{"id":%d}`, i))}); err != nil {
					errs <- fmt.Errorf("message %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func newSkipTopic(t *testing.T, url, name string) *client.Producer {
	t.Helper()
	cl, err := client.New(client.Options{URL: url})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Close() })
	topic := fmt.Sprintf("/default/%s-%d", name, time.Now().UnixNano()%1e9)
	p, err := cl.NewProducer(context.Background(), client.ProducerOptions{Topic: topic, Name: "skip-producer", Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	return p
}

// TestDanubeSkippedMessagesAreAllCounted: 100,000 messages produced while
// the consumer lags (30,000 under the race detector). The broker skips most of them; the input's
// danube_input_skipped_messages plus the distinct messages delivered equal
// 100,000 exactly, and every missing range is logged once.
func TestDanubeSkippedMessagesAreAllCounted(t *testing.T) {
	n := 100000
	if danubeRaceEnabled {
		// Same path, less volume: under the race detector producing 100,000
		// messages into the in-process double takes minutes on a busy
		// machine. The plain run (and DANUBE_BROKER_URL runs) use 100,000.
		n = 30000
	}
	url, b := danubetest.BrokerURL(t, danubetest.Options{Emulate: danubetest.Emulate{LiveFeedSkip: true}})
	p := newSkipTopic(t, url, "skip-100k")
	topic, sub := p.Topic(), "skip-count"
	c := startSkipConsumer(t, url, topic, sub, "warn")

	start := time.Now()
	produceSkipTopic(t, p, n)
	produced := time.Since(start)
	danubeWaitFor(t, 3*time.Minute, "delivered + skipped = produced", func() bool {
		return c.delivered.Load()+c.skippedMetric(t) >= int64(n)
	})
	time.Sleep(time.Second) // nothing may be counted twice afterwards
	delivered, skipped := c.delivered.Load(), c.skippedMetric(t)
	t.Logf("%d produced in %v; %d delivered, %d skipped (counter), %d ranges logged", n, produced.Round(time.Millisecond), delivered, skipped, len(c.logs.skipRanges(t, topic)))
	require.Equal(t, int64(n), delivered+skipped)
	require.Positive(t, skipped, "the consumer lagged: the broker must have skipped")

	// Every missing offset is in exactly one logged range, no delivered one is.
	ranges := c.logs.skipRanges(t, topic)
	var inRanges int64
	for i, r := range ranges {
		if i > 0 {
			require.Greater(t, r[0], ranges[i-1][1], "ranges %v and %v overlap", ranges[i-1], r)
		}
		for o := r[0]; o <= r[1]; o++ {
			require.False(t, c.has(o), "offset %d logged as skipped but delivered", o)
		}
		inRanges += int64(r[1] - r[0] + 1)
	}
	require.Equal(t, skipped, inRanges, "the counter and the logged ranges agree")
	for o := uint64(0); o < uint64(n); o++ {
		if !c.has(o) {
			i := sort.Search(len(ranges), func(i int) bool { return ranges[i][1] >= o })
			require.True(t, i < len(ranges) && ranges[i][0] <= o, "offset %d neither delivered nor logged", o)
		}
	}
	require.Empty(t, c.logs.lines(slog.LevelWarn, "after it was reported skipped"))
	if b != nil {
		st, _ := b.Stats(topic)
		require.Equal(t, st.Subscriptions[sub].SkippedRanges, ranges, "the input logs exactly the ranges the broker skipped")
	}
}

// TestDanubeSkippedMessagesStopHaltsTheStream: with skipped_messages: stop
// the first skip halts the input: nothing is delivered any more and the
// input keeps failing to connect with an error naming the range.
func TestDanubeSkippedMessagesStopHaltsTheStream(t *testing.T) {
	url, _ := danubetest.BrokerURL(t, danubetest.Options{Emulate: danubetest.Emulate{LiveFeedSkip: true}})
	p := newSkipTopic(t, url, "skip-stop")
	topic := p.Topic()
	c := startSkipConsumer(t, url, topic, "skip-stop", "stop")
	produceSkipTopic(t, p, 5000)

	danubeWaitFor(t, time.Minute, "the input to stop", func() bool {
		return len(c.logs.lines(slog.LevelError, "danube input stopped (skipped_messages: stop)")) > 0
	})
	stopLine := c.logs.lines(slog.LevelError, "danube input stopped")[0]
	ranges := c.logs.skipRanges(t, topic)
	require.NotEmpty(t, ranges)
	first := ranges[0]
	require.Contains(t, stopLine, fmt.Sprintf("offsets %d-%d of %s", first[0], first[1], topic))

	// Halted: the count stays put (allowing what was already in the
	// pipeline) and reconnects fail naming the range.
	time.Sleep(500 * time.Millisecond)
	before := c.delivered.Load()
	danubeWaitFor(t, 30*time.Second, "a failed reconnect naming the range", func() bool {
		for _, l := range c.logs.lines(slog.LevelError, "Failed to connect") {
			if strings.Contains(l, fmt.Sprintf("offsets %d-%d of %s", first[0], first[1], topic)) {
				return true
			}
		}
		return false
	})
	time.Sleep(2 * time.Second)
	require.Equal(t, before, c.delivered.Load(), "a stopped input delivers nothing more")
	require.Less(t, before, int64(5000))
}
