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
	url, _ := danubetest.BrokerURL(t, danubetest.Options{Emulate: danubetest.Emulate{LiveFeedSkip: true}})
	c := newClient(t, fastOptions(url))
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "gaps", Dispatch: client.DispatchReliable})
	require.NoError(t, err)

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
	var skipped uint64
	for _, g := range gaps {
		require.Equal(t, topic, g.Topic)
		for o := g.From; o <= g.To; o++ {
			require.False(t, got[o], "offset %d reported and delivered", o)
		}
		skipped += g.Count()
	}
	require.Equal(t, uint64(n), uint64(len(got))+skipped, "delivered %d, gaps %v", len(got), gaps)
	require.NotEmpty(t, gaps, "a lagging subscription on v0.15.1 skips")
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
