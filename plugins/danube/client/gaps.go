package client

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Gap detection.
//
// On a reliable topic the broker numbers the messages of each partition
// with a contiguous counter (msg_id.topic_offset), so a consumer that sees
// every message of a partition (Exclusive or Failover) can tell when some
// never arrived: danube-broker v0.15.1 skips messages when a subscription
// without a saved cursor lags its 256-slot live feed, and only logs a
// warning. Delivery can be slightly out of order under concurrent
// producers, so a missing offset is only reported once a reorder window
// (a number of later messages, or a time) has passed without it.
// Shared and KeyShared consumers see interleaved subsets of the offsets and
// cannot detect anything on their own.

// Default reorder window of a GapDetector.
const (
	// DefaultGapReorderCount is more than any reordering seen on a real
	// broker (a few positions) and less than the 256 messages a live-feed
	// skip always leaves behind it, so skips are confirmed promptly.
	DefaultGapReorderCount = 32
	// DefaultGapReorderTimeout confirms a gap that no later message follows.
	DefaultGapReorderTimeout = 10 * time.Second
	// DefaultGapStartupMessages is the broker's default window of
	// unacknowledged messages (max_unacked_messages).
	DefaultGapStartupMessages = 10
)

// maxPendingHoles bounds the unconfirmed holes kept per partition; beyond it
// the oldest is confirmed at once.
const maxPendingHoles = 1024

// maxReportedSpans bounds the confirmed ranges remembered per partition to
// recognise a message arriving after its gap was reported.
const maxReportedSpans = 64

// GapOptions configure a GapDetector. Callbacks may run on any goroutine
// (a partition's receive loop or the detector's timer), concurrently for
// different partitions, and must not block for long.
type GapOptions struct {
	// ReorderCount confirms a missing offset once this many later messages
	// of the partition arrived without it. Default DefaultGapReorderCount.
	ReorderCount int
	// ReorderTimeout confirms a missing offset this long after it was
	// noticed. Default DefaultGapReorderTimeout.
	ReorderTimeout time.Duration
	// StartupMessages is how many first messages of a partition are not
	// checked for gaps: a consumer of an existing subscription first gets
	// what an earlier consumer left unacknowledged (at most the broker's
	// window), with holes where that one acknowledged out of order. A live-
	// feed skip cannot happen before the window was filled once. Default
	// DefaultGapStartupMessages; negative: check from the first message.
	StartupMessages int
	// OnGap is called once per confirmed range of missing offsets.
	OnGap func(Gap)
	// OnReset is called when a partition's offsets started again from a
	// lower value (a broker restart renumbers from 0); tracking restarts.
	OnReset func(Reset)
	// OnLate is called when a message arrives after its offset was reported
	// missing: the reorder window was too small for this broker.
	OnLate func(Late)
}

// Gap is a confirmed range of offsets of one partition that were never
// delivered. From and To are inclusive.
type Gap struct {
	Topic    string
	From, To uint64
}

// Count is the number of missing messages.
func (g Gap) Count() uint64 { return g.To - g.From + 1 }

func (g Gap) String() string {
	if g.From == g.To {
		return fmt.Sprintf("offset %d of %s", g.From, g.Topic)
	}
	return fmt.Sprintf("offsets %d-%d of %s", g.From, g.To, g.Topic)
}

// Reset reports that a partition's offsets went back: Offset arrived after
// offsets up to Highest had been seen.
type Reset struct {
	Topic   string
	Offset  uint64
	Highest uint64
}

// Late reports a message whose offset had already been reported missing.
type Late struct {
	Topic  string
	Offset uint64
}

// GapDetector tracks the offsets of every partition a consumer reads and
// reports the ones that never arrive. It is safe for concurrent use. One
// detector may outlive several consumers of the same subscription (so that
// tracking continues across reconnects): give it as ConsumerOptions.Gaps.
type GapDetector struct {
	opts GapOptions
	now  func() time.Time

	mu      sync.Mutex
	parts   map[string]*offsetTracker
	timer   *time.Timer
	timerAt time.Time
	closed  bool
}

// NewGapDetector returns a detector with opts (zero fields get defaults).
func NewGapDetector(opts GapOptions) *GapDetector {
	if opts.ReorderCount <= 0 {
		opts.ReorderCount = DefaultGapReorderCount
	}
	if opts.ReorderTimeout <= 0 {
		opts.ReorderTimeout = DefaultGapReorderTimeout
	}
	if opts.StartupMessages == 0 {
		opts.StartupMessages = DefaultGapStartupMessages
	}
	return &GapDetector{opts: opts, now: time.Now, parts: map[string]*offsetTracker{}}
}

// Observe records a message of a partition (its topic offset and the
// producer id and request id that identify it across redeliveries).
func (d *GapDetector) Observe(topic string, offset, producerID, requestID uint64) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	t := d.parts[topic]
	if t == nil {
		t = &offsetTracker{}
		d.parts[topic] = t
	}
	now := d.now()
	if t.startup == 0 && !t.started {
		t.startup = uint64(max(d.opts.StartupMessages, 1))
	}
	evs := t.observe(offset, msgIdentity{producerID, requestID}, now, d.opts.ReorderCount, d.opts.ReorderTimeout)
	// Only this partition's holes can have changed.
	d.armLocked(now, t.deadline(d.opts.ReorderTimeout))
	d.mu.Unlock()
	d.emit(topic, evs)
}

// Subscribed tells the detector that a partition was (re)subscribed. A
// broker restart shows up this way, and from then on an offset below the
// first one seen is a renumbering rather than a reordered message.
func (d *GapDetector) Subscribed(topic string) {
	d.mu.Lock()
	if t := d.parts[topic]; t != nil && t.started {
		t.resubscribed = true
	}
	d.mu.Unlock()
}

// Pending returns the offsets of a partition that are missing but not yet
// confirmed, as inclusive ranges.
func (d *GapDetector) Pending(topic string) [][2]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.parts[topic]
	if t == nil {
		return nil
	}
	out := make([][2]uint64, len(t.holes))
	for i, h := range t.holes {
		out[i] = [2]uint64{h.from, h.to}
	}
	return out
}

// Close stops the timer; later observations are ignored.
func (d *GapDetector) Close() {
	d.mu.Lock()
	d.closed = true
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Unlock()
}

// armLocked makes the timer fire no later than next (zero: no deadline).
func (d *GapDetector) armLocked(now, next time.Time) {
	if next.IsZero() || (!d.timerAt.IsZero() && !next.Before(d.timerAt)) {
		return
	}
	d.timerAt = next
	wait := max(next.Sub(now), time.Millisecond)
	if d.timer == nil {
		d.timer = time.AfterFunc(wait, d.expire)
	} else {
		d.timer.Reset(wait)
	}
}

// expire confirms the holes whose time is up.
func (d *GapDetector) expire() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	now := d.now()
	d.timerAt = time.Time{}
	type topicEvents struct {
		topic string
		evs   []gapEvent
	}
	var all []topicEvents
	var next time.Time
	for topic, t := range d.parts {
		if evs := t.expire(now, d.opts.ReorderCount, d.opts.ReorderTimeout); len(evs) > 0 {
			all = append(all, topicEvents{topic, evs})
		}
		if at := t.deadline(d.opts.ReorderTimeout); !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	d.armLocked(now, next)
	d.mu.Unlock()
	for _, te := range all {
		d.emit(te.topic, te.evs)
	}
}

func (d *GapDetector) emit(topic string, evs []gapEvent) {
	for _, e := range evs {
		switch e.kind {
		case eventGap:
			if d.opts.OnGap != nil {
				d.opts.OnGap(Gap{Topic: topic, From: e.from, To: e.to})
			}
		case eventReset:
			if d.opts.OnReset != nil {
				d.opts.OnReset(Reset{Topic: topic, Offset: e.from, Highest: e.to})
			}
		case eventLate:
			if d.opts.OnLate != nil {
				d.opts.OnLate(Late{Topic: topic, Offset: e.from})
			}
		}
	}
}

// msgIdentity tells a redelivery (same producer and request id) from a
// different message carrying the same offset after a reset.
type msgIdentity struct{ producer, request uint64 }

type eventKind int

const (
	eventGap   eventKind = iota // from..to never arrived
	eventReset                  // offset from arrived after offsets up to to
	eventLate                   // offset from arrived after being reported
)

type gapEvent struct {
	kind     eventKind
	from, to uint64
}

// hole is a range of missing offsets not yet confirmed.
type hole struct {
	from, to uint64
	at       time.Time // when it was noticed
	seq      uint64    // messages observed when it was noticed
}

// offsetTracker is the state of one partition. It is deterministic (time is
// passed in) so that it can be tested exhaustively.
type offsetTracker struct {
	started  bool
	low      uint64 // lowest offset tracked since the start (or last reset)
	lowID    msgIdentity
	next     uint64 // highest offset seen + 1
	seen     uint64 // messages observed
	holes    []hole // disjoint, ascending, all below next
	reported [][2]uint64
	// resubscribed: the partition was subscribed again since tracking
	// started, so nothing below low can still be a reordered message.
	resubscribed bool
	// startup is the number of first messages in which holes are not
	// recorded (see GapOptions.StartupMessages); at least 1.
	startup uint64
}

func (t *offsetTracker) start(off uint64, id msgIdentity) {
	*t = offsetTracker{started: true, low: off, lowID: id, next: off + 1, seen: t.seen, reported: t.reported, startup: t.startup}
}

// settling reports whether the tracker is still within its first
// messages, where holes are not recorded.
func (t *offsetTracker) settling() bool { return t.seen <= t.startup }

func (t *offsetTracker) observe(off uint64, id msgIdentity, now time.Time, count int, timeout time.Duration) []gapEvent {
	t.seen++
	if !t.started {
		// A new subscription starts at the tail: the first offset seen is
		// the baseline, nothing before it is owed to us.
		t.start(off, id)
		return nil
	}
	var evs []gapEvent
	switch {
	case off >= t.next:
		if off > t.next && !t.settling() {
			t.holes = append(t.holes, hole{from: t.next, to: off - 1, at: now, seq: t.seen})
			if len(t.holes) > maxPendingHoles {
				evs = append(evs, t.confirm(0))
			}
		}
		t.next = off + 1
	case t.fill(off):
	case t.isReset(off, id, count):
		// Offsets went back: what was still missing of the old numbering
		// will not come any more.
		for len(t.holes) > 0 {
			evs = append(evs, t.confirm(0))
		}
		evs = append(evs, gapEvent{kind: eventReset, from: off, to: t.next - 1})
		t.reported = nil
		t.start(off, id)
		return evs
	case off < t.low:
		// Reordered at the start: lower the baseline; what lies between is
		// missing until it arrives.
		if off+1 < t.low && !t.settling() {
			t.holes = append([]hole{{from: off + 1, to: t.low - 1, at: now, seq: t.seen}}, t.holes...)
		}
		t.low, t.lowID = off, id
	case t.unreport(off):
		evs = append(evs, gapEvent{kind: eventLate, from: off})
	default:
		// A redelivery of something already seen.
	}
	return append(evs, t.expire(now, count, timeout)...)
}

// isReset tells offsets restarting from a lower value (broker restart) from
// redeliveries and reordering: an offset below the baseline that is too far
// below it or comes after a resubscription, or the baseline offset carried
// by a different message.
func (t *offsetTracker) isReset(off uint64, id msgIdentity, count int) bool {
	if off < t.low && (t.low-off > uint64(count) || t.resubscribed) {
		return true
	}
	return off == t.low && t.next > t.low+1 && id != t.lowID
}

// fill removes off from the pending holes; it reports whether it was one.
func (t *offsetTracker) fill(off uint64) bool {
	i := sort.Search(len(t.holes), func(i int) bool { return t.holes[i].to >= off })
	if i == len(t.holes) || t.holes[i].from > off {
		return false
	}
	h := t.holes[i]
	switch {
	case h.from == off && h.to == off:
		t.holes = append(t.holes[:i], t.holes[i+1:]...)
	case h.from == off:
		t.holes[i].from++
	case h.to == off:
		t.holes[i].to--
	default:
		right := h
		right.from = off + 1
		t.holes[i].to = off - 1
		t.holes = append(t.holes, hole{})
		copy(t.holes[i+2:], t.holes[i+1:])
		t.holes[i+1] = right
	}
	return true
}

// expire confirms the holes whose reorder window has passed.
func (t *offsetTracker) expire(now time.Time, count int, timeout time.Duration) []gapEvent {
	var evs []gapEvent
	for i := 0; i < len(t.holes); {
		h := t.holes[i]
		if t.seen-h.seq >= uint64(count) || !now.Before(h.at.Add(timeout)) {
			evs = append(evs, t.confirm(i))
			continue
		}
		i++
	}
	return evs
}

// confirm reports hole i as a gap and remembers it for late arrivals.
func (t *offsetTracker) confirm(i int) gapEvent {
	h := t.holes[i]
	t.holes = append(t.holes[:i], t.holes[i+1:]...)
	t.reported = append(t.reported, [2]uint64{h.from, h.to})
	if len(t.reported) > maxReportedSpans {
		t.reported = t.reported[1:]
	}
	return gapEvent{kind: eventGap, from: h.from, to: h.to}
}

// unreport removes off from the reported ranges; it reports whether it was
// in one.
func (t *offsetTracker) unreport(off uint64) bool {
	for i, r := range t.reported {
		if off < r[0] || off > r[1] {
			continue
		}
		switch {
		case r[0] == r[1]:
			t.reported = append(t.reported[:i], t.reported[i+1:]...)
		case r[0] == off:
			t.reported[i][0]++
		case r[1] == off:
			t.reported[i][1]--
		default:
			t.reported[i][1] = off - 1
			t.reported = append(t.reported, [2]uint64{off + 1, r[1]})
		}
		return true
	}
	return false
}

// deadline is when the oldest hole times out (zero without holes).
func (t *offsetTracker) deadline(timeout time.Duration) time.Time {
	var at time.Time
	for _, h := range t.holes {
		if d := h.at.Add(timeout); at.IsZero() || d.Before(at) {
			at = d
		}
	}
	return at
}
