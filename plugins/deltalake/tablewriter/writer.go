package tablewriter

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// recycledArrowBytes bounds the freed Arrow buffers kept for reuse: about
// what one commit of the default batching (a few thousand rows) allocates
// for decoding, merging and encoding.
const recycledArrowBytes = 16 << 20

// Writer appends JSON messages to Delta tables. Write calls run
// concurrently; each table has one tableWriter that merges their rows into
// shared flushes and commits them in order. It keeps a bounded set of
// tables open and bounds the bytes buffered over all of them.
type Writer struct {
	conf    Config
	log     Logger
	metrics Metrics

	writerID string

	// mem backs the Arrow buffers of decoded rows, merged row groups and
	// Parquet encoding; freed buffers are reused instead of becoming
	// garbage (see jsonrows.RecyclingAllocator).
	mem *jsonrows.RecyclingAllocator

	mu     sync.Mutex
	tables map[string]*list.Element // path -> element of lru holding *tableWriter
	lru    *list.List
	closed bool

	// buffered counts message bytes held in flushes that have not
	// committed yet, over all tables (max_buffered_bytes).
	buffered atomic.Int64
	bufMu    sync.Mutex
	bufCond  *sync.Cond

	// unreliable holds topics detected as non-reliable (every message has
	// offset 0): exactly-once is off for them.
	unreliable sync.Map

	maintStop chan struct{}
	maintWG   sync.WaitGroup
	closeOnce sync.Once
}

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("the Delta table writer is closed")

// New returns a writer; log and the members of metrics may be nil.
func New(conf Config, log Logger, metrics Metrics) *Writer {
	if log == nil {
		log = nopLogger{}
	}
	w := &Writer{
		conf:      conf,
		log:       log,
		metrics:   metrics.withDefaults(),
		tables:    map[string]*list.Element{},
		lru:       list.New(),
		writerID:  conf.WriterID,
		mem:       jsonrows.NewRecyclingAllocator(recycledArrowBytes),
		maintStop: make(chan struct{}),
	}
	w.bufCond = sync.NewCond(&w.bufMu)
	if w.writerID == "" {
		w.writerID = uuid.NewString()
	}
	if conf.Optimize.Enabled || conf.Vacuum.Enabled {
		w.startMaintenance()
	}
	return w
}

// CheckWritable checks that location can be opened and written to by
// creating and deleting a hidden probe object in its _delta_log directory
// (hidden names are ignored by Delta readers and by VACUUM).
func (w *Writer) CheckWritable(ctx context.Context, location string) error {
	store, err := w.openStore(ctx, location)
	if err != nil {
		return fmt.Errorf("table %s cannot be opened: %w", location, err)
	}
	key := "_delta_log/.danube-connect-probe-" + uuid.NewString()
	if err := store.Put(ctx, key, []byte("probe")); err != nil {
		return fmt.Errorf("table %s is not writable: %w", location, err)
	}
	if err := store.Delete(ctx, key); err != nil {
		return fmt.Errorf("table %s: deleting the write probe %s: %w", location, key, err)
	}
	return nil
}

// openStore opens the object store of a table location.
func (w *Writer) openStore(ctx context.Context, path string) (objstore.Store, error) {
	return w.conf.OpenStore(ctx, path)
}

// acquire returns the open writer for path, opening (or creating, from
// sample rows) the table if needed. The caller must release it.
func (w *Writer) acquire(ctx context.Context, path string, sample func() [][]byte) (*tableWriter, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, ErrClosed
	}
	if el, ok := w.tables[path]; ok {
		w.lru.MoveToFront(el)
		tw := el.Value.(*tableWriter)
		tw.refs++
		w.mu.Unlock()
		if err := tw.waitOpen(ctx, sample); err != nil {
			w.release(tw)
			return nil, err
		}
		return tw, nil
	}
	tw := newTableWriter(w, path)
	tw.refs = 1
	w.tables[path] = w.lru.PushFront(tw)
	evicted := w.evictLocked()
	w.mu.Unlock()
	for _, old := range evicted {
		old.close()
	}
	if err := tw.waitOpen(ctx, sample); err != nil {
		w.release(tw)
		return nil, err
	}
	return tw, nil
}

// WriterID is the id this writer commits under (Config.WriterID or a
// random one).
func (w *Writer) WriterID() string { return w.writerID }

// OpenTables is the number of tables open (or being opened).
func (w *Writer) OpenTables() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lru.Len()
}

// evictLocked removes idle tables beyond max_open_tables, least recently
// used first. Busy tables are never evicted, so the cache can briefly hold
// more tables than the limit.
func (w *Writer) evictLocked() []*tableWriter {
	var out []*tableWriter
	for el := w.lru.Back(); el != nil && w.lru.Len() > w.conf.MaxOpenTables; {
		prev := el.Prev()
		tw := el.Value.(*tableWriter)
		if tw.refs == 0 {
			w.lru.Remove(el)
			delete(w.tables, tw.path)
			out = append(out, tw)
		}
		el = prev
	}
	return out
}

func (w *Writer) release(tw *tableWriter) {
	w.mu.Lock()
	tw.refs--
	var evicted []*tableWriter
	if tw.failedOpen() && tw.refs == 0 {
		// Forget tables that could not be opened so the next batch retries.
		if el, ok := w.tables[tw.path]; ok && el.Value == tw {
			w.lru.Remove(el)
			delete(w.tables, tw.path)
		}
	} else {
		evicted = w.evictLocked()
	}
	w.mu.Unlock()
	for _, old := range evicted {
		old.close()
	}
}

// addBuffered accounts message bytes entering or leaving the buffers and
// wakes writers waiting for room.
func (w *Writer) addBuffered(n int64) {
	v := w.buffered.Add(n)
	w.metrics.Buffered.Set(v)
	if n < 0 {
		w.bufMu.Lock()
		w.bufCond.Broadcast()
		w.bufMu.Unlock()
	}
}

// waitForRoom blocks while the buffers hold more than twice
// max_buffered_bytes (flushes are already running then), bounding memory
// when the object store is slower than the input.
func (w *Writer) waitForRoom(ctx context.Context) error {
	limit := 2 * w.conf.MaxBufferedBytes
	if w.buffered.Load() <= limit {
		return nil
	}
	stop := context.AfterFunc(ctx, func() {
		w.bufMu.Lock()
		w.bufCond.Broadcast()
		w.bufMu.Unlock()
	})
	defer stop()
	w.bufMu.Lock()
	defer w.bufMu.Unlock()
	for w.buffered.Load() > limit {
		if err := ctx.Err(); err != nil {
			return err
		}
		w.bufCond.Wait()
	}
	return nil
}

// Message is one input message: its table, its payload (one or more rows
// framed by Config.PayloadFormat) and what exactly-once and the metadata
// columns need. The payload must stay unchanged until Write returns.
type Message struct {
	Table   string
	Payload []byte
	// Topic and Offset identify the message for exactly-once; HasOffset
	// says whether Offset is set (and exactly-once applies).
	Topic     string
	Offset    uint64
	HasOffset bool
	// Extras fill the metadata columns (Config.Meta*Column, in order).
	Extras []any
	// PartitionValues are the Delta-serialised partition values when
	// Config.PartitionsFromCaller is set.
	PartitionValues []*string
}

// Write appends msgs to their tables and waits until the commits that
// contain them are durable. A message that cannot be written is reported to
// fail with its index (and counted as an error); the others are written. An
// error return (ErrClosed, a cancelled ctx) concerns every message not
// reported to fail.
func (w *Writer) Write(ctx context.Context, msgs []Message, fail func(i int, err error)) error {
	if err := w.waitForRoom(ctx); err != nil {
		return err
	}
	failed := fail
	fail = func(i int, err error) {
		w.metrics.Errors.Incr(1)
		failed(i, err)
	}
	groups := map[string][]int{}
	var order []string
	for i := range msgs {
		path := msgs[i].Table
		if path == "" {
			fail(i, errors.New("the table path is empty"))
			continue
		}
		idxs, ok := groups[path]
		if !ok {
			order = append(order, path)
			if len(order) == 1 {
				// Usually every message goes to one table.
				idxs = make([]int, 0, len(msgs)-i)
			}
		}
		groups[path] = append(idxs, i)
	}
	infos := msgs
	w.detectUnreliable(infos)

	type pendingWrite struct {
		tw       *tableWriter
		tickets  []*flush
		included [][]int
	}
	var pending []pendingWrite
	defer func() {
		for _, p := range pending {
			w.release(p.tw)
		}
	}()
	for _, path := range order {
		idxs := groups[path]
		sample := func() [][]byte {
			rows := make([][]byte, 0, len(idxs))
			for _, i := range idxs {
				_, _ = jsonrows.Each(w.conf.PayloadFormat, infos[i].Payload, func(_ int, row []byte) error {
					rows = append(rows, row)
					return nil
				})
			}
			return rows
		}
		tw, err := w.acquire(ctx, path, sample)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return err
			}
			for _, i := range idxs {
				fail(i, fmt.Errorf("opening table %s: %w", path, err))
			}
			continue
		}
		tickets, included := tw.write(ctx, infos, idxs, fail)
		pending = append(pending, pendingWrite{tw: tw, tickets: tickets, included: included})
	}
	// When half of the concurrent WriteBatch calls are waiting, commit now
	// instead of idling until the flush period ends: the other half keeps
	// decoding into the next flush meanwhile, so decoding and committing
	// overlap and throughput no longer depends on the flush period.
	half := int64(max(1, w.conf.MaxInFlight/2))
	for _, p := range pending {
		for _, f := range p.tickets {
			if f.waiters.Add(1) >= half {
				p.tw.seal(f)
			}
		}
	}
	for _, p := range pending {
		for k, f := range p.tickets {
			select {
			case <-f.done:
			case <-ctx.Done():
				// The rows stay buffered and will be committed; not acking
				// them now means a redelivery, recognised when exactly-once
				// applies.
				return ctx.Err()
			}
			if f.err != nil {
				for _, i := range p.included[k] {
					fail(i, f.err)
				}
			}
		}
	}
	return nil
}

// detectUnreliable turns exactly-once off for topics whose messages all
// carry offset 0 (non-reliable Danube topics): two different payloads with
// offset 0 of one topic in a batch cannot be a redelivery.
func (w *Writer) detectUnreliable(infos []Message) {
	first := map[string][]byte{}
	for i := range infos {
		info := &infos[i]
		if !info.HasOffset || info.Offset != 0 {
			continue
		}
		prev, seen := first[info.Topic]
		if !seen {
			first[info.Topic] = info.Payload
			continue
		}
		if string(prev) != string(info.Payload) {
			if _, loaded := w.unreliable.LoadOrStore(info.Topic, true); !loaded {
				w.log.Warnf("Topic %s delivers different messages with offset 0: it is not a reliable topic, so delivery into Delta Lake is at-least-once for it", info.Topic)
			}
		}
	}
	for i := range infos {
		if infos[i].HasOffset {
			if _, ok := w.unreliable.Load(infos[i].Topic); ok {
				infos[i].HasOffset = false
			}
		}
	}
}

// Close commits everything buffered, then closes every table. It is
// idempotent.
func (w *Writer) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		close(w.maintStop)
		w.mu.Lock()
		w.closed = true
		var all []*tableWriter
		for el := w.lru.Front(); el != nil; el = el.Next() {
			all = append(all, el.Value.(*tableWriter))
		}
		w.tables = map[string]*list.Element{}
		w.lru.Init()
		w.mu.Unlock()
		for _, tw := range all {
			tw.close()
		}
		w.maintWG.Wait()
	})
	return nil
}
