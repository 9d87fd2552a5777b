package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

// SubscriptionType decides how a subscription's messages are spread over
// its consumers. The zero value is Shared, the official clients' default.
type SubscriptionType int

const (
	// SubscriptionShared spreads messages round-robin over all consumers.
	SubscriptionShared SubscriptionType = iota
	// SubscriptionExclusive allows one consumer name only; the first one
	// locks the subscription.
	SubscriptionExclusive
	// SubscriptionFailover delivers to one active consumer, others standing by.
	SubscriptionFailover
	// SubscriptionKeyShared pins each routing key to one consumer; consumers
	// may restrict themselves to keys matching KeyFilters globs.
	SubscriptionKeyShared
)

func (t SubscriptionType) String() string {
	switch t {
	case SubscriptionExclusive:
		return "exclusive"
	case SubscriptionFailover:
		return "failover"
	case SubscriptionKeyShared:
		return "key_shared"
	default:
		return "shared"
	}
}

func (t SubscriptionType) proto() danubepb.ConsumerRequest_SubscriptionType {
	switch t {
	case SubscriptionExclusive:
		return danubepb.ConsumerRequest_Exclusive
	case SubscriptionFailover:
		return danubepb.ConsumerRequest_Failover
	case SubscriptionKeyShared:
		return danubepb.ConsumerRequest_KeyShared
	default:
		return danubepb.ConsumerRequest_Shared
	}
}

// ConsumerOptions configures a Consumer.
type ConsumerOptions struct {
	// Topic is a topic or the base name of a partitioned topic. Topics adds
	// more; the partitions of all of them are merged into one stream.
	Topic        string
	Topics       []string
	Subscription string
	Type         SubscriptionType
	// ConsumerName identifies the consumer within the subscription; keep it
	// stable across restarts (an Exclusive subscription stays bound to its
	// first name). Default: "<subscription>-<random>".
	ConsumerName string
	KeyFilters   []string // KeyShared only: glob patterns (*, ?) of routing keys
	// Gaps, when set, is told the offset of every message received (before
	// it is queued) and reports offsets that never arrive. Exclusive and
	// Failover only: other types see interleaved subsets of the offsets.
	// It may be shared by successive consumers of one subscription, so
	// tracking survives a reconnect; the caller closes it.
	Gaps *GapDetector
}

// Message is one received message.
type Message struct {
	Topic         string // the partition (or topic) it came from
	Offset        uint64 // topic offset (reliable topics; 0 on non-reliable ones)
	ProducerID    uint64
	ProducerName  string
	PublishTime   time.Time
	Subscription  string
	RoutingKey    string // "" when the producer set none
	SchemaID      uint64 // 0 when the message has no schema
	SchemaVersion uint32
	Attributes    map[string]string
	Payload       []byte
	RequestID     uint64

	msgID *danubepb.MsgID
}

// Consumer receives the messages of one subscription from every partition
// of a topic, merged into one stream. It is safe for concurrent use.
type Consumer struct {
	c     *Client
	opts  ConsumerOptions
	parts map[string]*topicConsumer // by partition name; fixed after Subscribe

	msgs chan *Message

	broken    chan struct{} // closed when a partition cannot recover
	brokenErr error
	breakOnce sync.Once

	ctx       context.Context // receive streams and health checks
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	// Acks outlive ctx: Close stops receiving at once but lets acks already
	// in flight finish for up to Options.CloseTimeout, then ackCtx ends
	// their retries.
	ackCtx    context.Context
	ackCancel context.CancelFunc
	acksMu    sync.Mutex
	acks      int           // acks and nacks in flight
	acksIdle  chan struct{} // closed (and replaced) whenever acks drops to 0 while Close waits
}

// topicConsumer is the consumer of one partition.
type topicConsumer struct {
	cons  *Consumer
	topic string

	mu         sync.RWMutex
	state      *consumerState
	lastBroker *broker            // broker of the latest subscription; kept while resubscribing
	stopStream context.CancelFunc // cancels the current ReceiveMessages stream
}

type consumerState struct {
	id uint64
	b  *broker
}

// Subscribe subscribes to topic and all of its partitions and starts
// receiving. The topic must exist (the broker does not auto-create topics
// for consumers); on a reliable topic a new subscription starts at the tail.
func (c *Client) Subscribe(ctx context.Context, opts ConsumerOptions) (*Consumer, error) {
	topics := opts.Topics
	if opts.Topic != "" {
		topics = append([]string{opts.Topic}, topics...)
	}
	if len(topics) == 0 {
		return nil, &Error{Op: "subscribe", Code: codes.InvalidArgument, Message: "no topic given"}
	}
	for _, t := range topics {
		if err := ValidateTopic(t); err != nil {
			return nil, err
		}
	}
	label := strings.Join(topics, ",")
	if opts.Subscription == "" {
		return nil, &Error{Op: "subscribe", Topic: label, Code: codes.InvalidArgument, Message: "subscription name is empty"}
	}
	if len(opts.KeyFilters) > 0 && opts.Type != SubscriptionKeyShared {
		return nil, &Error{Op: "subscribe", Topic: label, Code: codes.InvalidArgument, Message: "key filters need a key_shared subscription"}
	}
	if opts.Gaps != nil && opts.Type != SubscriptionExclusive && opts.Type != SubscriptionFailover {
		return nil, &Error{Op: "subscribe", Topic: label, Code: codes.InvalidArgument, Message: "gap detection needs an exclusive or failover subscription"}
	}
	if opts.ConsumerName == "" {
		opts.ConsumerName = randomName(opts.Subscription)
	}
	var names []string
	seen := map[string]bool{}
	for _, t := range topics {
		parts, err := c.withRetry(ctx, func() ([]string, error) { return c.Partitions(ctx, t) })
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			if !seen[p] {
				seen[p] = true
				names = append(names, p)
			}
		}
	}
	cons := &Consumer{
		c: c, opts: opts, parts: make(map[string]*topicConsumer, len(names)),
		msgs:   make(chan *Message, c.opts.ReceiveQueueSize),
		broken: make(chan struct{}),
	}
	cons.ctx, cons.cancel = context.WithCancel(context.Background())
	cons.ackCtx, cons.ackCancel = context.WithCancel(context.Background())
	tcs := make([]*topicConsumer, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		tc := &topicConsumer{cons: cons, topic: name}
		tcs[i] = tc
		cons.parts[name] = tc
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = tc.subscribe(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		cons.cancel()
		cons.ackCancel()
		return nil, err
	}
	if err := c.track(cons); err != nil {
		cons.cancel()
		cons.ackCancel()
		return nil, err
	}
	for _, tc := range tcs {
		cons.wg.Add(2)
		go tc.receiveLoop()
		go tc.healthLoop()
	}
	return cons, nil
}

// withRetry runs f, retrying retryable errors with the client's backoff.
func (c *Client) withRetry(ctx context.Context, f func() ([]string, error)) ([]string, error) {
	for attempt := 0; ; attempt++ {
		out, err := f()
		if err == nil || !IsRetryable(err) || attempt >= c.backoff.MaxRetries {
			return out, err
		}
		if serr := c.retryWait(ctx, c.done, attempt, err); serr != nil {
			return nil, errors.Join(err, serr)
		}
	}
}

// Topics returns the partitions (or the single topic) the consumer reads.
func (cons *Consumer) Topics() []string {
	out := make([]string, 0, len(cons.parts))
	for name := range cons.parts {
		out = append(out, name)
	}
	sortPartitions(out)
	return out
}

// Receive returns the next message from any partition. It fails when ctx
// ends, when the consumer is closed, or when a partition could not recover
// from a failure (the consumer is then broken; close it and subscribe again).
func (cons *Consumer) Receive(ctx context.Context) (*Message, error) {
	if cons.ctx.Err() != nil {
		return nil, ErrClosed
	}
	select {
	case m := <-cons.msgs:
		return m, nil
	default:
	}
	select {
	case m := <-cons.msgs:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-cons.broken:
		return nil, cons.brokenErr
	case <-cons.ctx.Done():
		return nil, ErrClosed
	}
}

// TryReceive returns a buffered message without waiting, or nil.
func (cons *Consumer) TryReceive() *Message {
	select {
	case m := <-cons.msgs:
		return m
	default:
		return nil
	}
}

// Broken is closed when the consumer failed for good; Err says why.
func (cons *Consumer) Broken() <-chan struct{} { return cons.broken }

// Err returns the failure that broke the consumer, or nil.
func (cons *Consumer) Err() error {
	select {
	case <-cons.broken:
		return cons.brokenErr
	default:
		return nil
	}
}

func (cons *Consumer) fail(err error) {
	cons.breakOnce.Do(func() {
		cons.brokenErr = err
		close(cons.broken)
	})
}

// Ack acknowledges a message to the partition it came from.
func (cons *Consumer) Ack(ctx context.Context, m *Message) error {
	tc, err := cons.partitionOf(m, "ack")
	if err != nil {
		return err
	}
	return tc.retryRPC(ctx, "ack", func(b *broker) error {
		_, err := b.consumer.Ack(ctx, &danubepb.AckRequest{
			RequestId: cons.c.nextRequestID(), MsgId: m.msgID, SubscriptionName: cons.opts.Subscription,
		})
		return err
	})
}

// Nack negatively acknowledges a message: the broker redelivers it after at
// least delay (and at least its own base redelivery delay, 1 s by default).
// reason is recorded by the broker.
func (cons *Consumer) Nack(ctx context.Context, m *Message, delay time.Duration, reason string) error {
	tc, err := cons.partitionOf(m, "nack")
	if err != nil {
		return err
	}
	return tc.retryRPC(ctx, "nack", func(b *broker) error {
		req := &danubepb.NackRequest{
			RequestId: cons.c.nextRequestID(), MsgId: m.msgID, SubscriptionName: cons.opts.Subscription,
		}
		if delay > 0 {
			ms := uint64(delay.Milliseconds())
			req.DelayMs = &ms
		}
		if reason != "" {
			req.Reason = &reason
		}
		_, err := b.consumer.Nack(ctx, req)
		return err
	})
}

func (cons *Consumer) partitionOf(m *Message, op string) (*topicConsumer, error) {
	if m == nil || m.msgID == nil {
		return nil, &Error{Op: op, Code: codes.InvalidArgument, Message: "message was not received from a consumer"}
	}
	tc, ok := cons.parts[m.msgID.GetTopicName()]
	if !ok {
		return nil, &Error{Op: op, Topic: m.msgID.GetTopicName(), Code: codes.InvalidArgument, Message: "message does not belong to this consumer"}
	}
	return tc, nil
}

func (tc *topicConsumer) current() *consumerState {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	return tc.state
}

// retryRPC runs an ack/nack against the partition's broker, retrying
// transient failures.
func (tc *topicConsumer) retryRPC(ctx context.Context, op string, call func(*broker) error) error {
	cons := tc.cons
	c := cons.c
	cons.ackStarted()
	defer cons.ackDone()
	for attempt := 0; ; attempt++ {
		// Acks are routed by topic and subscription, not by consumer id, so
		// they can go to the last known broker while the consumer is
		// resubscribing.
		tc.mu.RLock()
		b := tc.lastBroker
		tc.mu.RUnlock()
		if b == nil {
			return &Error{Op: op, Topic: tc.topic, Code: codes.FailedPrecondition, Message: "consumer was never subscribed"}
		}
		err := wrapError(op, tc.topic, call(b))
		if err == nil || !IsRetryable(err) || attempt >= c.backoff.MaxRetries || ctx.Err() != nil {
			return err
		}
		if serr := c.retryWait(ctx, cons.ackCtx.Done(), attempt, err); serr != nil {
			return errors.Join(err, serr)
		}
	}
}

// subscribe (re)subscribes the partition, retrying transient failures.
func (tc *topicConsumer) subscribe(ctx context.Context) error {
	cons := tc.cons
	c := cons.c
	for attempt := 0; ; attempt++ {
		st, err := tc.subscribeOnce(ctx)
		if err == nil {
			tc.setState(st)
			return nil
		}
		if !IsRetryable(err) || attempt >= c.backoff.MaxRetries {
			return err
		}
		c.log.Debug("danube subscribe failed, retrying", "topic", tc.topic, "error", err)
		if serr := c.retryWait(ctx, cons.ctx.Done(), attempt, err); serr != nil {
			return errors.Join(err, serr)
		}
	}
}

// resubscribe restores the subscription of a consumer that was attached
// before. A broker that restarts or moves a topic answers Unavailable or
// NotFound for a while, so those are retried (capped backoff) until the
// consumer is closed, however long the outage: giving up would only make the
// caller subscribe again from scratch. Denied or invalid requests break the
// consumer.
func (tc *topicConsumer) resubscribe() error {
	cons := tc.cons
	c := cons.c
	for attempt := 0; ; attempt++ {
		st, err := tc.subscribeOnce(cons.ctx)
		if err == nil {
			tc.setState(st)
			if attempt > 0 {
				c.log.Info("danube consumer resubscribed", "topic", tc.topic, "subscription", cons.opts.Subscription, "attempts", attempt+1)
			}
			return nil
		}
		if cons.ctx.Err() != nil {
			return ErrClosed
		}
		if !IsRetryable(err) && errorCode(err) != codes.NotFound {
			return err
		}
		if attempt%50 == 49 {
			c.log.Warn("danube consumer still cannot resubscribe, retrying", "topic", tc.topic, "attempts", attempt+1, "error", err)
		}
		if serr := c.retryWait(cons.ctx, cons.ctx.Done(), min(attempt, 30), err); serr != nil {
			return errors.Join(err, serr)
		}
	}
}

// setState records a successful subscription.
func (tc *topicConsumer) setState(st *consumerState) {
	tc.mu.Lock()
	tc.state = st
	tc.lastBroker = st.b
	tc.mu.Unlock()
	if g := tc.cons.opts.Gaps; g != nil {
		g.Subscribed(tc.topic)
	}
}

func (tc *topicConsumer) subscribeOnce(ctx context.Context) (*consumerState, error) {
	cons := tc.cons
	c := cons.c
	b, err := c.resolve(ctx, tc.topic)
	if err != nil {
		return nil, err
	}
	resp, err := b.consumer.Subscribe(ctx, &danubepb.ConsumerRequest{
		RequestId:        c.nextRequestID(),
		TopicName:        tc.topic,
		ConsumerName:     cons.opts.ConsumerName,
		Subscription:     cons.opts.Subscription,
		SubscriptionType: cons.opts.Type.proto(),
		KeyFilters:       cons.opts.KeyFilters,
	})
	if err != nil {
		return nil, wrapError("subscribe", tc.topic, err)
	}
	return &consumerState{id: resp.GetConsumerId(), b: b}, nil
}

// receiveLoop streams the partition's messages into the consumer's queue,
// resubscribing after a broken stream, a broker restart or a CLOSE from the
// health check. It breaks the consumer only when resubscription fails for
// good.
func (tc *topicConsumer) receiveLoop() {
	cons := tc.cons
	c := cons.c
	defer cons.wg.Done()
	failures := 0
	for cons.ctx.Err() == nil {
		st := tc.current()
		if st == nil {
			if err := tc.resubscribe(); err != nil {
				if cons.ctx.Err() == nil {
					cons.fail(err)
				}
				return
			}
			continue
		}
		received, err := tc.stream(st)
		if cons.ctx.Err() != nil {
			return
		}
		if received > 0 {
			failures = 0
		}
		if IsPermanent(err) && errorCode(err) != codes.NotFound {
			// Denied or unauthenticated streams do not heal by retrying;
			// NotFound means the broker forgot the consumer (restart,
			// unload) and a resubscription fixes it.
			cons.fail(err)
			return
		}
		c.log.Debug("danube receive stream ended, resubscribing", "topic", tc.topic, "error", err)
		tc.mu.Lock()
		if tc.state == st {
			tc.state = nil
		}
		tc.mu.Unlock()
		if failures > 0 {
			if c.retryWait(cons.ctx, cons.ctx.Done(), failures-1, err) != nil {
				return
			}
		}
		failures++
	}
}

// stream runs one ReceiveMessages call until it ends and reports how many
// messages it delivered.
func (tc *topicConsumer) stream(st *consumerState) (int, error) {
	cons := tc.cons
	ctx, cancel := context.WithCancel(cons.ctx)
	defer cancel()
	tc.mu.Lock()
	tc.stopStream = cancel
	tc.mu.Unlock()
	stream, err := st.b.consumer.ReceiveMessages(ctx, &danubepb.ReceiveRequest{
		RequestId: cons.c.nextRequestID(), ConsumerId: st.id,
	})
	if err != nil {
		return 0, wrapError("receive", tc.topic, err)
	}
	n := 0
	for {
		sm, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, &Error{Op: "receive", Topic: tc.topic, Code: codes.Unavailable, Message: "stream closed by broker"}
			}
			return n, wrapError("receive", tc.topic, err)
		}
		m := cons.toMessage(sm)
		if g := cons.opts.Gaps; g != nil {
			g.Observe(m.Topic, m.Offset, m.ProducerID, m.RequestID)
		}
		select {
		case cons.msgs <- m:
			n++
		case <-ctx.Done():
			return n, ctx.Err()
		}
	}
}

func (cons *Consumer) toMessage(sm *danubepb.StreamMessage) *Message {
	id := sm.GetMsgId()
	if id == nil {
		id = &danubepb.MsgID{}
	}
	m := &Message{
		Topic:         id.GetTopicName(),
		Offset:        id.GetTopicOffset(),
		ProducerID:    id.GetProducerId(),
		ProducerName:  sm.GetProducerName(),
		Subscription:  cons.opts.Subscription,
		RoutingKey:    sm.GetRoutingKey(),
		SchemaID:      sm.GetSchemaId(),
		SchemaVersion: sm.GetSchemaVersion(),
		Attributes:    sm.GetAttributes(),
		Payload:       sm.GetPayload(),
		RequestID:     sm.GetRequestId(),
		msgID:         id,
	}
	if pt := sm.GetPublishTime(); pt > 0 {
		m.PublishTime = time.UnixMilli(int64(pt))
	}
	return m
}

// healthLoop asks the broker whether the consumer is still attached and
// forces a resubscription on CLOSE.
func (tc *topicConsumer) healthLoop() {
	cons := tc.cons
	c := cons.c
	defer cons.wg.Done()
	t := time.NewTicker(c.opts.HealthCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-cons.ctx.Done():
			return
		case <-t.C:
		}
		st := tc.current()
		if st == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(cons.ctx, c.opts.HealthCheckInterval)
		ok, err := c.healthCheck(ctx, st.b, true, st.id)
		cancel()
		if err != nil || ok {
			continue
		}
		c.log.Info("danube broker closed the consumer, resubscribing", "topic", tc.topic, "subscription", cons.opts.Subscription)
		tc.mu.Lock()
		if tc.state == st && tc.stopStream != nil {
			tc.stopStream()
		}
		tc.mu.Unlock()
	}
}

func (cons *Consumer) ackStarted() {
	cons.acksMu.Lock()
	cons.acks++
	cons.acksMu.Unlock()
}

func (cons *Consumer) ackDone() {
	cons.acksMu.Lock()
	cons.acks--
	if cons.acks == 0 && cons.acksIdle != nil {
		close(cons.acksIdle)
		cons.acksIdle = nil
	}
	cons.acksMu.Unlock()
}

// Close stops receiving and the health checks at once, then waits up to
// Options.CloseTimeout for acks and nacks in flight; after that their
// retries give up. Messages not acked are redelivered by the broker
// (reliable topics). Acks of received messages remain possible after Close
// (one attempt each, no retries). Idempotent.
func (cons *Consumer) Close() error {
	cons.closeOnce.Do(func() {
		cons.cancel()
		cons.wg.Wait()
		cons.acksMu.Lock()
		var idle chan struct{}
		if cons.acks > 0 {
			idle = make(chan struct{})
			cons.acksIdle = idle
		}
		cons.acksMu.Unlock()
		if idle != nil {
			t := time.NewTimer(cons.c.opts.CloseTimeout)
			select {
			case <-idle:
			case <-t.C:
			}
			t.Stop()
		}
		cons.ackCancel()
		cons.c.untrack(cons)
	})
	return nil
}

// String describes the consumer for logs.
func (cons *Consumer) String() string {
	return fmt.Sprintf("consumer %s of subscription %s on %s", cons.opts.ConsumerName, cons.opts.Subscription, strings.Join(cons.Topics(), ","))
}
