package exactlyonce

import "sync"

// Status is what a Ledger knows about one (topic-partition, offset).
type Status int

const (
	// StatusNew: not committed and not buffered; Reserve has now claimed it.
	StatusNew Status = iota
	// StatusCommitted: a durable commit already contains this offset; the
	// message must be acknowledged without being written again.
	StatusCommitted
	// StatusPending: the offset is buffered for a commit that has not
	// finished yet (a redelivery raced the first delivery). The second copy
	// must not be written; it is failed so that it comes back once the first
	// copy's commit has settled, and is then either committed or new again.
	StatusPending
)

func (s Status) String() string {
	switch s {
	case StatusNew:
		return "new"
	case StatusCommitted:
		return "committed"
	case StatusPending:
		return "pending"
	}
	return "unknown"
}

// Ledger is one writer's view of which offsets of a table are committed
// (observed from its own commits and from every commit of other writers it
// has read) and which are buffered in flushes that have not committed yet.
// It is safe for concurrent use.
//
// Memory is one range per run of contiguous committed offsets per
// topic-partition: offsets that were never committed (failed rows, rows sent
// to another table) split runs, so the size grows with the number of such
// holes, not with the number of rows.
type Ledger struct {
	mu        sync.RWMutex
	committed Offsets
	pending   Offsets
	version   int64 // highest table version whose commit has been observed
}

// NewLedger returns an empty ledger that has observed no version.
func NewLedger() *Ledger {
	return &Ledger{committed: Offsets{}, pending: Offsets{}, version: -1}
}

// Status reports what the ledger knows about (topic, off) without claiming it.
func (l *Ledger) Status(topic string, off uint64) Status {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.statusLocked(topic, off)
}

func (l *Ledger) statusLocked(topic string, off uint64) Status {
	if l.committed.Contains(topic, off) {
		return StatusCommitted
	}
	if l.pending.Contains(topic, off) {
		return StatusPending
	}
	return StatusNew
}

// Reserve claims (topic, off) for a flush when it is neither committed nor
// pending, and returns the status it had before the call.
func (l *Ledger) Reserve(topic string, off uint64) Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.statusLocked(topic, off)
	if st == StatusNew {
		l.pending.Add(topic, off)
	}
	return st
}

// Release returns reserved offsets whose flush failed (or whose rows were
// rejected) so that a redelivery is written again.
func (l *Ledger) Release(o Offsets) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending.Subtract(o)
}

// Commit records that o is durable in the table (from this writer's own
// commit): the offsets stop being pending and become committed.
func (l *Ledger) Commit(o Offsets) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending.Subtract(o)
	l.committed.Union(o)
}

// Observe records the offsets of a commit at version made by any writer
// (read at startup, while refreshing, or as a winner of a commit race). It
// returns the offsets that this writer currently has pending and that the
// observed commit already contains: the caller must drop those rows from its
// flush instead of committing them a second time.
func (l *Ledger) Observe(version int64, o Offsets) (pendingDuplicates Offsets) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if version > l.version {
		l.version = version
	}
	l.committed.Union(o)
	return l.pending.Intersect(o)
}

// CommittedOf returns the offsets of o that are committed.
func (l *Ledger) CommittedOf(o Offsets) Offsets {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.committed.Intersect(o)
}

// Version is the highest table version observed, -1 before any.
func (l *Ledger) Version() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.version
}

// SetVersion raises the observed version (used after reading a table whose
// recent commits carry no offsets, so they need not be read again).
func (l *Ledger) SetVersion(version int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if version > l.version {
		l.version = version
	}
}

// Committed returns a copy of the committed offsets.
func (l *Ledger) Committed() Offsets {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.committed.Clone()
}

// Pending returns a copy of the pending offsets.
func (l *Ledger) Pending() Offsets {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.pending.Clone()
}

// Ranges is the number of ranges held (committed + pending), a memory gauge.
func (l *Ledger) Ranges() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := 0
	for _, s := range l.committed {
		n += s.Len()
	}
	for _, s := range l.pending {
		n += s.Len()
	}
	return n
}
