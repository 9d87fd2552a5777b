package danubetest

import (
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	pb "github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

// BackoffStrategy selects how the redelivery delay grows with attempts.
type BackoffStrategy int

const (
	// BackoffExponential doubles the base delay per attempt (the broker default).
	BackoffExponential BackoffStrategy = iota
	// BackoffFixed always waits the base delay.
	BackoffFixed
)

// PoisonPolicy says what happens to a message redelivered more than
// MaxRedeliveryCount times.
type PoisonPolicy int

const (
	// PoisonBlock keeps the message and stops dispatching new ones (broker default).
	PoisonBlock PoisonPolicy = iota
	// PoisonDrop skips the message and advances the cursor.
	PoisonDrop
	// PoisonDeadLetter publishes the message to DeadLetterTopic, then skips it.
	PoisonDeadLetter
)

// FailurePolicy is the reliable-subscription failure policy of the real
// broker (SubscriptionFailurePolicy). Zero durations mean "use the default".
type FailurePolicy struct {
	MaxRedeliveryCount  int           // default 5
	AckTimeout          time.Duration // default 30 s
	BaseRedeliveryDelay time.Duration // default 1 s
	MaxRedeliveryDelay  time.Duration // default 60 s
	Backoff             BackoffStrategy
	Poison              PoisonPolicy
	DeadLetterTopic     string
}

func (p FailurePolicy) withDefaults() FailurePolicy {
	if p.MaxRedeliveryCount == 0 {
		p.MaxRedeliveryCount = 5
	}
	if p.AckTimeout == 0 {
		p.AckTimeout = 30 * time.Second
	}
	if p.BaseRedeliveryDelay == 0 {
		p.BaseRedeliveryDelay = time.Second
	}
	if p.MaxRedeliveryDelay == 0 {
		p.MaxRedeliveryDelay = 60 * time.Second
	}
	return p
}

// redeliveryDelay is min(max(policy delay, requested), max delay).
func (p FailurePolicy) redeliveryDelay(attempt int, requested time.Duration) time.Duration {
	d := p.BaseRedeliveryDelay
	if p.Backoff == BackoffExponential {
		for i := 1; i < attempt && d < p.MaxRedeliveryDelay; i++ {
			d *= 2
		}
	}
	if requested > d {
		d = requested
	}
	if d > p.MaxRedeliveryDelay {
		d = p.MaxRedeliveryDelay
	}
	return d
}

type subscription struct {
	topic   *topic
	name    string
	subType pb.ConsumerRequest_SubscriptionType
	broker  *Broker // for options (non-reliable buffer size)

	mu        sync.Mutex
	consumers []*consumer // in order of addition
	rr        int
	ring      []ringNode // KeyShared hash ring, rebuilt when consumers change

	// reliable state
	window    int
	policy    FailurePolicy
	next      uint64              // next never-dispatched offset
	ackBase   uint64              // every offset below is acked or skipped
	ackedMark atomic.Uint64       // copy of ackBase readable under the topic lock
	acked     map[uint64]struct{} // acked offsets >= ackBase
	inflight  map[uint64]*delivery
	retries   map[uint64]*delivery // waiting for redelivery
	keyBusy   map[string]int       // KeyShared: unacked messages per key
	blocked   bool
	// Emulate.LiveFeedSkip: reading the bounded live feed (no saved cursor).
	liveFeed     bool
	skipped      uint64
	skips        [][2]uint64 // wire offsets, inclusive
	storedWindow int         // SetSubscriptionDispatch value, even when ignored
	timer        *time.Timer
	timerAt      time.Time
	nonRelDrops  uint64
}

type delivery struct {
	offset   uint64
	key      string
	consumer *consumer
	deadline time.Time // ack timeout (in flight)
	readyAt  time.Time // redelivery time (in retries)
	attempts int       // redeliveries caused by nack or ack timeout
	poisoned bool
}

type consumer struct {
	id      uint64
	name    string
	sub     *subscription
	filters []string

	// guarded by sub.mu
	active bool
	stream *consumerStream
}

type consumerStream struct {
	ch     chan *pb.StreamMessage
	done   chan struct{}
	closed bool
}

func (cs *consumerStream) close() {
	if !cs.closed {
		cs.closed = true
		close(cs.done)
	}
}

func newSubscription(t *topic, name string, typ pb.ConsumerRequest_SubscriptionType, b *Broker, cfg subConfig) *subscription {
	s := &subscription{
		topic:    t,
		name:     name,
		subType:  typ,
		broker:   b,
		window:   b.opts.MaxUnacked,
		policy:   b.opts.FailurePolicy.withDefaults(),
		acked:    map[uint64]struct{}{},
		inflight: map[uint64]*delivery{},
		retries:  map[uint64]*delivery{},
		keyBusy:  map[string]int{},
	}
	s.applyConfig(cfg)
	if t.reliable {
		s.liveFeed = b.opts.Emulate.LiveFeedSkip
		// A new reliable subscription starts at the tail.
		tail := t.logBase + uint64(len(t.log))
		s.next, s.ackBase = tail, tail
		s.ackedMark.Store(tail)
	}
	return s
}

func (s *subscription) applyConfig(cfg subConfig) {
	s.storedWindow = cfg.maxUnacked
	if cfg.maxUnacked > 0 && !s.broker.opts.Emulate.IgnoreSubscriptionDispatch {
		s.window = cfg.maxUnacked
	}
	if cfg.policy != nil {
		s.policy = cfg.policy.withDefaults()
	}
}

// reset drops all consumers and rewinds to the acked cursor (restart/unload).
func (s *subscription) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.consumers {
		if c.stream != nil {
			c.stream.close()
			c.stream = nil
		}
		c.active = false
	}
	s.consumers = nil
	s.ring = nil
	s.rr = 0
	if s.topic.reliable {
		// The subscription now has a saved cursor: it reads the log from
		// there, not the live feed.
		s.liveFeed = false
		s.next = s.ackBase
		s.acked = map[uint64]struct{}{}
		s.inflight = map[uint64]*delivery{}
		s.retries = map[uint64]*delivery{}
		s.keyBusy = map[string]int{}
		s.blocked = false
	}
}

// addConsumer registers (or re-activates) a consumer; called with s.mu held.
func (s *subscription) addConsumerLocked(c *consumer) {
	s.consumers = append(s.consumers, c)
	s.rebuildRingLocked()
}

// streamCap is the per-stream buffer: the reliable window (never exceeded by
// in-flight messages) or the non-reliable drop-on-full buffer.
func (s *subscription) streamCap() int {
	if s.topic.reliable {
		if s.window < 1 {
			return 1
		}
		return s.window
	}
	return s.broker.opts.NonReliableBuffer
}

// attach makes cs the consumer's stream, replacing (and ending) a previous one.
func (s *subscription) attach(c *consumer, cs *consumerStream) {
	s.mu.Lock()
	s.detachLocked(c)
	c.stream = cs
	c.active = true
	if s.topic.reliable {
		s.pumpLocked(time.Now())
	}
	s.mu.Unlock()
}

// detach is called when a ReceiveMessages call ends: if cs is still the
// consumer's stream, the consumer becomes inactive and its in-flight messages
// are retried.
func (s *subscription) detach(c *consumer, cs *consumerStream) {
	s.mu.Lock()
	if c.stream == cs {
		s.detachLocked(c)
		c.active = false
		if s.topic.reliable {
			s.pumpLocked(time.Now())
		}
	}
	s.mu.Unlock()
}

func (s *subscription) detachLocked(c *consumer) {
	if c.stream == nil {
		return
	}
	c.stream.close()
	c.stream = nil
	if !s.topic.reliable {
		return
	}
	now := time.Now()
	for off, d := range s.inflight {
		if d.consumer == c {
			delete(s.inflight, off)
			d.readyAt = now
			s.retries[off] = d
		}
	}
}

func (s *subscription) hasStream(c *consumer) bool {
	return c.active && c.stream != nil && !c.stream.closed
}

// --- consumer selection ---

// pickLocked chooses the target consumer for a message with the given key.
// eligible is false when no consumer could ever take the key (KeyShared
// filters); target is nil when the right consumer has no stream right now.
func (s *subscription) pickLocked(key string) (target *consumer, eligible bool) {
	if len(s.consumers) == 0 {
		return nil, true
	}
	switch s.subType {
	case pb.ConsumerRequest_Shared:
		n := len(s.consumers)
		for i := 0; i < n; i++ {
			c := s.consumers[(s.rr+i)%n]
			if s.hasStream(c) {
				s.rr = (s.rr + i + 1) % n
				return c, true
			}
		}
		return nil, true
	case pb.ConsumerRequest_KeyShared:
		return s.ringLookupLocked(key)
	default:
		// Exclusive and Failover: the first-added consumer only.
		c := s.consumers[0]
		if s.hasStream(c) {
			return c, true
		}
		return nil, true
	}
}

// trySend hands m to the consumer's stream without blocking.
func trySend(c *consumer, m *pb.StreamMessage) bool {
	select {
	case c.stream.ch <- m:
		return true
	default:
		return false
	}
}

// --- non-reliable ---

func (s *subscription) deliverNonReliable(m *pb.StreamMessage) {
	s.mu.Lock()
	c, _ := s.pickLocked(effectiveKey(m))
	if c == nil || !trySend(c, m) {
		s.nonRelDrops++
	}
	s.mu.Unlock()
}

// --- reliable ---

func (s *subscription) pump() {
	s.mu.Lock()
	s.pumpLocked(time.Now())
	s.mu.Unlock()
}

// pumpLocked dispatches ready redeliveries (in offset order) and then new
// messages while the unacked window has room.
func (s *subscription) pumpLocked(now time.Time) {
	if len(s.consumers) == 0 {
		return
	}
	var log logView
	if len(s.retries) > 0 {
		log = s.topic.logSnapshot()
		// Single-consumer types redeliver strictly in offset order: a retry
		// that is not due yet holds back the ones after it.
		single := s.subType == pb.ConsumerRequest_Exclusive || s.subType == pb.ConsumerRequest_Failover
		ready := make([]uint64, 0, len(s.retries))
		for off, d := range s.retries {
			if single || (!d.poisoned && !d.readyAt.After(now)) {
				ready = append(ready, off)
			}
		}
		sort.Slice(ready, func(i, j int) bool { return ready[i] < ready[j] })
		for _, off := range ready {
			d := s.retries[off]
			if d.poisoned || d.readyAt.After(now) {
				break // only reachable for single-consumer types
			}
			c, eligible := s.pickLocked(d.key)
			if !eligible {
				delete(s.retries, off)
				s.settleLocked(d)
				continue
			}
			if c == nil || !trySend(c, log.at(off)) {
				if single {
					break
				}
				continue
			}
			delete(s.retries, off)
			d.consumer = c
			d.deadline = now.Add(s.policy.AckTimeout)
			s.inflight[off] = d
			s.scheduleLocked(d.deadline)
		}
	}
	if s.blocked {
		return
	}
	if log.end() <= s.next {
		log = s.topic.logSnapshot()
	}
	for s.next < log.end() && len(s.inflight)+len(s.retries) < s.window {
		if s.liveFeed {
			s.lagLocked(log.end())
		}
		m := log.at(s.next)
		key := ""
		if s.subType == pb.ConsumerRequest_KeyShared {
			key = effectiveKey(m)
			if s.keyBusy[key] > 0 {
				break // one unacked message per key; keep per-key order
			}
		}
		c, eligible := s.pickLocked(key)
		if !eligible {
			// No consumer's filters match: the real broker skips the message.
			s.markAckedLocked(s.next)
			s.next++
			continue
		}
		if c == nil || !trySend(c, m) {
			break
		}
		d := &delivery{offset: s.next, key: key, consumer: c, deadline: now.Add(s.policy.AckTimeout)}
		s.inflight[s.next] = d
		if s.subType == pb.ConsumerRequest_KeyShared {
			s.keyBusy[key]++
		}
		s.next++
		s.scheduleLocked(d.deadline)
	}
}

// lagLocked emulates the v0.15.1 live feed: a reader more than its
// capacity behind the newest message jumps to the oldest one still in it;
// the messages in between are never delivered.
func (s *subscription) lagLocked(end uint64) {
	capacity := uint64(s.broker.opts.Emulate.LiveFeedCapacity)
	if end-s.next <= capacity {
		return
	}
	from, to := s.next, end-capacity-1
	n := to - from + 1
	s.skipped += n
	if len(s.skips) < 100000 {
		s.skips = append(s.skips, [2]uint64{s.topic.wireOffset(from), s.topic.wireOffset(to)})
	}
	s.next = end - capacity
	s.broker.opts.Logger.Warn("danubetest: poll_next error on the live feed (emulated v0.15.1 skip): broadcast error: channel lagged by "+strconv.FormatUint(n, 10),
		"topic", s.topic.name, "subscription", s.name)
}

// lookupLocked finds the delivery of one of the positions a wire offset
// may denote (see topic.positions).
func (s *subscription) lookupLocked(positions []uint64) (uint64, *delivery, bool) {
	for _, p := range positions {
		if d := s.inflight[p]; d != nil {
			return p, d, true
		}
		if d := s.retries[p]; d != nil {
			return p, d, false
		}
	}
	return 0, nil, false
}

func (s *subscription) ack(positions []uint64) {
	s.mu.Lock()
	offset, d, _ := s.lookupLocked(positions)
	if d != nil && s.inflight[offset] == d {
		delete(s.inflight, offset)
	} else if d != nil {
		delete(s.retries, offset)
		if d.poisoned {
			s.blocked = false
		}
	}
	if d != nil {
		s.settleLocked(d)
		s.pumpLocked(time.Now())
	}
	s.mu.Unlock()
}

func (s *subscription) nack(positions []uint64, requested time.Duration) {
	s.mu.Lock()
	if offset, d, inflight := s.lookupLocked(positions); inflight {
		delete(s.inflight, offset)
		s.retryLocked(d, requested, time.Now())
		s.pumpLocked(time.Now())
	}
	s.mu.Unlock()
}

// retryLocked schedules a redelivery or applies the poison policy.
func (s *subscription) retryLocked(d *delivery, requested time.Duration, now time.Time) {
	d.attempts++
	if d.attempts > s.policy.MaxRedeliveryCount {
		switch s.policy.Poison {
		case PoisonDrop:
			s.settleLocked(d)
			return
		case PoisonDeadLetter:
			s.deadLetterLocked(d)
			s.settleLocked(d)
			return
		default:
			d.poisoned = true
			s.retries[d.offset] = d
			s.blocked = true
			return
		}
	}
	d.readyAt = now.Add(s.policy.redeliveryDelay(d.attempts, requested))
	s.retries[d.offset] = d
	s.scheduleLocked(d.readyAt)
}

func (s *subscription) deadLetterLocked(d *delivery) {
	dlq := s.policy.DeadLetterTopic
	if dlq == "" {
		return
	}
	orig := s.topic.logSnapshot().at(d.offset)
	m := cloneForTopic(orig, dlq)
	cluster := s.topic.cluster
	// Publishing takes the cluster lock and other subscriptions' locks; do it
	// asynchronously so no lock order against this subscription is needed.
	go func() {
		if t := cluster.topic(dlq); t != nil {
			t.publish(m)
		}
	}()
}

// settleLocked marks d acked/skipped and frees its key.
func (s *subscription) settleLocked(d *delivery) {
	if s.subType == pb.ConsumerRequest_KeyShared {
		if s.keyBusy[d.key]--; s.keyBusy[d.key] <= 0 {
			delete(s.keyBusy, d.key)
		}
	}
	s.markAckedLocked(d.offset)
}

func (s *subscription) markAckedLocked(off uint64) {
	if off != s.ackBase {
		s.acked[off] = struct{}{}
		return
	}
	s.ackBase++
	for {
		if _, ok := s.acked[s.ackBase]; !ok {
			break
		}
		delete(s.acked, s.ackBase)
		s.ackBase++
	}
	s.ackedMark.Store(s.ackBase)
}

// scheduleLocked makes sure the timer fires no later than at.
func (s *subscription) scheduleLocked(at time.Time) {
	if s.timer != nil && !s.timerAt.IsZero() && !at.Before(s.timerAt) {
		return
	}
	s.timerAt = at
	d := time.Until(at)
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.tick)
	} else {
		s.timer.Reset(d)
	}
}

// tick handles ack timeouts and due redeliveries, then re-arms the timer.
func (s *subscription) tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.timerAt = time.Time{}
	for off, d := range s.inflight {
		if !d.deadline.After(now) {
			delete(s.inflight, off)
			s.retryLocked(d, 0, now)
		}
	}
	s.pumpLocked(now)
	var next time.Time
	for _, d := range s.inflight {
		if next.IsZero() || d.deadline.Before(next) {
			next = d.deadline
		}
	}
	for _, d := range s.retries {
		if !d.poisoned && (next.IsZero() || d.readyAt.Before(next)) {
			next = d.readyAt
		}
	}
	if !next.IsZero() {
		if next.Before(now) {
			next = now.Add(time.Millisecond)
		}
		s.scheduleLocked(next)
	}
}

func (s *subscription) stopTimer() {
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
}

// --- KeyShared ---

type ringNode struct {
	hash     uint32
	consumer *consumer
}

const virtualNodes = 100

func (s *subscription) rebuildRingLocked() {
	if s.subType != pb.ConsumerRequest_KeyShared {
		return
	}
	s.ring = s.ring[:0]
	for _, c := range s.consumers {
		for v := 0; v < virtualNodes; v++ {
			s.ring = append(s.ring, ringNode{hash: keyHash(strconv.FormatUint(c.id, 10) + "-" + strconv.Itoa(v)), consumer: c})
		}
	}
	sort.Slice(s.ring, func(i, j int) bool { return s.ring[i].hash < s.ring[j].hash })
}

// ringLookupLocked walks the ring clockwise from the key's hash to the first
// consumer whose filters accept the key; that consumer must have a stream.
func (s *subscription) ringLookupLocked(key string) (*consumer, bool) {
	if len(s.ring) == 0 {
		return nil, true
	}
	h := keyHash(key)
	start := sort.Search(len(s.ring), func(i int) bool { return s.ring[i].hash >= h })
	for i := 0; i < len(s.ring); i++ {
		c := s.ring[(start+i)%len(s.ring)].consumer
		if !c.accepts(key) {
			continue
		}
		if s.hasStream(c) {
			return c, true
		}
		return nil, true
	}
	return nil, false
}

func (c *consumer) accepts(key string) bool {
	if len(c.filters) == 0 {
		return true
	}
	for _, f := range c.filters {
		if globMatch(f, key) {
			return true
		}
	}
	return false
}

// keyHash is FNV-1a-64 folded to 32 bits and finished with murmur3's fmix32.
func keyHash(s string) uint32 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 0x100000001b3
	}
	x := uint32(h) ^ uint32(h>>32)
	x ^= x >> 16
	x *= 0x85ebca6b
	x ^= x >> 13
	x *= 0xc2b2ae35
	x ^= x >> 16
	return x
}

// effectiveKey is the routing key, else the producer name.
func effectiveKey(m *pb.StreamMessage) string {
	if m.RoutingKey != nil {
		return *m.RoutingKey
	}
	return m.ProducerName
}

// globMatch matches '*' (any run, including '/') and '?' (one rune).
func globMatch(pattern, s string) bool {
	p, str := []rune(pattern), []rune(s)
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(str) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == str[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func isAlnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }

func cloneForTopic(m *pb.StreamMessage, topicName string) *pb.StreamMessage {
	return &pb.StreamMessage{
		RequestId:     m.RequestId,
		MsgId:         &pb.MsgID{ProducerId: m.MsgId.GetProducerId(), TopicName: topicName, BrokerAddr: m.MsgId.GetBrokerAddr()},
		Payload:       m.Payload,
		PublishTime:   m.PublishTime,
		ProducerName:  m.ProducerName,
		Attributes:    m.Attributes,
		SchemaId:      m.SchemaId,
		SchemaVersion: m.SchemaVersion,
		RoutingKey:    m.RoutingKey,
	}
}
