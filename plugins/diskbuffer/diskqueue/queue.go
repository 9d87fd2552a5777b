// Package diskqueue is a durable, size-bounded FIFO queue of record batches
// in one directory, built on bbolt (go.etcd.io/bbolt). It backs the `disk`
// buffer but has no Benthos dependency.
//
// Appends are group-committed: one goroutine writes every append and
// acknowledgement waiting at that moment in one bbolt transaction (one
// commit, i.e. its fsyncs), then reports each append durable. Entries are
// read in order, leased, and deleted only when the lease is acknowledged; a
// negatively acknowledged lease is handed out again after a delay, and after
// a restart every entry still stored is read again. bbolt's copy-on-write
// pages and double meta page make a commit all or nothing, so a crash (kill
// -9, power loss) leaves the queue as of its last commit.
package diskqueue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the bbolt file the queue keeps in its directory.
const FileName = "buffer.db"

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

var bucketName = []byte("entries")

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
	// the queue file (default 1s).
	LockTimeout time.Duration
	// OnCommit, if set, is called after every commit attempt, from the
	// committing goroutine.
	OnCommit func(Commit)
}

// Commit describes one group commit.
type Commit struct {
	Duration        time.Duration // the bbolt transaction, fsyncs included
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
}

type redelivery struct {
	seq uint64
	at  time.Time
}

// Queue is a durable queue; all methods are safe for concurrent use.
type Queue struct {
	db   *bolt.DB
	path string
	opts Options

	readMu sync.Mutex // serialises Read, the only mover of cursor

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every state change
	closed     bool
	endOfInput bool
	nextSeq    uint64 // last assigned sequence number
	committed  uint64 // highest durable sequence number
	cursor     uint64 // next sequence number to read (beyond redeliveries)
	pending    []*appendReq
	deletes    []*deleteReq
	stats      Stats
	handedOut  map[uint64]entryInfo // read, not yet deleted
	redeliver  []redelivery         // handed out, nacked, to be read again

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
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
	path := filepath.Join(opts.Dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opts.LockTimeout,
		// The free list is rebuilt by a scan at open instead of being
		// written by every commit: fewer pages per commit.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// Map the expected size up front, so that growing the file rarely
		// remaps (which waits for readers).
		InitialMmapSize: int(min(2*opts.MaxBytes, 1<<30)),
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s stayed locked for %v; two pipelines must not share one buffer directory", ErrLocked, path, opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("disk queue: opening %s: %w", path, err)
	}
	q := &Queue{
		db:        db,
		path:      path,
		opts:      opts,
		changed:   make(chan struct{}),
		handedOut: map[uint64]entryInfo{},
		kick:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	if err := q.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	go q.commitLoop()
	return q, nil
}

// load creates the bucket and counts what a previous run left.
func (q *Queue) load() error {
	err := q.db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	})
	if err != nil {
		return fmt.Errorf("disk queue: initialising %s: %w", q.path, err)
	}
	err = q.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketName).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq, err := seqOf(k)
			if err != nil {
				return err
			}
			n, err := entryRecordCount(v)
			if err != nil {
				return fmt.Errorf("entry %d: %w", seq, err)
			}
			if q.stats.Entries == 0 {
				q.cursor = seq
			}
			q.stats.Entries++
			q.stats.Records += n
			q.stats.Bytes += int64(len(v))
			q.committed = seq
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("disk queue: reading %s: %w", q.path, err)
	}
	q.nextSeq = q.committed
	if q.stats.Entries == 0 {
		q.cursor = q.committed + 1
	}
	return nil
}

// Path is the queue's bbolt file.
func (q *Queue) Path() string { return q.path }

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

func (q *Queue) signalCommit() {
	select {
	case q.kick <- struct{}{}:
	default:
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

func (q *Queue) commitLoop() {
	defer close(q.done)
	for {
		select {
		case <-q.kick:
			for q.commitOnce() {
			}
		case <-q.stop:
			// Close refuses new work; commit what was accepted.
			for q.commitOnce() {
			}
			return
		}
	}
}

// commitOnce writes the waiting appends (up to maxCommitBytes) and deletes in
// one transaction; it reports whether there was anything to do.
func (q *Queue) commitOnce() bool {
	q.mu.Lock()
	var appends []*appendReq
	var bytes int64
	for len(q.pending) > 0 && (len(appends) == 0 || bytes+int64(len(q.pending[0].data)) <= maxCommitBytes) {
		bytes += int64(len(q.pending[0].data))
		appends = append(appends, q.pending[0])
		q.pending[0] = nil
		q.pending = q.pending[1:]
	}
	deletes := q.deletes
	q.deletes = nil
	q.mu.Unlock()
	if len(appends) == 0 && len(deletes) == 0 {
		return false
	}

	start := time.Now()
	err := q.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName)
		for _, a := range appends {
			if err := b.Put(seqKey(a.seq), a.data); err != nil {
				return fmt.Errorf("storing entry %d: %w", a.seq, err)
			}
		}
		for _, d := range deletes {
			for _, seq := range d.seqs {
				if err := b.Delete(seqKey(seq)); err != nil {
					return fmt.Errorf("deleting entry %d: %w", seq, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("disk queue commit to %s: %w", q.path, err)
	}
	c := Commit{Duration: time.Since(start), Appended: len(appends), Err: err}

	q.mu.Lock()
	for _, a := range appends {
		c.AppendedRecords += a.records
		if err == nil {
			q.committed = a.seq // appends are taken in sequence order
		} else {
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
	req := &deleteReq{seqs: l.seqs, done: make(chan error, 1)}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	q.deletes = append(q.deletes, req)
	q.mu.Unlock()
	q.signalCommit()
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
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
		if len(due) > 0 || q.cursor <= q.committed {
			lease, err := q.leaseLocked(due, maxRecords, maxBytes)
			if err != nil || lease != nil {
				return lease, err
			}
			continue
		}
		if q.endOfInput && len(q.pending) == 0 && len(q.handedOut) == 0 {
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
	slices.SortFunc(due, func(a, b redelivery) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	var records int
	var bytes int64
	fits := func(n int, size int64) bool {
		return records == 0 || (records+n <= maxRecords && bytes+size <= maxBytes)
	}
	var again []uint64
	for i, r := range due {
		info := q.handedOut[r.seq]
		if !fits(info.records, info.size) {
			q.redeliver = append(q.redeliver, due[i:]...) // keep for the next read
			break
		}
		records += info.records
		bytes += info.size
		again = append(again, r.seq)
	}
	from, to := q.cursor, q.committed
	readNew := len(again) == len(due) // nothing left over from the redeliveries
	q.mu.Unlock()

	lease := &Lease{q: q}
	newInfo := map[uint64]entryInfo{}
	cursor := from // where the next read starts
	err := q.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName)
		for _, seq := range again {
			v := b.Get(seqKey(seq))
			if v == nil {
				return fmt.Errorf("entry %d to redeliver is missing", seq)
			}
			var err error
			if lease.Records, err = decodeEntry(lease.Records, v); err != nil {
				return fmt.Errorf("entry %d: %w", seq, err)
			}
			lease.seqs = append(lease.seqs, seq)
		}
		if !readNew {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(seqKey(from)); ; k, v = c.Next() {
			if k == nil {
				cursor = to + 1 // everything up to the last commit was taken
				return nil
			}
			seq, err := seqOf(k)
			if err != nil {
				return err
			}
			if seq > to {
				cursor = to + 1
				return nil
			}
			n, err := entryRecordCount(v)
			if err != nil {
				return fmt.Errorf("entry %d: %w", seq, err)
			}
			if !fits(n, int64(len(v))) {
				return nil
			}
			if lease.Records, err = decodeEntry(lease.Records, v); err != nil {
				return fmt.Errorf("entry %d: %w", seq, err)
			}
			records += n
			bytes += int64(len(v))
			lease.seqs = append(lease.seqs, seq)
			newInfo[seq] = entryInfo{size: int64(len(v)), records: n}
			cursor = seq + 1
		}
	})

	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil {
		now := time.Now()
		for _, seq := range again {
			q.redeliver = append(q.redeliver, redelivery{seq: seq, at: now})
		}
		return nil, fmt.Errorf("disk queue: reading %s: %w", q.path, err)
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
// closes the file. Leased entries that were not acknowledged stay stored
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
	select {
	case <-q.done:
	case <-ctx.Done():
		// The committer still finishes; close the file after it.
		go func() {
			<-q.done
			_ = q.db.Close()
		}()
		return ctx.Err()
	}
	if already {
		return nil
	}
	return q.db.Close()
}
