package danubetest

import (
	"fmt"
	"testing"
	"time"

	pb "github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

func TestNewReliableSubscriptionStartsAtTail(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	for i := 0; i < 3; i++ {
		c.send("/default/t", pid, "old")
	}
	r := c.receive(c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive))
	c.send("/default/t", pid, "new")
	if m := r.next(t); string(m.Payload) != "new" || m.MsgId.TopicOffset != 3 {
		t.Fatalf("got %q@%d, want new@3", m.Payload, m.MsgId.TopicOffset)
	}
}

func TestMaxUnackedWindow(t *testing.T) {
	b := Start(t, Options{MaxUnacked: 3})
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	r := c.receive(c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive))
	for i := 0; i < 6; i++ {
		c.send("/default/t", pid, fmt.Sprint(i))
	}
	var got []*pb.StreamMessage
	for i := 0; i < 3; i++ {
		got = append(got, r.next(t))
	}
	r.none(t, 100*time.Millisecond)
	c.ack(got[1], "s") // out-of-order ack frees one slot
	if m := r.next(t); m.MsgId.TopicOffset != 3 {
		t.Fatalf("got offset %d, want 3", m.MsgId.TopicOffset)
	}
	r.none(t, 50*time.Millisecond)
	st, _ := b.Stats("/default/t")
	if s := st.Subscriptions["s"]; s.InFlight != 3 || s.AckedCursor != 0 {
		t.Fatalf("stats %+v", s)
	}

	// Per-subscription override.
	b.SetSubscriptionDispatch("/default/t", "s", 10)
	for i := 4; i < 6; i++ {
		if m := r.next(t); m.MsgId.TopicOffset != uint64(i) {
			t.Fatalf("got offset %d want %d", m.MsgId.TopicOffset, i)
		}
	}
}

func TestNackRedeliveryDelay(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	b.SetFailurePolicy("/default/t", "s", FailurePolicy{BaseRedeliveryDelay: 50 * time.Millisecond, Backoff: BackoffFixed})
	r := c.receive(c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive))
	c.send("/default/t", pid, "a")
	m := r.next(t)

	// delay_ms larger than the policy delay wins.
	start := time.Now()
	c.nack(m, "s", 300)
	m2 := r.next(t)
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("redelivered after %v, want >= 300ms", el)
	}
	if m2.MsgId.TopicOffset != m.MsgId.TopicOffset || string(m2.Payload) != "a" {
		t.Fatalf("redelivery differs: %v", m2)
	}
	// delay_ms 0 still waits the policy delay.
	start = time.Now()
	c.nack(m2, "s", 0)
	r.next(t)
	if el := time.Since(start); el < 50*time.Millisecond {
		t.Fatalf("redelivered after %v, want >= 50ms", el)
	}
}

func TestRedeliveryDelayPolicy(t *testing.T) {
	p := FailurePolicy{BaseRedeliveryDelay: 100 * time.Millisecond, MaxRedeliveryDelay: time.Second}.withDefaults()
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 30: time.Second} {
		if got := p.redeliveryDelay(attempt, 0); got != want {
			t.Errorf("exponential attempt %d: %v want %v", attempt, got, want)
		}
	}
	if got := p.redeliveryDelay(1, 500*time.Millisecond); got != 500*time.Millisecond {
		t.Errorf("requested delay ignored: %v", got)
	}
	if got := p.redeliveryDelay(1, time.Hour); got != time.Second {
		t.Errorf("cap ignored: %v", got)
	}
	p.Backoff = BackoffFixed
	if got := p.redeliveryDelay(4, 0); got != 100*time.Millisecond {
		t.Errorf("fixed: %v", got)
	}
}

func TestAckTimeoutRedelivers(t *testing.T) {
	b := Start(t, Options{FailurePolicy: FailurePolicy{AckTimeout: 100 * time.Millisecond, BaseRedeliveryDelay: 10 * time.Millisecond, Backoff: BackoffFixed}})
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	r := c.receive(c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive))
	// The ack timeout runs from the dispatch, which happens before the
	// send returns: measure from before the send.
	start := time.Now()
	c.send("/default/t", pid, "a")
	m := r.next(t)
	m2 := r.next(t)
	if time.Since(start) < 100*time.Millisecond || m2.MsgId.TopicOffset != m.MsgId.TopicOffset {
		t.Fatalf("timeout redelivery wrong: after %v offset %d", time.Since(start), m2.MsgId.TopicOffset)
	}
	c.ack(m2, "s")
	r.none(t, 250*time.Millisecond)
}

func TestRedeliveryInOffsetOrder(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	b.SetFailurePolicy("/default/t", "s", FailurePolicy{BaseRedeliveryDelay: 30 * time.Millisecond, Backoff: BackoffFixed})
	r := c.receive(c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive))
	for i := 0; i < 4; i++ {
		c.send("/default/t", pid, fmt.Sprint(i))
	}
	ms := make([]*pb.StreamMessage, 4)
	for i := range ms {
		ms[i] = r.next(t)
	}
	c.nack(ms[3], "s", 0)
	c.nack(ms[1], "s", 0)
	c.nack(ms[2], "s", 0)
	for _, want := range []uint64{1, 2, 3} {
		if m := r.next(t); m.MsgId.TopicOffset != want {
			t.Fatalf("redelivered %d, want %d", m.MsgId.TopicOffset, want)
		}
	}
}

func TestPoisonPolicies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy PoisonPolicy
	}{{"drop", PoisonDrop}, {"block", PoisonBlock}, {"deadletter", PoisonDeadLetter}} {
		t.Run(tc.name, func(t *testing.T) {
			b := Start(t)
			c := dial(t, b.URL())
			pid := c.producer("/default/t", "p", true)
			c.producer("/default/dlq", "p", true)
			dlq := c.receive(c.subscribe("/default/dlq", "d", "c", pb.ConsumerRequest_Exclusive))
			b.SetFailurePolicy("/default/t", "s", FailurePolicy{MaxRedeliveryCount: 1, BaseRedeliveryDelay: 10 * time.Millisecond,
				Backoff: BackoffFixed, Poison: tc.policy, DeadLetterTopic: "/default/dlq"})
			b.SetSubscriptionDispatch("/default/t", "s", 1)
			r := c.receive(c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive))
			c.send("/default/t", pid, "poison")
			c.send("/default/t", pid, "next")
			m := r.next(t)
			c.nack(m, "s", 0)
			m = r.next(t)
			if string(m.Payload) != "poison" {
				t.Fatalf("got %q, want the redelivered poison", m.Payload)
			}
			c.nack(m, "s", 0) // exceeds max_redelivery_count
			switch tc.policy {
			case PoisonBlock:
				r.none(t, 150*time.Millisecond)
				st, _ := b.Stats("/default/t")
				if !st.Subscriptions["s"].Blocked {
					t.Fatal("subscription not blocked")
				}
			case PoisonDrop:
				if m := r.next(t); string(m.Payload) != "next" {
					t.Fatalf("got %q", m.Payload)
				}
			case PoisonDeadLetter:
				if m := r.next(t); string(m.Payload) != "next" {
					t.Fatalf("got %q", m.Payload)
				}
				if d := dlq.next(t); string(d.Payload) != "poison" || d.MsgId.TopicName != "/default/dlq" {
					t.Fatalf("dead letter got %q on %s", d.Payload, d.MsgId.TopicName)
				}
			}
		})
	}
}

func TestSharedRoundRobinAndFailoverOnDrop(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	r1 := c.receive(c.subscribe("/default/t", "s", "c1", pb.ConsumerRequest_Shared))
	r2 := c.receive(c.subscribe("/default/t", "s", "c2", pb.ConsumerRequest_Shared))
	eventually(t, "two active streams", func() bool { st, _ := b.Stats("/default/t"); return st.Subscriptions["s"].Streaming == 2 })
	for i := 0; i < 4; i++ {
		c.send("/default/t", pid, fmt.Sprint(i))
	}
	a1, a2 := r1.next(t), r2.next(t)
	b1, b2 := r1.next(t), r2.next(t)
	if a1.MsgId.TopicOffset != 0 || a2.MsgId.TopicOffset != 1 || b1.MsgId.TopicOffset != 2 || b2.MsgId.TopicOffset != 3 {
		t.Fatalf("not round-robin: %d %d %d %d", a1.MsgId.TopicOffset, a2.MsgId.TopicOffset, b1.MsgId.TopicOffset, b2.MsgId.TopicOffset)
	}
	c.ack(a1, "s")
	c.ack(b1, "s")
	// c2 drops with two unacked messages: they move to c1.
	r2.cancel()
	got := map[uint64]bool{r1.next(t).MsgId.TopicOffset: true, r1.next(t).MsgId.TopicOffset: true}
	if !got[1] || !got[3] {
		t.Fatalf("c1 got %v, want offsets 1 and 3", got)
	}
}

func TestExclusiveReconnectResendsInOrder(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	id := c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive)
	r := c.receive(id)
	for i := 0; i < 10; i++ {
		c.send("/default/t", pid, fmt.Sprint(i))
	}
	for i := 0; i < 3; i++ {
		c.ack(r.next(t), "s")
	}
	r.next(t) // msg 3 unacked
	r.cancel()
	eventually(t, "consumer inactive", func() bool { st, _ := b.Stats("/default/t"); return st.Subscriptions["s"].ActiveConsumers == 0 })
	if id2 := c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive); id2 != id {
		t.Fatal("new id on re-subscribe")
	}
	r2 := c.receive(id)
	for i := 3; i < 10; i++ {
		m := r2.next(t)
		if m.MsgId.TopicOffset != uint64(i) {
			t.Fatalf("got %d want %d", m.MsgId.TopicOffset, i)
		}
		c.ack(m, "s")
	}
}

func TestSecondReceiveTakesOver(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	id := c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive)
	r1 := c.receive(id)
	c.send("/default/t", pid, "a")
	r1.next(t)
	r2 := c.receive(id)
	select {
	case err := <-r1.errc:
		if err == nil {
			t.Fatal("first stream ended without error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("first stream not cancelled by the second ReceiveMessages")
	}
	if m := r2.next(t); string(m.Payload) != "a" {
		t.Fatalf("in-flight message not redelivered on the new stream: %q", m.Payload)
	}
}

func TestFailoverDeliversToFirstConsumerOnly(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	r1 := c.receive(c.subscribe("/default/t", "s", "c1", pb.ConsumerRequest_Failover))
	r2 := c.receive(c.subscribe("/default/t", "s", "c2", pb.ConsumerRequest_Failover))
	for i := 0; i < 3; i++ {
		c.send("/default/t", pid, fmt.Sprint(i))
	}
	for i := 0; i < 3; i++ {
		c.ack(r1.next(t), "s")
	}
	r2.none(t, 100*time.Millisecond)
}

func TestKeySharedAffinityAndFilters(t *testing.T) {
	b := Start(t, Options{MaxUnacked: 100})
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	ra := c.receive(c.subscribe("/default/t", "s", "ca", pb.ConsumerRequest_KeyShared, "eu-*"))
	rb := c.receive(c.subscribe("/default/t", "s", "cb", pb.ConsumerRequest_KeyShared, "us-?"))
	eventually(t, "two active streams", func() bool { st, _ := b.Stats("/default/t"); return st.Subscriptions["s"].Streaming == 2 })
	c.sendKey("/default/t", pid, "1", "eu-west")
	c.sendKey("/default/t", pid, "2", "us-1")
	c.sendKey("/default/t", pid, "3", "asia") // matches nobody: skipped
	c.sendKey("/default/t", pid, "4", "eu-north")
	ma := ra.next(t)
	mb := rb.next(t)
	if string(ma.Payload) != "1" || string(mb.Payload) != "2" {
		t.Fatalf("filters: a got %q, b got %q", ma.Payload, mb.Payload)
	}
	c.ack(ma, "s")
	c.ack(mb, "s")
	if m := ra.next(t); string(m.Payload) != "4" {
		t.Fatalf("a got %q want 4", m.Payload)
	} else {
		c.ack(m, "s")
	}
	rb.none(t, 50*time.Millisecond)
	eventually(t, "cursor past skipped message", func() bool { st, _ := b.Stats("/default/t"); return st.Subscriptions["s"].AckedCursor == 4 })

	// Without filters the same key always lands on the same consumer.
	b2 := Start(t, Options{MaxUnacked: 100})
	c2 := dial(t, b2.URL())
	pid2 := c2.producer("/default/k", "p", true)
	recv := map[string]*receiver{}
	for _, n := range []string{"x", "y", "z"} {
		recv[n] = c2.receive(c2.subscribe("/default/k", "s", n, pb.ConsumerRequest_KeyShared))
	}
	eventually(t, "three active streams", func() bool { st, _ := b2.Stats("/default/k"); return st.Subscriptions["s"].Streaming == 3 })
	owner := map[string]string{}
	for round := 0; round < 3; round++ {
		for k := 0; k < 10; k++ {
			c2.sendKey("/default/k", pid2, fmt.Sprint(k), fmt.Sprint("key", k))
		}
		for got := 0; got < 10; {
			for n, r := range recv {
				select {
				case m := <-r.msgs:
					key := *m.RoutingKey
					if o, ok := owner[key]; ok && o != n {
						t.Fatalf("key %s moved from %s to %s", key, o, n)
					}
					owner[key] = n
					c2.ack(m, "s")
					got++
				default:
				}
			}
			time.Sleep(time.Millisecond)
		}
	}
}

func TestNonReliableFanOutAndDropOnFull(t *testing.T) {
	b := Start(t, Options{NonReliableBuffer: 2})
	c := dial(t, b.URL())
	pid := c.producer("/default/nr", "p", false)
	c.send("/default/nr", pid, "nobody listens")
	ida := c.subscribe("/default/nr", "sa", "c", pb.ConsumerRequest_Exclusive)
	idb := c.subscribe("/default/nr", "sb", "c", pb.ConsumerRequest_Exclusive)
	ra, rb := c.receive(ida), c.receive(idb)
	eventually(t, "streams", func() bool {
		st, _ := b.Stats("/default/nr")
		return st.Subscriptions["sa"].Streaming == 1 && st.Subscriptions["sb"].Streaming == 1
	})
	c.send("/default/nr", pid, "hello")
	for _, r := range []*receiver{ra, rb} {
		m := r.next(t)
		if string(m.Payload) != "hello" || m.MsgId.TopicOffset != 0 {
			t.Fatalf("fan-out got %q@%d", m.Payload, m.MsgId.TopicOffset)
		}
	}
	// Ack/Nack are no-ops on non-reliable topics.
	c.ack(&pb.StreamMessage{MsgId: &pb.MsgID{TopicName: "/default/nr"}}, "sa")

	// A consumer that stops reading loses messages once its buffer is full.
	sub := func() *subscription {
		tp := b.cluster.topic("/default/nr")
		return tp.subs["sa"]
	}()
	sub.mu.Lock()
	blocked := &consumerStream{ch: make(chan *pb.StreamMessage, 2), done: make(chan struct{})}
	sub.consumers[0].stream = blocked // nobody drains this stream
	sub.mu.Unlock()
	for i := 0; i < 5; i++ {
		c.send("/default/nr", pid, fmt.Sprint(i))
	}
	st, _ := b.Stats("/default/nr")
	if d := st.Subscriptions["sa"].Dropped; d != 3 {
		t.Fatalf("dropped %d, want 3 (buffer 2, 5 sent)", d)
	}
	for i := 0; i < 5; i++ {
		rb.next(t)
	}
}

func TestKillStreams(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	id := c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive)
	r := c.receive(id)
	c.send("/default/t", pid, "a")
	r.next(t)
	b.KillStreams()
	select {
	case err := <-r.errc:
		wantCode(t, err, 14 /* Unavailable */, "")
	case <-time.After(5 * time.Second):
		t.Fatal("stream not killed")
	}
	if c.health(pb.HealthCheckRequest_Consumer, id) != pb.HealthCheckResponse_CLOSE {
		t.Fatal("killed consumer must be CLOSE")
	}
	c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive)
	if m := c.receive(id).next(t); string(m.Payload) != "a" {
		t.Fatalf("in-flight message not redelivered after KillStreams: %q", m.Payload)
	}
}

func TestAckedLogPrefixIsTrimmedInvisibly(t *testing.T) {
	// Everything is dispatched while it is being sent and acked only after:
	// on a loaded machine that can exceed the default 30 s ack timeout.
	b := Start(t, Options{MaxUnacked: 10000, FailurePolicy: FailurePolicy{AckTimeout: time.Hour}})
	c := dial(t, b.URL())
	const topic = "/default/trim"
	pid := c.producer(topic, "p", true)
	r := c.receive(c.subscribe(topic, "s", "c", pb.ConsumerRequest_Exclusive))
	const n = trimThreshold * 3 / 2
	for i := 0; i < n; i++ {
		c.send(topic, pid, "x")
	}
	for i := 0; i < n-1; i++ { // the last one stays unacked
		m := r.next(t)
		if m.MsgId.TopicOffset != uint64(i) {
			t.Fatalf("offset %d, want %d", m.MsgId.TopicOffset, i)
		}
		c.ack(m, "s")
	}
	last := r.next(t)
	const more = 2*trimThreshold - n // trimming happens when the log reaches a multiple of 1024
	for i := 0; i < more; i++ {
		c.send(topic, pid, "more")
	}
	tp := b.cluster.topic(topic)
	tp.mu.RLock()
	base, kept := tp.logBase, len(tp.log)
	tp.mu.RUnlock()
	if base != n-1 || kept != n+more-(n-1) {
		t.Fatalf("log base %d with %d entries kept; want base %d and %d entries", base, kept, n-1, n+more-(n-1))
	}
	st, _ := b.Stats(topic)
	if st.Messages != n+more {
		t.Fatalf("Stats.Messages = %d", st.Messages)
	}
	// A restart rewinds to the acked cursor, which is still in the log.
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	var id uint64
	for i := 0; ; i++ { // the first call may hit the connection the restart cut
		resp, err := c.cons.Subscribe(testCtx(t), &pb.ConsumerRequest{TopicName: topic, ConsumerName: "c", Subscription: "s"})
		if err == nil {
			id = resp.ConsumerId
			break
		}
		if i > 50 {
			t.Fatalf("subscribing after restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m := c.receive(id).next(t); m.MsgId.TopicOffset != last.MsgId.TopicOffset {
		t.Fatalf("after restart got offset %d, want %d", m.MsgId.TopicOffset, last.MsgId.TopicOffset)
	}
}
