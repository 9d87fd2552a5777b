package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

// DispatchStrategy is the topic's delivery mode, fixed by its first producer.
type DispatchStrategy int

const (
	// DispatchNonReliable is fire-and-forget: no retention, messages are
	// dropped when a consumer falls behind.
	DispatchNonReliable DispatchStrategy = iota
	// DispatchReliable stores messages in the broker's WAL and redelivers
	// until acknowledged.
	DispatchReliable
)

// AccessMode is the producer access mode (stored by the broker, not enforced
// by v0.15).
type AccessMode int

const (
	AccessShared AccessMode = iota
	AccessExclusive
)

// SchemaRef points a producer at a registered schema subject. With neither
// Version nor MinVersion set the latest version is used.
type SchemaRef struct {
	Subject    string
	Version    uint32 // pin an exact version
	MinVersion uint32 // use the latest version, which must be at least this
}

// ProducerOptions configures a Producer.
type ProducerOptions struct {
	Topic string
	// Name identifies the producer; creation is idempotent by (topic, name).
	// Default: a random "producer-<hex>".
	Name string
	// Partitions > 0 makes the topic partitioned: messages go to
	// "{Topic}-part-{N}" round-robin, or by FNV-1a-64(routing key) mod N.
	Partitions int
	Dispatch   DispatchStrategy
	AccessMode AccessMode
	Schema     *SchemaRef
}

// OutgoingMessage is one message to send.
type OutgoingMessage struct {
	Payload    []byte
	Attributes map[string]string
	// RoutingKey selects the partition on partitioned topics and the
	// consumer on KeyShared subscriptions.
	RoutingKey string
}

// SendReceipt describes an acknowledged send.
type SendReceipt struct {
	Topic     string // the partition (or topic) the message went to
	RequestID uint64 // the request id the broker echoed
}

// Producer sends messages to one (possibly partitioned) topic. Send is safe
// for concurrent use and does not serialise: many SendMessage RPCs can be in
// flight at once, which is where throughput comes from.
type Producer struct {
	c     *Client
	opts  ProducerOptions
	parts []*topicProducer
	rr    atomic.Uint64
	// schemaID/schemaVersion are stamped on every message when a schema
	// reference is configured (0 = none; ids and versions start at 1).
	schemaID      uint64
	schemaVersion uint32

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// topicProducer is the producer of one partition.
type topicProducer struct {
	p     *Producer
	topic string
	name  string

	mu    sync.RWMutex
	state *producerState

	// createSem allows one (re)creation at a time; a channel rather than a
	// mutex so that waiting senders still honour their context.
	createSem chan struct{}
}

type producerState struct {
	id uint64
	b  *broker
}

// NewProducer creates the producer on the broker (every partition of it)
// and starts its health checks.
func (c *Client) NewProducer(ctx context.Context, opts ProducerOptions) (*Producer, error) {
	if err := ValidateTopic(opts.Topic); err != nil {
		return nil, err
	}
	if opts.Partitions < 0 {
		return nil, fmt.Errorf("danube: partitions must not be negative, got %d", opts.Partitions)
	}
	if opts.Name == "" {
		opts.Name = randomName("producer")
	}
	p := &Producer{c: c, opts: opts}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if opts.Schema != nil {
		if err := p.resolveSchema(ctx); err != nil {
			p.cancel()
			return nil, err
		}
	}
	if opts.Partitions == 0 {
		p.parts = []*topicProducer{{p: p, topic: opts.Topic, name: opts.Name, createSem: make(chan struct{}, 1)}}
	} else {
		for i := 0; i < opts.Partitions; i++ {
			p.parts = append(p.parts, &topicProducer{
				p: p, topic: PartitionTopic(opts.Topic, i), name: fmt.Sprintf("%s-%d", opts.Name, i),
				createSem: make(chan struct{}, 1),
			})
		}
	}
	// Create partitions concurrently; wait for all of them either way so no
	// goroutine outlives a failed NewProducer.
	errs := make([]error, len(p.parts))
	var wg sync.WaitGroup
	for i, tp := range p.parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = tp.ready(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		p.cancel()
		return nil, err
	}
	if err := c.track(p); err != nil {
		p.cancel()
		return nil, err
	}
	for _, tp := range p.parts {
		p.wg.Add(1)
		go tp.healthLoop()
	}
	return p, nil
}

// Topic returns the topic the producer was created for.
func (p *Producer) Topic() string { return p.opts.Topic }

// Partitions returns the partition topics (or just the topic).
func (p *Producer) Partitions() []string {
	out := make([]string, len(p.parts))
	for i, tp := range p.parts {
		out[i] = tp.topic
	}
	return out
}

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func (p *Producer) resolveSchema(ctx context.Context) error {
	ref := p.opts.Schema
	if ref.Subject == "" {
		return &Error{Op: "resolve schema", Topic: p.opts.Topic, Code: codes.InvalidArgument, Message: "schema subject is empty"}
	}
	reg := p.c.Schemas()
	latest, err := reg.Latest(ctx, ref.Subject)
	if err != nil {
		return fmt.Errorf("resolving schema subject %q: %w", ref.Subject, err)
	}
	switch {
	case ref.Version > 0:
		if ref.Version > latest.Version {
			return &Error{Op: "resolve schema", Topic: p.opts.Topic, Code: codes.NotFound,
				Message: fmt.Sprintf("schema subject %q has no version %d (latest is %d)", ref.Subject, ref.Version, latest.Version)}
		}
		pinned, err := reg.Get(ctx, latest.ID, ref.Version)
		if err != nil {
			return fmt.Errorf("resolving schema subject %q version %d: %w", ref.Subject, ref.Version, err)
		}
		p.schemaID, p.schemaVersion = pinned.ID, pinned.Version
	case ref.MinVersion > 0 && latest.Version < ref.MinVersion:
		return &Error{Op: "resolve schema", Topic: p.opts.Topic, Code: codes.FailedPrecondition,
			Message: fmt.Sprintf("schema subject %q latest version %d is below the minimum %d", ref.Subject, latest.Version, ref.MinVersion)}
	default:
		p.schemaID, p.schemaVersion = latest.ID, latest.Version
	}
	return nil
}

func (p *Producer) schemaReference() *danubepb.SchemaReference {
	ref := p.opts.Schema
	if ref == nil {
		return nil
	}
	out := &danubepb.SchemaReference{Subject: ref.Subject}
	switch {
	case ref.Version > 0:
		out.VersionRef = &danubepb.SchemaReference_PinnedVersion{PinnedVersion: ref.Version}
	case ref.MinVersion > 0:
		out.VersionRef = &danubepb.SchemaReference_MinVersion{MinVersion: ref.MinVersion}
	default:
		out.VersionRef = &danubepb.SchemaReference_UseLatest{UseLatest: true}
	}
	return out
}

// route picks the partition of a message.
func (p *Producer) route(key string) *topicProducer {
	n := len(p.parts)
	if n == 1 {
		return p.parts[0]
	}
	if key != "" {
		return p.parts[PartitionForKey(key, n)]
	}
	return p.parts[(p.rr.Add(1)-1)%uint64(n)]
}

// Send sends one message and returns once the broker acknowledged it.
// Retryable failures are retried with backoff (bounded by ctx and
// Backoff.MaxRetries); a send refused because the producer or topic moved
// (NotFound, PermissionDenied) re-creates the producer once before giving
// up. Errors are *Error values; see IsRetryable and IsPermanent.
func (p *Producer) Send(ctx context.Context, m OutgoingMessage) (SendReceipt, error) {
	if p.ctx.Err() != nil {
		return SendReceipt{}, ErrClosed
	}
	return p.route(m.RoutingKey).send(ctx, m)
}

func (tp *topicProducer) current() *producerState {
	tp.mu.RLock()
	defer tp.mu.RUnlock()
	return tp.state
}

// invalidate drops st so the next send re-creates the producer; a state
// already replaced by another goroutine is left alone.
func (tp *topicProducer) invalidate(st *producerState) {
	tp.mu.Lock()
	if tp.state == st {
		tp.state = nil
	}
	tp.mu.Unlock()
}

// ready returns the live producer state, creating it (lookup +
// CreateProducer, with retries) when there is none.
func (tp *topicProducer) ready(ctx context.Context) (*producerState, error) {
	if st := tp.current(); st != nil {
		return st, nil
	}
	select {
	case tp.createSem <- struct{}{}:
	case <-ctx.Done():
		return nil, wrapError("create producer", tp.topic, ctx.Err())
	case <-tp.p.ctx.Done():
		return nil, ErrClosed
	}
	defer func() { <-tp.createSem }()
	if st := tp.current(); st != nil {
		return st, nil
	}
	c := tp.p.c
	var lastErr error
	for attempt := 0; ; attempt++ {
		st, err := tp.create(ctx)
		if err == nil {
			tp.mu.Lock()
			tp.state = st
			tp.mu.Unlock()
			return st, nil
		}
		lastErr = err
		if !IsRetryable(err) || attempt >= c.backoff.MaxRetries {
			return nil, lastErr
		}
		c.log.Debug("danube create producer failed, retrying", "topic", tp.topic, "error", err)
		if err := c.retryWait(ctx, tp.p.ctx.Done(), attempt, lastErr); err != nil {
			return nil, errors.Join(lastErr, err)
		}
	}
}

func (tp *topicProducer) create(ctx context.Context) (*producerState, error) {
	c, p := tp.p.c, tp.p
	b, err := c.resolve(ctx, tp.topic)
	if err != nil {
		return nil, err
	}
	dispatch := danubepb.DispatchStrategy_NonReliable
	if p.opts.Dispatch == DispatchReliable {
		dispatch = danubepb.DispatchStrategy_Reliable
	}
	mode := danubepb.ProducerAccessMode_Shared
	if p.opts.AccessMode == AccessExclusive {
		mode = danubepb.ProducerAccessMode_Exclusive
	}
	resp, err := b.producer.CreateProducer(ctx, &danubepb.ProducerRequest{
		RequestId:          c.nextRequestID(),
		ProducerName:       tp.name,
		TopicName:          tp.topic,
		SchemaRef:          p.schemaReference(),
		ProducerAccessMode: mode,
		DispatchStrategy:   dispatch,
	})
	if err != nil {
		return nil, wrapError("create producer", tp.topic, err)
	}
	return &producerState{id: resp.GetProducerId(), b: b}, nil
}

func (tp *topicProducer) send(ctx context.Context, m OutgoingMessage) (SendReceipt, error) {
	c, p := tp.p.c, tp.p
	recreated := false
	for attempt := 0; ; attempt++ {
		st, err := tp.ready(ctx)
		if err != nil {
			return SendReceipt{}, err
		}
		req := &danubepb.StreamMessage{
			RequestId:    c.nextRequestID(),
			MsgId:        &danubepb.MsgID{ProducerId: st.id, TopicName: tp.topic, BrokerAddr: st.b.brokerURL},
			Payload:      m.Payload,
			PublishTime:  uint64(time.Now().UnixMilli()),
			ProducerName: tp.name,
			Attributes:   m.Attributes,
		}
		if p.schemaID != 0 {
			id, v := p.schemaID, p.schemaVersion
			req.SchemaId, req.SchemaVersion = &id, &v
		}
		if m.RoutingKey != "" {
			k := m.RoutingKey
			req.RoutingKey = &k
		}
		resp, err := st.b.producer.SendMessage(ctx, req)
		if err == nil {
			return SendReceipt{Topic: tp.topic, RequestID: resp.GetRequestId()}, nil
		}
		err = wrapError("send", tp.topic, err)
		if ctx.Err() != nil {
			return SendReceipt{}, err
		}
		if p.ctx.Err() != nil {
			return SendReceipt{}, errors.Join(err, ErrClosed)
		}
		switch code := errorCode(err); {
		case IsRetryable(err):
			if attempt >= c.backoff.MaxRetries {
				return SendReceipt{}, err
			}
			if attempt >= 2 {
				// Persistent unavailability: the topic may have moved, so
				// look it up again before the next attempt.
				tp.invalidate(st)
			}
			if serr := c.retryWait(ctx, p.ctx.Done(), attempt, err); serr != nil {
				return SendReceipt{}, errors.Join(err, serr)
			}
		case (code == codes.NotFound || code == codes.PermissionDenied) && !recreated:
			// The broker forgot the producer (restart, topic unload or move):
			// re-create it once; a second refusal is real.
			recreated = true
			tp.invalidate(st)
		default:
			return SendReceipt{}, err
		}
	}
}

// healthLoop polls the broker and re-creates the producer on CLOSE. Errors
// are ignored here: the send path handles unreachable brokers.
func (tp *topicProducer) healthLoop() {
	defer tp.p.wg.Done()
	c, p := tp.p.c, tp.p
	t := time.NewTicker(c.opts.HealthCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		st := tp.current()
		if st == nil {
			if _, err := tp.ready(p.ctx); err != nil && p.ctx.Err() == nil {
				c.log.Warn("danube producer re-creation failed", "topic", tp.topic, "error", err)
			}
			continue
		}
		ctx, cancel := context.WithTimeout(p.ctx, c.opts.HealthCheckInterval)
		ok, err := c.healthCheck(ctx, st.b, false, st.id)
		cancel()
		if err != nil || ok {
			continue
		}
		c.log.Info("danube broker closed the producer, re-creating it", "topic", tp.topic, "producer", tp.name)
		tp.invalidate(st)
		if _, err := tp.ready(p.ctx); err != nil && p.ctx.Err() == nil {
			c.log.Warn("danube producer re-creation failed", "topic", tp.topic, "error", err)
		}
	}
}

// Close stops the health checks; in-flight sends fail with ErrClosed. The
// broker has no close RPC, so the producer stays registered there until the
// topic is unloaded. Close is idempotent.
func (p *Producer) Close() error {
	p.closeOnce.Do(func() {
		p.cancel()
		p.wg.Wait()
		p.c.untrack(p)
	})
	return nil
}
