// Package diskqueue is a durable, size-bounded FIFO queue of record batches
// in one directory, built on Pebble (github.com/cockroachdb/pebble), an LSM
// store whose commits are appends to a write-ahead log. It backs the `disk`
// buffer but has no Benthos dependency.
//
// Appends are group-committed: a committer writes every append waiting at
// that moment in one Pebble batch with a synced write (one WAL append and
// one fdatasync), then reports each append durable. The queue is spread over
// a few Pebble stores (shards), each with its own committer, so that appends
// arriving while one store is syncing are committed to another at once
// instead of waiting for that sync to end; entries carry one global sequence
// number (the big-endian key) and are read back in its order across the
// shards. Entries are read in order, leased, and deleted only when the lease
// is acknowledged; a negatively acknowledged lease is handed out again after
// a delay, and after a restart every entry still stored is read again. A
// batch is one checksummed WAL record that recovery replays whole or not at
// all (a torn tail is dropped), so a crash (kill -9, power loss) leaves the
// queue as of its last commit.
package diskqueue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// DefaultShards is the number of Pebble stores (and parallel commits) when
// Options.Shards is not set.
const DefaultShards = 2

// ShardFile is the name of shard i's Pebble directory in the queue's directory.
func ShardFile(i int) string { return fmt.Sprintf("shard-%d", i) }

// LockFile is the file in the queue's directory that one process holds
// locked while it has the queue open.
const LockFile = "LOCK"

var (
	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("disk queue is closed")
	// ErrDrained is returned by Read once EndOfInput was called and every
	// entry was read and acknowledged.
	ErrDrained = errors.New("disk queue is drained")
	// ErrTooLarge is returned by Append for an entry larger than MaxBytes.
	ErrTooLarge = errors.New("batch is larger than the queue's size limit")
	// ErrLocked is returned by Open when another process holds the queue.
	ErrLocked = errors.New("disk queue is in use by another process")
)

// maxCommitBytes bounds one group commit, so that a large backlog of appends
// is written in several transactions of bounded memory and latency.
const maxCommitBytes = 16 << 20

// Options configure Open.
type Options struct {
	// Dir is the directory holding the queue file; it is created if missing.
	Dir string
	// MaxBytes bounds the stored entries (encoded size, including appends
	// waiting for their commit): Append waits while it would be exceeded.
	MaxBytes int64
	// LockTimeout is how long Open waits for another process to release
	// the queue's directory (default 1s).
	LockTimeout time.Duration
	// Shards is the number of Pebble stores committed in parallel (default
	// DefaultShards); stores of more shards found in Dir are opened too.
	Shards int
	// OnCommit, if set, is called after every commit attempt, from the
	// committing goroutine.
	OnCommit func(Commit)
}

// Commit describes one group commit.
type Commit struct {
	Duration        time.Duration // the synced Pebble batch write, fdatasync included
	Appended        int           // entries made durable (or lost, with Err)
	AppendedRecords int
	Deleted         int // entries deleted by acknowledgements
	DeletedRecords  int
	Err             error
}

// Stats is the queue's depth: stored entries plus appends waiting for their
// commit, read or not.
type Stats struct {
	Entries int
	Records int
	Bytes   int64
}

type appendReq struct {
	seq     uint64
	data    []byte
	records int
	done    func(error)
}

type deleteReq struct {
	seqs []uint64
	done chan error
}

type entryInfo struct {
	size    int64
	records int
	shard   int
}

// shard is one Pebble store with its committer.
type shard struct {
	db   *pebble.DB
	path string
	kick chan struct{}
	done chan struct{}
	// guarded by Queue.mu:
	deletes    []*deleteReq
	committing uint64 // lowest sequence number of the commit in progress, 0 when idle
}

type redelivery struct {
	seq uint64
	at  time.Time
}

// Queue is a durable queue; all methods are safe for concurrent use.
type Queue struct {
	shards []*shard
	dir    string
	opts   Options
	lock   io.Closer // LockFile, held until Close

	readMu sync.Mutex // serialises Read, the only mover of cursor

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every state change
	closed     bool
	endOfInput bool
	nextSeq    uint64 // last assigned sequence number
	cursor     uint64 // next sequence number to read (beyond redeliveries)
	pending    []*appendReq
	stats      Stats
	handedOut  map[uint64]entryInfo // read, not yet deleted
	redeliver  []redelivery         // handed out, nacked, to be read again

	stop chan struct{}
}

// Open opens (or creates) the queue in opts.Dir. It fails with ErrLocked if
// another process has it open.
func Open(opts Options) (*Queue, error) {
	if opts.Dir == "" {
		return nil, errors.New("disk queue: no directory given")
	}
	if opts.MaxBytes <= 0 {
		return nil, fmt.Errorf("disk queue: max bytes must be positive, got %d", opts.MaxBytes)
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("disk queue: creating %s: %w", opts.Dir, err)
	}
	if opts.Shards <= 0 {
		opts.Shards = DefaultShards
	}
	for {
		// Never leave entries of a previous, wider configuration unread.
		if _, err := os.Stat(filepath.Join(opts.Dir, ShardFile(opts.Shards))); err != nil {
			break
		}
		opts.Shards++
	}
	lock, err := lockDir(opts.Dir, opts.LockTimeout)
	if err != nil {
		return nil, err
	}
	q := &Queue{
		dir:       opts.Dir,
		opts:      opts,
		lock:      lock,
		changed:   make(chan struct{}),
		handedOut: map[uint64]entryInfo{},
		stop:      make(chan struct{}),
	}
	for i := 0; i < opts.Shards; i++ {
		s, err := openShard(opts, i)
		if err != nil {
			q.closeFiles()
			return nil, err
		}
		q.shards = append(q.shards, s)
	}
	if err := q.load(); err != nil {
		q.closeFiles()
		return nil, err
	}
	for _, s := range q.shards {
		go q.commitLoop(s)
	}
	return q, nil
}

// lockDir takes the queue's directory lock, retrying until timeout while
// another process holds it.
func lockDir(dir string, timeout time.Duration) (io.Closer, error) {
	path := filepath.Join(dir, LockFile)
	deadline := time.Now().Add(timeout)
	for {
		lock, err := vfs.Default.Lock(path)
		if err == nil {
			return lock, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: directory %s stayed locked for %v (%s: %v); two pipelines must not share one buffer directory", ErrLocked, dir, timeout, path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// quietLogger drops Pebble's informational log lines (WAL and flush
// events); failures reach the queue as errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

// Errorf drops Pebble's background error reports: the failures that matter
// (a failed commit or read) reach the queue as errors.
func (quietLogger) Errorf(string, ...any) {}

func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("disk queue: pebble: "+format, args...))
}

func openShard(opts Options, i int) (*shard, error) {
	path := filepath.Join(opts.Dir, ShardFile(i))
	// Pebble's defaults (4 MiB memtables, 8 MiB block cache) suit a queue
	// whose entries are mostly deleted before they are flushed.
	db, err := pebble.Open(path, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("disk queue: opening %s: %w", path, err)
	}
	return &shard{db: db, path: path, kick: make(chan struct{}, 1), done: make(chan struct{})}, nil
}

func (q *Queue) closeFiles() {
	for _, s := range q.shards {
		_ = s.db.Close()
	}
	_ = q.lock.Close()
}

// load counts what a previous run left.
func (q *Queue) load() error {
	first := uint64(0)
	for _, s := range q.shards {
		err := func() error {
			it, err := s.db.NewIter(nil)
			if err != nil {
				return err
			}
			defer it.Close()
			for it.First(); it.Valid(); it.Next() {
				k, v := it.Key(), it.Value()
				seq, err := seqOf(k)
				if err != nil {
					return err
				}
				n, err := entryRecordCount(v)
				if err != nil {
					return fmt.Errorf("entry %d: %w", seq, err)
				}
				if first == 0 || seq < first {
					first = seq
				}
				q.stats.Entries++
				q.stats.Records += n
				q.stats.Bytes += int64(len(v))
				q.nextSeq = max(q.nextSeq, seq)
			}
			return it.Error()
		}()
		if err != nil {
			return fmt.Errorf("disk queue: reading %s: %w", s.path, err)
		}
	}
	q.cursor = q.nextSeq + 1
	if first > 0 {
		q.cursor = first
	}
	return nil
}

// readableLocked is the highest sequence number below which no append is
// waiting for or in a commit: everything up to it is stored or lost.
func (q *Queue) readableLocked() uint64 {
	low := q.nextSeq + 1
	if len(q.pending) > 0 {
		low = q.pending[0].seq
	}
	for _, s := range q.shards {
		if s.committing != 0 && s.committing < low {
			low = s.committing
		}
	}
	return low - 1
}

// Dir is the queue's directory.
func (q *Queue) Dir() string { return q.dir }

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func seqOf(k []byte) (uint64, error) {
	if len(k) != 8 {
		return 0, fmt.Errorf("malformed key %x", k)
	}
	return binary.BigEndian.Uint64(k), nil
}

// broadcastLocked wakes every waiter; q.mu must be held.
func (q *Queue) broadcastLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

func (s *shard) signal() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// signalCommit wakes every committer; an idle one takes the waiting appends.
func (q *Queue) signalCommit() {
	for _, s := range q.shards {
		s.signal()
	}
}

// Append queues recs as one entry and returns once it is queued; it waits
// while the queue is full, until space frees up or ctx ends. After a nil
// return, done is called exactly once, from the committing goroutine: with
// nil once the entry is durable, or with the error that lost it.
func (q *Queue) Append(ctx context.Context, recs []Record, done func(error)) error {
	data, err := encodeEntry(nil, recs)
	if err != nil {
		return err
	}
	size := int64(len(data))
	if size > q.opts.MaxBytes {
		return fmt.Errorf("%w: %d bytes encoded, the limit is %d", ErrTooLarge, size, q.opts.MaxBytes)
	}
	q.mu.Lock()
	for {
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		if q.stats.Bytes+size <= q.opts.MaxBytes {
			break
		}
		wait := q.changed
		q.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return fmt.Errorf("waiting for space in the disk queue (%d of %d bytes used): %w", q.Stats().Bytes, q.opts.MaxBytes, ctx.Err())
		}
		q.mu.Lock()
	}
	q.nextSeq++
	q.pending = append(q.pending, &appendReq{seq: q.nextSeq, data: data, records: len(recs), done: done})
	q.stats.Entries++
	q.stats.Records += len(recs)
	q.stats.Bytes += size
	q.mu.Unlock()
	q.signalCommit()
	return nil
}

func (q *Queue) commitLoop(s *shard) {
	defer close(s.done)
	for {
		select {
		case <-s.kick:
			for q.commitOnce(s) {
			}
		case <-q.stop:
			// Close refuses new work; commit what was accepted.
			for q.commitOnce(s) {
			}
			return
		}
	}
}

// commitOnce writes the waiting appends (up to maxCommitBytes) and the
// shard's deletes in one transaction; it reports whether there was anything
// to do.
func (q *Queue) commitOnce(s *shard) bool {
	q.mu.Lock()
	var appends []*appendReq
	var bytes int64
	for len(q.pending) > 0 && (len(appends) == 0 || bytes+int64(len(q.pending[0].data)) <= maxCommitBytes) {
		bytes += int64(len(q.pending[0].data))
		appends = append(appends, q.pending[0])
		q.pending[0] = nil
		q.pending = q.pending[1:]
	}
	if len(appends) > 0 {
		s.committing = appends[0].seq
	}
	deletes := s.deletes
	s.deletes = nil
	q.mu.Unlock()
	if len(appends) == 0 && len(deletes) == 0 {
		return false
	}

	start := time.Now()
	err := func() error {
		b := s.db.NewBatch()
		defer b.Close()
		for _, a := range appends {
			if err := b.Set(seqKey(a.seq), a.data, nil); err != nil {
				return fmt.Errorf("storing entry %d: %w", a.seq, err)
			}
		}
		for _, d := range deletes {
			for _, seq := range d.seqs {
				if err := b.Delete(seqKey(seq), nil); err != nil {
					return fmt.Errorf("deleting entry %d: %w", seq, err)
				}
			}
		}
		// One WAL record, fdatasynced before Commit returns.
		return b.Commit(pebble.Sync)
	}()
	if err != nil {
		err = fmt.Errorf("disk queue commit to %s: %w", s.path, err)
	}
	c := Commit{Duration: time.Since(start), Appended: len(appends), Err: err}

	q.mu.Lock()
	s.committing = 0
	for _, a := range appends {
		c.AppendedRecords += a.records
		if err != nil {
			q.stats.Entries--
			q.stats.Records -= a.records
			q.stats.Bytes -= int64(len(a.data))
		}
	}
	now := time.Now()
	for _, d := range deletes {
		for _, seq := range d.seqs {
			info := q.handedOut[seq]
			if err != nil {
				// Still stored: hand it out again rather than leak it.
				q.redeliver = append(q.redeliver, redelivery{seq: seq, at: now})
				continue
			}
			delete(q.handedOut, seq)
			q.stats.Entries--
			q.stats.Records -= info.records
			q.stats.Bytes -= info.size
			c.Deleted++
			c.DeletedRecords += info.records
		}
	}
	q.broadcastLocked()
	q.mu.Unlock()

	for _, a := range appends {
		a.done(err)
	}
	for _, d := range deletes {
		d.done <- err
	}
	if q.opts.OnCommit != nil {
		q.opts.OnCommit(c)
	}
	return true
}

// Lease is a run of consecutive entries handed out by Read. Settle it once,
// with Ack or Nack; an unsettled lease is read again after a restart.
type Lease struct {
	Records []Record

	q       *Queue
	seqs    []uint64
	mu      sync.Mutex
	settled bool
}

var errSettled = errors.New("disk queue lease settled twice")

func (l *Lease) settle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.settled {
		return false
	}
	l.settled = true
	return true
}

// Ack deletes the lease's entries and returns once the deletion is durable
// (or ctx ends; the deletion still happens).
func (l *Lease) Ack(ctx context.Context) error {
	if !l.settle() {
		return errSettled
	}
	q := l.q
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	// One delete per shard holding entries of the lease.
	perShard := map[int][]uint64{}
	for _, seq := range l.seqs {
		sh := q.handedOut[seq].shard
		perShard[sh] = append(perShard[sh], seq)
	}
	var reqs []*deleteReq
	for sh, seqs := range perShard {
		req := &deleteReq{seqs: seqs, done: make(chan error, 1)}
		q.shards[sh].deletes = append(q.shards[sh].deletes, req)
		reqs = append(reqs, req)
	}
	q.mu.Unlock()
	for sh := range perShard {
		q.shards[sh].signal()
	}
	var firstErr error
	for _, req := range reqs {
		select {
		case err := <-req.done:
			if err != nil && firstErr == nil {
				firstErr = err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return firstErr
}

// Nack hands the lease's entries out again, not before delay has passed; in
// the meantime later entries are read.
func (l *Lease) Nack(delay time.Duration) error {
	if !l.settle() {
		return errSettled
	}
	q := l.q
	at := time.Now().Add(delay)
	q.mu.Lock()
	for _, seq := range l.seqs {
		q.redeliver = append(q.redeliver, redelivery{seq: seq, at: at})
	}
	q.broadcastLocked()
	q.mu.Unlock()
	return nil
}

// Read leases the oldest entries available, at least one and then as many
// more as fit in maxRecords records and maxBytes encoded bytes (entries are
// never split). Entries due for redelivery come first, in sequence order. It
// waits until an entry is available or ctx ends, and returns ErrDrained once
// EndOfInput was called and every entry was acknowledged, ErrClosed after
// Close.
func (q *Queue) Read(ctx context.Context, maxRecords int, maxBytes int64) (*Lease, error) {
	q.readMu.Lock()
	defer q.readMu.Unlock()
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, ErrClosed
		}
		now := time.Now()
		var next time.Time // earliest redelivery not due yet
		var due []redelivery
		rest := q.redeliver[:0]
		for _, r := range q.redeliver {
			if r.at.After(now) {
				if next.IsZero() || r.at.Before(next) {
					next = r.at
				}
				rest = append(rest, r)
			} else {
				due = append(due, r)
			}
		}
		q.redeliver = rest
		if len(due) > 0 || q.cursor <= q.readableLocked() {
			lease, err := q.leaseLocked(due, maxRecords, maxBytes)
			if err != nil || lease != nil {
				return lease, err
			}
			continue
		}
		if q.endOfInput && q.readableLocked() == q.nextSeq && len(q.handedOut) == 0 {
			q.mu.Unlock()
			return nil, ErrDrained
		}
		wait := q.changed
		q.mu.Unlock()
		if err := waitFor(ctx, wait, next); err != nil {
			return nil, err
		}
	}
}

// waitFor waits for a state change, the time until (if set) or the end of ctx.
func waitFor(ctx context.Context, changed <-chan struct{}, until time.Time) error {
	var timer <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-changed:
	case <-timer:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// leaseLocked builds a lease from the due redeliveries and then unread
// entries. It is called with q.mu held and returns with it released; a nil
// lease without error means nothing was found (the cursor moved past a gap).
func (q *Queue) leaseLocked(due []redelivery, maxRecords int, maxBytes int64) (*Lease, error) {
	slices.SortFunc(due, func(a, b redelivery) int { return cmpSeq(a.seq, b.seq) })
	var records int
	var bytes int64
	fits := func(n int, size int64) bool {
		return records == 0 || (records+n <= maxRecords && bytes+size <= maxBytes)
	}
	var again []uint64
	againShard := map[uint64]int{}
	for i, r := range due {
		info := q.handedOut[r.seq]
		if !fits(info.records, info.size) {
			q.redeliver = append(q.redeliver, due[i:]...) // keep for the next read
			break
		}
		records += info.records
		bytes += info.size
		again = append(again, r.seq)
		againShard[r.seq] = info.shard
	}
	from, to := q.cursor, q.readableLocked()
	readNew := len(again) == len(due) // nothing left over from the redeliveries
	q.mu.Unlock()

	lease := &Lease{q: q}
	newInfo := map[uint64]entryInfo{}
	cursor, err := q.readEntries(lease, again, againShard, readNew, from, to, fits, func(seq uint64, info entryInfo) {
		records += info.records
		bytes += info.size
		newInfo[seq] = info
	})

	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil {
		now := time.Now()
		for _, seq := range again {
			q.redeliver = append(q.redeliver, redelivery{seq: seq, at: now})
		}
		return nil, fmt.Errorf("disk queue: reading %s: %w", q.dir, err)
	}
	if readNew {
		q.cursor = max(q.cursor, cursor)
	}
	for seq, info := range newInfo {
		q.handedOut[seq] = info
	}
	if len(lease.seqs) == 0 {
		return nil, nil
	}
	return lease, nil
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// readEntries decodes the redeliveries (again) and then, if readNew, the
// stored entries with sequence numbers in [from, to], merged across the
// shards in sequence order, while fits allows. It returns where the next
// read of new entries starts.
func (q *Queue) readEntries(lease *Lease, again []uint64, againShard map[uint64]int, readNew bool, from, to uint64,
	fits func(int, int64) bool, took func(uint64, entryInfo),
) (next uint64, err error) {
	for _, seq := range again {
		v, closer, err := q.shards[againShard[seq]].db.Get(seqKey(seq))
		if errors.Is(err, pebble.ErrNotFound) {
			return from, fmt.Errorf("entry %d to redeliver is missing", seq)
		}
		if err != nil {
			return from, fmt.Errorf("entry %d: %w", seq, err)
		}
		lease.Records, err = decodeEntry(lease.Records, v)
		_ = closer.Close()
		if err != nil {
			return from, fmt.Errorf("entry %d: %w", seq, err)
		}
		lease.seqs = append(lease.seqs, seq)
	}
	if !readNew {
		return from, nil
	}

	// One iterator per shard over [from, to], merged by sequence number.
	type head struct {
		it  *pebble.Iterator
		seq uint64
		v   []byte
	}
	heads := make([]*head, len(q.shards))
	defer func() {
		for _, h := range heads {
			if h != nil {
				_ = h.it.Close()
			}
		}
	}()
	advance := func(h *head) error {
		h.seq, h.v = 0, nil
		if !h.it.Valid() {
			return h.it.Error()
		}
		seq, err := seqOf(h.it.Key())
		if err != nil {
			return err
		}
		h.seq, h.v = seq, h.it.Value()
		return nil
	}
	for i, s := range q.shards {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: seqKey(from), UpperBound: seqKey(to + 1)})
		if err != nil {
			return from, err
		}
		heads[i] = &head{it: it}
		it.First()
		if err := advance(heads[i]); err != nil {
			return from, err
		}
	}
	next = from
	for {
		var low *head
		shard := 0
		for i, h := range heads {
			if h.v != nil && (low == nil || h.seq < low.seq) {
				low, shard = h, i
			}
		}
		if low == nil {
			return to + 1, nil // everything up to the readable limit was taken
		}
		n, err := entryRecordCount(low.v)
		if err != nil {
			return next, fmt.Errorf("entry %d: %w", low.seq, err)
		}
		if !fits(n, int64(len(low.v))) {
			return next, nil
		}
		if lease.Records, err = decodeEntry(lease.Records, low.v); err != nil {
			return next, fmt.Errorf("entry %d: %w", low.seq, err)
		}
		lease.seqs = append(lease.seqs, low.seq)
		took(low.seq, entryInfo{size: int64(len(low.v)), records: n, shard: shard})
		next = low.seq + 1
		low.it.Next()
		if err := advance(low); err != nil {
			return next, err
		}
	}
}

// EndOfInput marks that no more appends come: Read returns ErrDrained once
// everything was read and acknowledged.
func (q *Queue) EndOfInput() {
	q.mu.Lock()
	q.endOfInput = true
	q.broadcastLocked()
	q.mu.Unlock()
}

// Stats returns the current depth.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stats
}

// Close commits the appends and acknowledgements already accepted, then
// closes the files. Leased entries that were not acknowledged stay stored
// and are read again by the next Open. Calls after Close fail with ErrClosed.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	already := q.closed
	q.closed = true
	q.broadcastLocked()
	q.mu.Unlock()
	if !already {
		close(q.stop)
	}
	committersDone := make(chan struct{})
	go func() {
		for _, s := range q.shards {
			<-s.done
		}
		close(committersDone)
	}()
	select {
	case <-committersDone:
	case <-ctx.Done():
		// The committers still finish; close the files after them.
		if !already {
			go func() {
				<-committersDone
				q.closeFiles()
			}()
		}
		return ctx.Err()
	}
	if already {
		return nil
	}
	var firstErr error
	for _, s := range q.shards {
		if err := s.db.Close(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("disk queue: closing %s: %w", s.path, err)
		}
	}
	if err := q.lock.Close(); err != nil && firstErr == nil {
		firstErr = fmt.Errorf("disk queue: unlocking %s: %w", q.dir, err)
	}
	return firstErr
}
