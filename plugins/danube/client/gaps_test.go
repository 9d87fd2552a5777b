package client_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/danube-connect/danube-connect/plugins/danube/client"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
)

// TestConsumerReportsSkippedMessages: 1,000 messages published while the
// consumer's window is full; the broker (the double's v0.15.1 live-feed
// emulation, or a real v0.15.1 broker) skips some, and the detector reports
// exactly the offsets that never arrived.
func TestConsumerReportsSkippedMessages(t *testing.T) {
	url, b := danubetest.BrokerURL(t, danubetest.Options{Emulate: danubetest.Emulate{LiveFeedSkip: true}})
	delivered, skipped := lagAndCount(t, url, b, 0)
	require.Positive(t, skipped, "a lagging subscription on v0.15.1 skips")
	if b != nil {
		require.Equal(t, 10+256, delivered)
	}
}

// TestRaisingTheSubscriptionWindowDoesNotHelp: the admin per-subscription
// dispatch setting is ignored by v0.15.1 (emulated), so raising the window
// to 1,000 still leaves the subscription at 10 and it skips the same way.
func TestRaisingTheSubscriptionWindowDoesNotHelp(t *testing.T) {
	b := danubetest.Start(t, danubetest.Options{Emulate: danubetest.Emulate{LiveFeedSkip: true, IgnoreSubscriptionDispatch: true}})
	delivered, skipped := lagAndCount(t, b.URL(), b, 1000)
	require.Equal(t, 10+256, delivered)
	require.Equal(t, 1000-10-256, skipped)
}

// lagAndCount publishes 1,000 messages while a new exclusive consumer does
// not read (its window stays full), then reads and acks everything, and
// checks that the detector reports exactly the offsets that never arrived.
// window > 0 asks the double for that per-subscription window first.
func lagAndCount(t *testing.T, url string, b *danubetest.Broker, window int) (delivered, skipped int) {
	t.Helper()
	c := newClient(t, fastOptions(url))
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "gaps", Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	if window > 0 {
		b.SetSubscriptionDispatch(topic, "gaps", window)
	}

	var mu sync.Mutex
	var gaps []client.Gap
	det := client.NewGapDetector(client.GapOptions{ReorderTimeout: 300 * time.Millisecond, OnGap: func(g client.Gap) {
		mu.Lock()
		gaps = append(gaps, g)
		mu.Unlock()
	}})
	defer det.Close()
	cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "gaps", Type: client.SubscriptionExclusive, Gaps: det})
	require.NoError(t, err)
	defer cons.Close()

	const n = 1000
	for i := 0; i < n; i++ {
		_, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte("x")})
		require.NoError(t, err)
	}
	got := map[uint64]bool{}
	for {
		rctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		m, err := cons.Receive(rctx)
		cancel()
		if err != nil {
			break
		}
		got[m.Offset] = true
		require.NoError(t, cons.Ack(ctx, m))
	}
	time.Sleep(500 * time.Millisecond) // past the reorder timeout
	mu.Lock()
	defer mu.Unlock()
	for _, g := range gaps {
		require.Equal(t, topic, g.Topic)
		for o := g.From; o <= g.To; o++ {
			require.False(t, got[o], "offset %d reported and delivered", o)
		}
		skipped += int(g.Count())
	}
	require.Equal(t, n, len(got)+skipped, "delivered %d, gaps %v", len(got), gaps)
	return len(got), skipped
}

func TestGapDetectionNeedsSingleConsumerSubscription(t *testing.T) {
	b := danubetest.Start(t)
	c := newClient(t, fastOptions(b.URL()))
	det := client.NewGapDetector(client.GapOptions{})
	defer det.Close()
	for _, typ := range []client.SubscriptionType{client.SubscriptionShared, client.SubscriptionKeyShared} {
		_, err := c.Subscribe(testCtx(t), client.ConsumerOptions{Topic: "/default/x", Subscription: "s", Type: typ, Gaps: det})
		var e *client.Error
		require.True(t, asError(err, &e), "%v", err)
		require.Equal(t, codes.InvalidArgument, e.Code)
		require.Contains(t, e.Message, "exclusive or failover")
	}
}
