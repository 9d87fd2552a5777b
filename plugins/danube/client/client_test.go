package client_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/danube-connect/danube-connect/plugins/danube/client"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
)

func TestProduceConsumeReliable(t *testing.T) {
	url, _ := danubetest.BrokerURL(t)
	c := newClient(t, fastOptions(url))
	ctx := testCtx(t)
	topic := uniqueTopic(t)

	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "p1", Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "s1", ConsumerName: "c1"})
	require.NoError(t, err)
	assert.Equal(t, []string{topic}, cons.Topics())

	before := time.Now().Add(-time.Second)
	for i := range 20 {
		rcpt, err := p.Send(ctx, client.OutgoingMessage{
			Payload:    []byte(fmt.Sprintf("m%d", i)),
			Attributes: map[string]string{"i": strconv.Itoa(i)},
			RoutingKey: "k",
		})
		require.NoError(t, err)
		assert.Equal(t, topic, rcpt.Topic)
	}
	msgs := receiveN(t, ctx, cons, 20)
	for i, m := range msgs {
		assert.Equal(t, fmt.Sprintf("m%d", i), string(m.Payload))
		assert.Equal(t, strconv.Itoa(i), m.Attributes["i"])
		assert.Equal(t, topic, m.Topic)
		assert.Equal(t, "p1", m.ProducerName)
		assert.Equal(t, "s1", m.Subscription)
		assert.Equal(t, "k", m.RoutingKey)
		assert.NotZero(t, m.ProducerID)
		assert.True(t, m.PublishTime.After(before), "publish time %v", m.PublishTime)
		if i > 0 {
			assert.Equal(t, msgs[i-1].Offset+1, m.Offset, "offsets are consecutive")
		}
	}
	expectNoMessage(t, cons, 200*time.Millisecond)
}

func TestCreateProducerIsIdempotentByName(t *testing.T) {
	url, _ := danubetest.BrokerURL(t)
	c := newClient(t, fastOptions(url))
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	p1, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "same", Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	p2, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "same", Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	require.NoError(t, p1.Close())
	require.NoError(t, p1.Close(), "Close is idempotent")
	_, err = p1.Send(ctx, client.OutgoingMessage{Payload: []byte("x")})
	require.ErrorIs(t, err, client.ErrClosed)
	_, err = p2.Send(ctx, client.OutgoingMessage{Payload: []byte("x")})
	require.NoError(t, err)
}

func TestInvalidTopicNamesFailFastAndPermanently(t *testing.T) {
	b := danubetest.Start(t)
	c := newClient(t, fastOptions(b.URL()))
	ctx := testCtx(t)
	for _, topic := range []string{"orders", "/default/a/b", "/default/bad topic", "/default/dot.ted"} {
		_, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic})
		require.Error(t, err, topic)
		assert.True(t, client.IsPermanent(err), "%s: %v", topic, err)
		var de *client.Error
		require.ErrorAs(t, err, &de)
		assert.Equal(t, codes.InvalidArgument, de.Code)
		assert.Equal(t, topic, de.Topic)

		_, err = c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "s"})
		assert.True(t, client.IsPermanent(err), "%s: %v", topic, err)
	}
}

func TestSubscribeUnknownTopicIsNotFound(t *testing.T) {
	b := danubetest.Start(t)
	c := newClient(t, fastOptions(b.URL()))
	_, err := c.Subscribe(testCtx(t), client.ConsumerOptions{Topic: "/default/never-created", Subscription: "s"})
	require.Error(t, err)
	assert.Equal(t, codes.NotFound, errCode(err))
	assert.True(t, client.IsPermanent(err))
}

func errCode(err error) codes.Code {
	var de *client.Error
	if ok := asError(err, &de); ok {
		return de.Code
	}
	return codes.Unknown
}

func TestPartitionedRoutingByKeyAndRoundRobin(t *testing.T) {
	url, _ := danubetest.BrokerURL(t)
	c := newClient(t, fastOptions(url))
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	const parts = 3
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "pp", Partitions: parts, Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	require.Len(t, p.Partitions(), parts)
	cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "all"})
	require.NoError(t, err)
	require.Equal(t, []string{topic + "-part-0", topic + "-part-1", topic + "-part-2"}, cons.Topics())

	// Round-robin starts at partition 0 and cycles.
	for i := range 6 {
		rcpt, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte("rr" + strconv.Itoa(i))})
		require.NoError(t, err)
		assert.Equal(t, client.PartitionTopic(topic, i%parts), rcpt.Topic)
	}
	keys := []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"}
	for _, k := range keys {
		rcpt, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte("key:" + k), RoutingKey: k})
		require.NoError(t, err)
		assert.Equal(t, client.PartitionTopic(topic, client.PartitionForKey(k, parts)), rcpt.Topic, k)
	}
	msgs := receiveN(t, ctx, cons, 6+len(keys))
	seen := map[string]string{}
	for _, m := range msgs {
		seen[string(m.Payload)] = m.Topic
	}
	for _, k := range keys {
		assert.Equal(t, client.PartitionTopic(topic, client.PartitionForKey(k, parts)), seen["key:"+k], k)
	}
	for i := range 6 {
		assert.Equal(t, client.PartitionTopic(topic, i%parts), seen["rr"+strconv.Itoa(i)])
	}
}

func TestSubscriptionTypes(t *testing.T) {
	url, _ := danubetest.BrokerURL(t)
	ctx := testCtx(t)

	t.Run("exclusive rejects a second consumer name", func(t *testing.T) {
		c := newClient(t, fastOptions(url))
		topic := uniqueTopic(t)
		p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "p", Dispatch: client.DispatchReliable})
		require.NoError(t, err)
		c1, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "ex", Type: client.SubscriptionExclusive, ConsumerName: "first"})
		require.NoError(t, err)
		_, err = c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "ex", Type: client.SubscriptionExclusive, ConsumerName: "second"})
		require.Error(t, err)
		assert.Equal(t, codes.PermissionDenied, errCode(err))
		assert.True(t, client.IsPermanent(err))
		for i := range 5 {
			_, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte{byte(i)}})
			require.NoError(t, err)
		}
		receiveN(t, ctx, c1, 5)
	})

	t.Run("shared spreads messages over consumers, each once", func(t *testing.T) {
		c := newClient(t, fastOptions(url))
		topic := uniqueTopic(t)
		p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "p", Dispatch: client.DispatchReliable})
		require.NoError(t, err)
		var cons []*client.Consumer
		for i := range 2 {
			cs, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "sh", Type: client.SubscriptionShared, ConsumerName: "c" + strconv.Itoa(i)})
			require.NoError(t, err)
			cons = append(cons, cs)
		}
		const n = 40
		for i := range n {
			_, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte(strconv.Itoa(i))})
			require.NoError(t, err)
		}
		counts, _ := drainAll(t, ctx, cons, n)
		assert.Positive(t, counts[0])
		assert.Positive(t, counts[1])
	})

	t.Run("failover delivers to one consumer", func(t *testing.T) {
		c := newClient(t, fastOptions(url))
		topic := uniqueTopic(t)
		p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "p", Dispatch: client.DispatchReliable})
		require.NoError(t, err)
		var cons []*client.Consumer
		for i := range 2 {
			cs, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "fo", Type: client.SubscriptionFailover, ConsumerName: "c" + strconv.Itoa(i)})
			require.NoError(t, err)
			cons = append(cons, cs)
		}
		const n = 10
		for i := range n {
			_, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte(strconv.Itoa(i))})
			require.NoError(t, err)
		}
		counts, _ := drainAll(t, ctx, cons, n)
		assert.True(t, counts[0] == n || counts[1] == n, "one active consumer gets everything: %v", counts)
	})

	t.Run("key_shared pins keys and honours filters", func(t *testing.T) {
		c := newClient(t, fastOptions(url))
		topic := uniqueTopic(t)
		p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "p", Dispatch: client.DispatchReliable})
		require.NoError(t, err)
		eu, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "ks", Type: client.SubscriptionKeyShared, ConsumerName: "eu", KeyFilters: []string{"eu-*"}})
		require.NoError(t, err)
		us, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "ks", Type: client.SubscriptionKeyShared, ConsumerName: "us", KeyFilters: []string{"us-?"}})
		require.NoError(t, err)
		keys := []string{"eu-paris", "us-1", "eu-rome", "us-2", "eu-oslo", "us-3"}
		for round := range 3 {
			for _, k := range keys {
				_, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte(fmt.Sprintf("%s/%d", k, round)), RoutingKey: k})
				require.NoError(t, err)
			}
		}
		// Read both consumers at once: unacked messages of one hold the
		// subscription's window for the other.
		_, byConsumer := drainAll(t, ctx, []*client.Consumer{eu, us}, 18)
		require.Len(t, byConsumer[0], 9)
		require.Len(t, byConsumer[1], 9)
		for _, payload := range byConsumer[0] {
			assert.Regexp(t, `^eu-`, payload)
		}
		for _, payload := range byConsumer[1] {
			assert.Regexp(t, `^us-`, payload)
		}
	})

	t.Run("key filters need key_shared", func(t *testing.T) {
		c := newClient(t, fastOptions(url))
		_, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: "/default/x", Subscription: "s", KeyFilters: []string{"a"}})
		require.Error(t, err)
		assert.True(t, client.IsPermanent(err))
	})
}

// drainAll receives and acks want messages from any of cons and returns,
// per consumer, the payloads it got. It fails on duplicates.
func drainAll(t *testing.T, ctx context.Context, cons []*client.Consumer, want int) ([]int, [][]string) {
	t.Helper()
	counts := make([]int, len(cons))
	got := make([][]string, len(cons))
	seen := map[string]bool{}
	var mu sync.Mutex
	total := atomic.Int64{}
	var wg sync.WaitGroup
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for i, cs := range cons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for total.Load() < int64(want) {
				rctx, rcancel := context.WithTimeout(dctx, 200*time.Millisecond)
				m, err := cs.Receive(rctx)
				rcancel()
				if err != nil {
					if dctx.Err() != nil {
						return
					}
					continue
				}
				_ = cs.Ack(ctx, m)
				mu.Lock()
				counts[i]++
				got[i] = append(got[i], string(m.Payload))
				assert.False(t, seen[string(m.Payload)], "duplicate %q", m.Payload)
				seen[string(m.Payload)] = true
				mu.Unlock()
				total.Add(1)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, want, total.Load())
	// Nothing more may arrive: no duplicates.
	for _, cs := range cons {
		expectNoMessage(t, cs, 100*time.Millisecond)
	}
	return counts, got
}

func TestNackRedeliversSameMessage(t *testing.T) {
	b := danubetest.Start(t, danubetest.Options{FailurePolicy: danubetest.FailurePolicy{
		BaseRedeliveryDelay: 50 * time.Millisecond, MaxRedeliveryDelay: 200 * time.Millisecond, Backoff: danubetest.BackoffFixed,
	}})
	c := newClient(t, fastOptions(b.URL()))
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "p", Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "s"})
	require.NoError(t, err)
	_, err = p.Send(ctx, client.OutgoingMessage{Payload: []byte("retry me")})
	require.NoError(t, err)

	first, err := cons.Receive(ctx)
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, cons.Nack(ctx, first, 100*time.Millisecond, "processing failed"))
	again, err := cons.Receive(ctx)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond, "redelivery honours the requested delay")
	assert.Equal(t, first.Offset, again.Offset)
	assert.Equal(t, "retry me", string(again.Payload))
	require.NoError(t, cons.Ack(ctx, again))
	expectNoMessage(t, cons, 300*time.Millisecond)
}

func TestAuthRejectionIsPermanentTypedError(t *testing.T) {
	secret := []byte("test-secret")
	b := danubetest.Start(t, danubetest.Options{Auth: &danubetest.AuthOptions{Secret: secret, Deny: []string{"mallory"}}})
	ctx := testCtx(t)
	topic := uniqueTopic(t)

	anon := newClient(t, fastOptions(b.URL()))
	_, err := anon.NewProducer(ctx, client.ProducerOptions{Topic: topic})
	require.Error(t, err)
	assert.Equal(t, codes.Unauthenticated, errCode(err), "%v", err)
	assert.True(t, client.IsPermanent(err))
	assert.False(t, client.IsRetryable(err))
	assert.Error(t, anon.Ping(ctx))

	bad := fastOptions(b.URL())
	bad.Token = "not-a-jwt"
	_, err = newClient(t, bad).NewProducer(ctx, client.ProducerOptions{Topic: topic})
	assert.Equal(t, codes.Unauthenticated, errCode(err), "%v", err)

	denied := fastOptions(b.URL())
	denied.Token, err = danubetest.MintToken(secret, "mallory", time.Hour)
	require.NoError(t, err)
	_, err = newClient(t, denied).NewProducer(ctx, client.ProducerOptions{Topic: topic})
	assert.Equal(t, codes.PermissionDenied, errCode(err), "%v", err)
	assert.True(t, client.IsPermanent(err))

	good := fastOptions(b.URL())
	good.Token, err = danubetest.MintToken(secret, "alice", time.Hour)
	require.NoError(t, err)
	gc := newClient(t, good)
	require.NoError(t, gc.Ping(ctx))
	p, err := gc.NewProducer(ctx, client.ProducerOptions{Topic: topic, Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	_, err = p.Send(ctx, client.OutgoingMessage{Payload: []byte("ok")})
	require.NoError(t, err)
	assert.Contains(t, b.HeaderValues("authorization"), "Bearer "+good.Token)
}

func TestUnavailableIsRetried(t *testing.T) {
	b := danubetest.Start(t)
	opts := fastOptions(b.URL())
	var retries atomic.Int64
	opts.OnRetry = func(err error) {
		if client.IsRetryable(err) {
			retries.Add(1)
		}
	}
	c := newClient(t, opts)
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Dispatch: client.DispatchReliable})
	require.NoError(t, err)

	b.FailNext("SendMessage", codes.Unavailable, 3)
	_, err = p.Send(ctx, client.OutgoingMessage{Payload: []byte("x")})
	require.NoError(t, err)
	assert.EqualValues(t, 3, retries.Load())

	b.FailNext("SendMessage", codes.ResourceExhausted, 1)
	_, err = p.Send(ctx, client.OutgoingMessage{Payload: []byte("y")})
	require.NoError(t, err)

	// Retries are bounded.
	few := fastOptions(b.URL())
	few.Backoff.MaxRetries = 2
	p2, err := newClient(t, few).NewProducer(ctx, client.ProducerOptions{Topic: topic, Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	b.FailNext("SendMessage", codes.Unavailable, 10)
	_, err = p2.Send(ctx, client.OutgoingMessage{Payload: []byte("z")})
	require.Error(t, err)
	assert.True(t, client.IsRetryable(err))
	b.FailNext("SendMessage", codes.Unavailable, 0)

	// A non-retryable code surfaces at once as a typed error.
	b.FailNext("SendMessage", codes.InvalidArgument, 1)
	_, err = p.Send(ctx, client.OutgoingMessage{Payload: []byte("w")})
	require.Error(t, err)
	var de *client.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, codes.InvalidArgument, de.Code)
	assert.Equal(t, "send", de.Op)
	assert.Equal(t, topic, de.Topic)
}

func TestBrokerRestartMidStream(t *testing.T) {
	b := danubetest.Start(t)
	c := newClient(t, fastOptions(b.URL()))
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "p", Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "s", ConsumerName: "c"})
	require.NoError(t, err)

	for i := range 5 {
		_, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte("before" + strconv.Itoa(i))})
		require.NoError(t, err)
	}
	receiveN(t, ctx, cons, 5)

	require.NoError(t, b.Restart())

	// The producer is forgotten by the broker: the send path re-creates it.
	for i := range 5 {
		_, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte("after" + strconv.Itoa(i))})
		require.NoError(t, err)
	}
	// The consumer resubscribes on its own and gets the new messages.
	got := receiveN(t, ctx, cons, 5)
	for i, m := range got {
		assert.Equal(t, "after"+strconv.Itoa(i), string(m.Payload))
	}
	assert.NoError(t, cons.Err())
}

func TestBrokerDownThenUpDuringSend(t *testing.T) {
	b := danubetest.Start(t)
	c := newClient(t, fastOptions(b.URL()))
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "p", Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	b.Stop()
	done := make(chan error, 1)
	go func() {
		_, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte("late")})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the send hit the dead broker first
	require.NoError(t, b.Restart())
	require.NoError(t, <-done)
}

func TestHealthCheckCloseRecreatesProducerAndResubscribes(t *testing.T) {
	b := danubetest.Start(t)
	c := newClient(t, fastOptions(b.URL()))
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "p", Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "s", ConsumerName: "c"})
	require.NoError(t, err)

	require.True(t, b.CloseTopic(topic))
	// Wait until both sides re-attached via their health checks, with no
	// send in between that could trigger the re-creation instead.
	require.Eventually(t, func() bool {
		st, ok := b.Stats(topic)
		return ok && st.Producers > 0 && st.Subscriptions["s"].ActiveConsumers > 0
	}, 5*time.Second, 20*time.Millisecond)
	_, err = p.Send(ctx, client.OutgoingMessage{Payload: []byte("after close")})
	require.NoError(t, err)
	m := receiveN(t, ctx, cons, 1)[0]
	assert.Equal(t, "after close", string(m.Payload))
}

func TestConcurrentSendsOnOneProducer(t *testing.T) {
	b := danubetest.Start(t, danubetest.Options{MaxUnacked: 1000})
	c := newClient(t, fastOptions(b.URL()))
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "p", Partitions: 2, Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "s"})
	require.NoError(t, err)

	// A slow broker proves the sends overlap: 16 senders x 5 sends at 20 ms
	// each take ~100 ms in parallel, 1.6 s if serialised.
	b.SetDelay("SendMessage", 20*time.Millisecond)
	const senders, each = 16, 5
	var wg sync.WaitGroup
	start := time.Now()
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte(fmt.Sprintf("%d-%d", s, i))})
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	oneStart := time.Now()
	_, err = p.Send(ctx, client.OutgoingMessage{Payload: []byte("single")})
	require.NoError(t, err)
	one := time.Since(oneStart)
	b.SetDelay("SendMessage", 0)
	// Serialised, 80 sends would take 80x one send; overlapping they take a
	// small multiple of it.
	assert.Less(t, elapsed, 20*one, "sends must overlap (80 sends took %v, one took %v)", elapsed, one)

	got := receiveN(t, ctx, cons, senders*each+1)
	uniq := map[string]bool{}
	for _, m := range got {
		uniq[string(m.Payload)] = true
	}
	assert.Len(t, uniq, senders*each+1)
}

func TestSendHonoursContextWhileProducerIsRecreated(t *testing.T) {
	b := danubetest.Start(t)
	c := newClient(t, fastOptions(b.URL()))
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "p", Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	b.SetDelay("CreateProducer", 5*time.Second)
	defer b.SetDelay("CreateProducer", 0)
	require.True(t, b.CloseTopic(topic)) // the health check starts a slow re-creation

	done := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond) // health checks run every 100 ms
		sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err := p.Send(sctx, client.OutgoingMessage{Payload: []byte("x")})
		done <- err
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Equal(t, codes.DeadlineExceeded, errCode(err), "%v", err)
	case <-time.After(4 * time.Second):
		t.Fatal("Send ignored its context while waiting for the producer re-creation")
	}
}

func TestRedirectAndProxyHeader(t *testing.T) {
	cluster := danubetest.NewCluster()
	front := danubetest.Start(t, danubetest.Options{Cluster: cluster})
	owner := danubetest.Start(t, danubetest.Options{Cluster: cluster, ConnectURL: front.URL()})
	cluster.PlaceNewTopicsOn(owner)

	c := newClient(t, fastOptions(front.URL()))
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "p", Dispatch: client.DispatchReliable})
	require.NoError(t, err)

	res, err := c.Lookup(ctx, topic)
	require.NoError(t, err)
	assert.True(t, res.Redirect)
	assert.True(t, res.Proxy)
	assert.Equal(t, owner.URL(), res.BrokerURL)

	cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "s"})
	require.NoError(t, err)
	_, err = p.Send(ctx, client.OutgoingMessage{Payload: []byte("via proxy")})
	require.NoError(t, err)
	assert.Equal(t, "via proxy", string(receiveN(t, ctx, cons, 1)[0].Payload))
	assert.Contains(t, front.HeaderValues(danubetest.ProxyHeader), owner.URL())
}

func TestRedirectWithoutProxy(t *testing.T) {
	cluster := danubetest.NewCluster()
	front := danubetest.Start(t, danubetest.Options{Cluster: cluster})
	owner := danubetest.Start(t, danubetest.Options{Cluster: cluster})
	cluster.PlaceNewTopicsOn(owner)
	c := newClient(t, fastOptions(front.URL()))
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	res, err := c.Lookup(ctx, topic)
	require.NoError(t, err)
	assert.True(t, res.Redirect)
	assert.False(t, res.Proxy)
	_, err = p.Send(ctx, client.OutgoingMessage{Payload: []byte("direct")})
	require.NoError(t, err)
	st, ok := owner.Stats(topic)
	require.True(t, ok)
	assert.Positive(t, st.Producers)
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	b := danubetest.Start(t)
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	// Warm up gRPC's global goroutines before counting.
	warm := newClient(t, fastOptions(b.URL()))
	_, err := warm.NewProducer(ctx, client.ProducerOptions{Topic: topic, Partitions: 2, Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	base := runtime.NumGoroutine()

	for range 3 {
		c, err := client.New(fastOptions(b.URL()))
		require.NoError(t, err)
		p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Partitions: 2, Dispatch: client.DispatchReliable})
		require.NoError(t, err)
		cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "leak"})
		require.NoError(t, err)
		_, err = p.Send(ctx, client.OutgoingMessage{Payload: []byte("x")})
		require.NoError(t, err)
		time.Sleep(250 * time.Millisecond) // let health checks run
		require.NoError(t, cons.Close())
		require.NoError(t, c.Close()) // closes the producer too
		require.NoError(t, c.Close())
		_, err = p.Send(ctx, client.OutgoingMessage{Payload: []byte("x")})
		require.Error(t, err)
		_, err = cons.Receive(ctx)
		require.ErrorIs(t, err, client.ErrClosed)
	}
	waitGoroutines(t, base)
}

func TestSchemaRegistryAndProducerSchemaReference(t *testing.T) {
	url, _ := danubetest.BrokerURL(t)
	c := newClient(t, fastOptions(url))
	ctx := testCtx(t)
	reg := c.Schemas()
	subject := "orders-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	v1 := []byte(`{"type":"object","properties":{"id":{"type":"integer"}},"required":["id"]}`)
	v2 := []byte(`{"type":"object","properties":{"id":{"type":"integer"},"note":{"type":"string"}},"required":["id"]}`)

	r1, err := reg.Register(ctx, client.SchemaDefinition{Subject: subject, Type: client.SchemaJSON, Definition: v1, Description: "v1"})
	require.NoError(t, err)
	assert.EqualValues(t, 1, r1.Version)
	assert.True(t, r1.IsNewVersion)
	again, err := reg.Register(ctx, client.SchemaDefinition{Subject: subject, Type: client.SchemaJSON, Definition: v1})
	require.NoError(t, err)
	assert.False(t, again.IsNewVersion)
	assert.Equal(t, r1.Version, again.Version)

	ok, reasons, err := reg.CheckCompatibility(ctx, subject, client.SchemaJSON, v2, "")
	require.NoError(t, err)
	assert.True(t, ok, "%v", reasons)
	r2, err := reg.Register(ctx, client.SchemaDefinition{Subject: subject, Type: client.SchemaJSON, Definition: v2})
	require.NoError(t, err)
	assert.EqualValues(t, 2, r2.Version)
	assert.Equal(t, r1.ID, r2.ID, "schema ids are per subject")

	latest, err := reg.Latest(ctx, subject)
	require.NoError(t, err)
	assert.EqualValues(t, 2, latest.Version)
	assert.Equal(t, subject, latest.Subject)
	first, err := reg.Get(ctx, r1.ID, 1)
	require.NoError(t, err)
	assert.EqualValues(t, 1, first.Version)
	versions, err := reg.ListVersions(ctx, subject)
	require.NoError(t, err)
	assert.Len(t, versions, 2)
	require.NoError(t, reg.SetCompatibilityMode(ctx, subject, client.CompatibilityFull))
	assert.Error(t, reg.SetCompatibilityMode(ctx, subject, "sideways"))

	// Avro and Protobuf subjects register the same way.
	for _, sc := range []struct {
		typ client.SchemaType
		def string
	}{
		{client.SchemaAvro, `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}`},
		{client.SchemaProtobuf, `syntax = "proto3"; message Order { int64 id = 1; }`},
	} {
		res, err := reg.Register(ctx, client.SchemaDefinition{Subject: subject + "-" + string(sc.typ), Type: sc.typ, Definition: []byte(sc.def)})
		require.NoError(t, err, sc.typ)
		info, err := reg.Get(ctx, res.ID, res.Version)
		require.NoError(t, err, sc.typ)
		assert.Equal(t, sc.typ, info.Type)
	}

	_, err = reg.Latest(ctx, "no-such-subject-"+subject)
	assert.Equal(t, codes.NotFound, errCode(err))

	// Producers stamp the resolved schema on every message.
	for _, tc := range []struct {
		name string
		ref  client.SchemaRef
		want uint32
	}{
		{"latest", client.SchemaRef{Subject: subject}, 2},
		{"pinned", client.SchemaRef{Subject: subject, Version: 1}, 1},
		{"min", client.SchemaRef{Subject: subject, MinVersion: 2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := uniqueTopic(t)
			p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Dispatch: client.DispatchReliable, Schema: &tc.ref})
			require.NoError(t, err)
			cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "s"})
			require.NoError(t, err)
			_, err = p.Send(ctx, client.OutgoingMessage{Payload: []byte(`{"id":1}`)})
			require.NoError(t, err)
			m := receiveN(t, ctx, cons, 1)[0]
			assert.Equal(t, r1.ID, m.SchemaID)
			assert.Equal(t, tc.want, m.SchemaVersion)
		})
	}
	_, err = c.NewProducer(ctx, client.ProducerOptions{Topic: uniqueTopic(t), Schema: &client.SchemaRef{Subject: subject, Version: 9}})
	assert.True(t, client.IsPermanent(err), "%v", err)
	_, err = c.NewProducer(ctx, client.ProducerOptions{Topic: uniqueTopic(t), Schema: &client.SchemaRef{Subject: "unknown-" + subject}})
	assert.True(t, client.IsPermanent(err), "%v", err)
}

func TestDispatchStrategyMismatchIsPermanent(t *testing.T) {
	url, _ := danubetest.BrokerURL(t)
	c := newClient(t, fastOptions(url))
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	_, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "a", Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	_, err = c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "b", Dispatch: client.DispatchNonReliable})
	require.Error(t, err)
	assert.Equal(t, codes.FailedPrecondition, errCode(err))
	assert.True(t, client.IsPermanent(err))
}

func TestNonReliableTopic(t *testing.T) {
	url, _ := danubetest.BrokerURL(t)
	c := newClient(t, fastOptions(url))
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Dispatch: client.DispatchNonReliable})
	require.NoError(t, err)
	cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "s"})
	require.NoError(t, err)
	// Non-reliable messages sent before the receive stream is attached are
	// dropped, so probe until one arrives, then send slowly enough for the
	// small non-reliable buffer.
	require.Eventually(t, func() bool {
		_, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte("probe")})
		require.NoError(t, err)
		rctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err = cons.Receive(rctx)
		return err == nil
	}, 10*time.Second, time.Millisecond)
	for {
		rctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err := cons.Receive(rctx)
		cancel()
		if err != nil {
			break
		}
	}
	for i := range 3 {
		_, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte(strconv.Itoa(i))})
		require.NoError(t, err)
		m := receiveN(t, ctx, cons, 1)[0]
		assert.Equal(t, strconv.Itoa(i), string(m.Payload))
	}
}

func TestMultipleTopicsOneConsumer(t *testing.T) {
	url, _ := danubetest.BrokerURL(t)
	c := newClient(t, fastOptions(url))
	ctx := testCtx(t)
	t1, t2 := uniqueTopic(t), uniqueTopic(t)
	p1, err := c.NewProducer(ctx, client.ProducerOptions{Topic: t1, Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	p2, err := c.NewProducer(ctx, client.ProducerOptions{Topic: t2, Partitions: 2, Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topics: []string{t1, t2}, Subscription: "multi"})
	require.NoError(t, err)
	assert.Len(t, cons.Topics(), 3)
	_, err = p1.Send(ctx, client.OutgoingMessage{Payload: []byte("one")})
	require.NoError(t, err)
	_, err = p2.Send(ctx, client.OutgoingMessage{Payload: []byte("two")})
	require.NoError(t, err)
	got := map[string]string{}
	for _, m := range receiveN(t, ctx, cons, 2) {
		got[string(m.Payload)] = m.Topic
	}
	assert.Equal(t, t1, got["one"])
	assert.Equal(t, t2+"-part-0", got["two"])
}

func TestBrokenStreamIsReopened(t *testing.T) {
	b := danubetest.Start(t)
	c := newClient(t, fastOptions(b.URL()))
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "p", Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "s", ConsumerName: "c"})
	require.NoError(t, err)
	_, err = p.Send(ctx, client.OutgoingMessage{Payload: []byte("one")})
	require.NoError(t, err)
	unacked, err := cons.Receive(ctx)
	require.NoError(t, err)

	b.KillStreams()
	_, err = p.Send(ctx, client.OutgoingMessage{Payload: []byte("two")})
	require.NoError(t, err)
	// The unacked message comes again on the new stream, then the new one.
	msgs := receiveN(t, ctx, cons, 2)
	assert.Equal(t, "one", string(msgs[0].Payload))
	assert.Equal(t, unacked.Offset, msgs[0].Offset)
	assert.Equal(t, "two", string(msgs[1].Payload))
	assert.NoError(t, cons.Err())
}

func TestPermanentStreamFailureBreaksConsumer(t *testing.T) {
	b := danubetest.Start(t)
	c := newClient(t, fastOptions(b.URL()))
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	_, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	b.FailNext("ReceiveMessages", codes.PermissionDenied, 1)
	cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "s"})
	require.NoError(t, err)
	select {
	case <-cons.Broken():
	case <-ctx.Done():
		t.Fatal("consumer not broken by a denied stream")
	}
	_, err = cons.Receive(ctx)
	assert.Equal(t, codes.PermissionDenied, errCode(err), "%v", err)
	assert.Equal(t, err, cons.Err())
}

// TestConsumerOutlastsLongBrokerOutage: a broker that stays down for longer
// than the retry budget of one operation must not break the consumer; it
// keeps resubscribing (capped backoff) until the broker is back, and the
// messages it had received but not acknowledged are redelivered.
func TestConsumerOutlastsLongBrokerOutage(t *testing.T) {
	b := danubetest.Start(t, danubetest.Options{MaxUnacked: 100})
	opts := fastOptions(b.URL())
	opts.Backoff = client.Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, MaxRetries: 3}
	var retries atomic.Int64
	opts.OnRetry = func(error) { retries.Add(1) }
	c := newClient(t, opts)
	ctx := testCtx(t)
	topic := uniqueTopic(t)
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "p", Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "s", ConsumerName: "c", Type: client.SubscriptionExclusive})
	require.NoError(t, err)
	for i := range 20 {
		_, err := p.Send(ctx, client.OutgoingMessage{Payload: []byte("m" + strconv.Itoa(i))})
		require.NoError(t, err)
	}
	// Ack the first ten only; the other ten stay unacknowledged.
	for i, m := range receiveAll(t, ctx, cons, 20) {
		if i < 10 {
			require.NoError(t, cons.Ack(ctx, m))
		}
	}

	b.Stop()
	// Far more failed attempts than one operation's budget (3 retries).
	base := retries.Load()
	deadline := time.Now().Add(20 * time.Second)
	for retries.Load()-base < 30 {
		require.False(t, time.Now().After(deadline), "the consumer should keep retrying while the broker is down")
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, cons.Err(), "a transient outage must not break the consumer")
	require.NoError(t, b.Restart())

	seen := map[string]bool{}
	for len(seen) < 10 {
		m, err := cons.Receive(ctx)
		require.NoError(t, err, "the consumer resumes after the outage")
		seen[string(m.Payload)] = true
		require.NoError(t, cons.Ack(ctx, m))
	}
	for i := 10; i < 20; i++ {
		assert.True(t, seen["m"+strconv.Itoa(i)], "unacked m%d is redelivered", i)
	}
}

// receiveAll receives n messages without acknowledging them.
func receiveAll(t *testing.T, ctx context.Context, cons *client.Consumer, n int) []*client.Message {
	t.Helper()
	out := make([]*client.Message, 0, n)
	for len(out) < n {
		m, err := cons.Receive(ctx)
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}
