package deltalake

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/deltalake/parquetfile"
	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// crashHookEnv is a TEST HOOK: when set to "after-parquet" or "after-commit",
// the process kills itself with SIGKILL right after the data files of a
// flush are written (before the commit), or right after a commit is durable
// (before any message is acknowledged). The kill -9 tests use it to prove
// that neither crash loses or duplicates rows. Never set it in production.
const crashHookEnv = "DANUBE_CONNECT_DELTA_CRASH_AT"

// crashHookAfterEnv delays the crash hook until the given number of flushes
// has reached the crash point (default 1), so a test can let some commits
// through first.
const crashHookAfterEnv = "DANUBE_CONNECT_DELTA_CRASH_AFTER"

// recycledArrowBytes bounds the freed Arrow buffers kept for reuse: about
// what one commit of the default batching (a few thousand rows) allocates
// for decoding, merging and encoding.
const recycledArrowBytes = 16 << 20

type dlMetrics struct {
	rows, bytes, files, commits, conflicts, errors, duplicates *service.MetricCounter
	commitLatency                                              *service.MetricTimer
	buffered                                                   *service.MetricGauge
}

// deltaLakeOutput is the delta_lake BatchOutput. WriteBatch calls run
// concurrently; each table has one tableWriter that merges their rows into
// shared flushes and commits them in order.
type deltaLakeOutput struct {
	conf    dlConfig
	mgr     *service.Resources
	log     *service.Logger
	metrics dlMetrics

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
	buffered   atomic.Int64
	bufMu      sync.Mutex
	bufCond    *sync.Cond
	crashAt    string
	crashAfter int64
	crashCount atomic.Int64

	// unreliable holds topics detected as non-reliable (every message has
	// offset 0): exactly-once is off for them.
	unreliable sync.Map

	maintStop chan struct{}
	maintWG   sync.WaitGroup
	closeOnce sync.Once
}

func newDeltaLakeOutput(conf dlConfig, mgr *service.Resources) (*deltaLakeOutput, error) {
	m := mgr.Metrics()
	o := &deltaLakeOutput{
		conf:   conf,
		mgr:    mgr,
		log:    mgr.Logger(),
		tables: map[string]*list.Element{},
		lru:    list.New(),
		metrics: dlMetrics{
			rows:          m.NewCounter("delta_lake_rows"),
			bytes:         m.NewCounter("delta_lake_bytes"),
			files:         m.NewCounter("delta_lake_files"),
			commits:       m.NewCounter("delta_lake_commits"),
			conflicts:     m.NewCounter("delta_lake_commit_conflicts"),
			errors:        m.NewCounter("delta_lake_errors"),
			duplicates:    m.NewCounter("delta_lake_duplicates_skipped"),
			commitLatency: m.NewTimer("delta_lake_commit_latency_ns"),
			buffered:      m.NewGauge("delta_lake_buffered_bytes"),
		},
		writerID:  conf.writerID,
		mem:       jsonrows.NewRecyclingAllocator(recycledArrowBytes),
		maintStop: make(chan struct{}),
		crashAt:   os.Getenv(crashHookEnv),
	}
	o.bufCond = sync.NewCond(&o.bufMu)
	if o.writerID == "" {
		o.writerID = uuid.NewString()
	}
	o.crashAfter = 1
	if s := os.Getenv(crashHookAfterEnv); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("parsing %s=%q: want a positive integer", crashHookAfterEnv, s)
		}
		o.crashAfter = n
	}
	switch o.crashAt {
	case "", "after-parquet", "after-commit":
	default:
		return nil, fmt.Errorf("%s=%q: want after-parquet or after-commit", crashHookEnv, o.crashAt)
	}
	if conf.optimize.enabled || conf.vacuum.enabled {
		o.startMaintenance()
	}
	return o, nil
}

// crashPoint implements the kill -9 test hook (see crashHookEnv).
func (o *deltaLakeOutput) crashPoint(point string) {
	if o.crashAt != point {
		return
	}
	if o.crashCount.Add(1) < o.crashAfter {
		return
	}
	o.log.Warnf("%s=%s: killing the process (test hook)", crashHookEnv, point)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is delivered asynchronously; never continue
}

// Connect has nothing to dial: tables are opened lazily per path.
func (o *deltaLakeOutput) Connect(ctx context.Context) error {
	return nil
}

// openStore opens the object store of a table location with the configured
// per-cloud options.
func (o *deltaLakeOutput) openStore(ctx context.Context, path string) (objstore.Store, error) {
	return openTableStore(ctx, path, o.conf.storage)
}

// acquire returns the open writer for path, opening (or creating, from
// sample rows) the table if needed. The caller must release it.
func (o *deltaLakeOutput) acquire(ctx context.Context, path string, sample func() [][]byte) (*tableWriter, error) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil, service.ErrNotConnected
	}
	if el, ok := o.tables[path]; ok {
		o.lru.MoveToFront(el)
		tw := el.Value.(*tableWriter)
		tw.refs++
		o.mu.Unlock()
		if err := tw.waitOpen(ctx, sample); err != nil {
			o.release(tw)
			return nil, err
		}
		return tw, nil
	}
	tw := newTableWriter(o, path)
	tw.refs = 1
	o.tables[path] = o.lru.PushFront(tw)
	evicted := o.evictLocked()
	o.mu.Unlock()
	for _, old := range evicted {
		old.close()
	}
	if err := tw.waitOpen(ctx, sample); err != nil {
		o.release(tw)
		return nil, err
	}
	return tw, nil
}

// evictLocked removes idle tables beyond max_open_tables, least recently
// used first. Busy tables are never evicted, so the cache can briefly hold
// more tables than the limit.
func (o *deltaLakeOutput) evictLocked() []*tableWriter {
	var out []*tableWriter
	for el := o.lru.Back(); el != nil && o.lru.Len() > o.conf.maxOpenTables; {
		prev := el.Prev()
		tw := el.Value.(*tableWriter)
		if tw.refs == 0 {
			o.lru.Remove(el)
			delete(o.tables, tw.path)
			out = append(out, tw)
		}
		el = prev
	}
	return out
}

func (o *deltaLakeOutput) release(tw *tableWriter) {
	o.mu.Lock()
	tw.refs--
	var evicted []*tableWriter
	if tw.failedOpen() && tw.refs == 0 {
		// Forget tables that could not be opened so the next batch retries.
		if el, ok := o.tables[tw.path]; ok && el.Value == tw {
			o.lru.Remove(el)
			delete(o.tables, tw.path)
		}
	} else {
		evicted = o.evictLocked()
	}
	o.mu.Unlock()
	for _, old := range evicted {
		old.close()
	}
}

// addBuffered accounts message bytes entering or leaving the buffers and
// wakes writers waiting for room.
func (o *deltaLakeOutput) addBuffered(n int64) {
	v := o.buffered.Add(n)
	o.metrics.buffered.Set(v)
	if n < 0 {
		o.bufMu.Lock()
		o.bufCond.Broadcast()
		o.bufMu.Unlock()
	}
}

// waitForRoom blocks while the buffers hold more than twice
// max_buffered_bytes (flushes are already running then), bounding memory
// when the object store is slower than the input.
func (o *deltaLakeOutput) waitForRoom(ctx context.Context) error {
	limit := 2 * o.conf.maxBufferedBytes
	if o.buffered.Load() <= limit {
		return nil
	}
	stop := context.AfterFunc(ctx, func() {
		o.bufMu.Lock()
		o.bufCond.Broadcast()
		o.bufMu.Unlock()
	})
	defer stop()
	o.bufMu.Lock()
	defer o.bufMu.Unlock()
	for o.buffered.Load() > limit {
		if err := ctx.Err(); err != nil {
			return err
		}
		o.bufCond.Wait()
	}
	return nil
}

// msgInfo is what WriteBatch extracts from one message before routing it.
type msgInfo struct {
	payload []byte
	topic   string
	offset  uint64
	hasOff  bool
	extras  []any
	pvals   []*string // from partition_mapping; nil when taken from the JSON
}

// msgInfoPool recycles WriteBatch's per-message scratch (about 100 bytes a
// message, allocated for every call otherwise).
var msgInfoPool = sync.Pool{New: func() any { return new([]msgInfo) }}

// WriteBatch routes messages to their tables, waits until the commits that
// contain them are durable, and fails only the messages that could not be
// written.
func (o *deltaLakeOutput) WriteBatch(ctx context.Context, batch service.MessageBatch) error {
	if err := o.waitForRoom(ctx); err != nil {
		return err
	}
	var batchErr *service.BatchError
	fail := func(i int, err error) {
		if batchErr == nil {
			batchErr = service.NewBatchError(batch, errors.New("writing some messages to Delta Lake failed"))
		}
		batchErr.Failed(i, err)
		o.metrics.errors.Incr(1)
	}

	infosp := msgInfoPool.Get().(*[]msgInfo)
	infos := slices.Grow((*infosp)[:0], len(batch))[:len(batch)]
	defer func() {
		// The pooled infos must not keep payloads reachable.
		clear(infos)
		*infosp = infos[:0]
		msgInfoPool.Put(infosp)
	}()
	groups := map[string][]int{}
	var order []string
	staticPath, isStatic := o.conf.path.Static()
	for i, msg := range batch {
		path := staticPath
		if !isStatic {
			var err error
			if path, err = batch.TryInterpolatedString(i, o.conf.path); err != nil {
				fail(i, fmt.Errorf("interpolating %s: %w", dlFieldPath, err))
				continue
			}
		}
		if path == "" {
			fail(i, fmt.Errorf("field %s interpolated to an empty table path", dlFieldPath))
			continue
		}
		info, err := o.messageInfo(batch, i, msg)
		if err != nil {
			fail(i, err)
			continue
		}
		infos[i] = info
		idxs, ok := groups[path]
		if !ok {
			order = append(order, path)
			if len(order) == 1 {
				// Usually every message goes to one table.
				idxs = make([]int, 0, len(batch)-i)
			}
		}
		groups[path] = append(idxs, i)
	}

	o.detectUnreliable(infos)

	type pendingWrite struct {
		tw       *tableWriter
		tickets  []*flush
		included [][]int
	}
	var pending []pendingWrite
	defer func() {
		for _, p := range pending {
			o.release(p.tw)
		}
	}()
	for _, path := range order {
		idxs := groups[path]
		sample := func() [][]byte {
			rows := make([][]byte, 0, len(idxs))
			for _, i := range idxs {
				rows = append(rows, infos[i].payload)
			}
			return rows
		}
		tw, err := o.acquire(ctx, path, sample)
		if err != nil {
			if errors.Is(err, service.ErrNotConnected) {
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
	half := int64(max(1, o.conf.maxInFlight/2))
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
	if batchErr != nil {
		return batchErr
	}
	return nil
}

// detectUnreliable turns exactly-once off for topics whose messages all
// carry offset 0 (non-reliable Danube topics): two different payloads with
// offset 0 of one topic in a batch cannot be a redelivery.
func (o *deltaLakeOutput) detectUnreliable(infos []msgInfo) {
	first := map[string][]byte{}
	for i := range infos {
		info := &infos[i]
		if !info.hasOff || info.offset != 0 {
			continue
		}
		prev, seen := first[info.topic]
		if !seen {
			first[info.topic] = info.payload
			continue
		}
		if string(prev) != string(info.payload) {
			if _, loaded := o.unreliable.LoadOrStore(info.topic, true); !loaded {
				o.log.Warnf("Topic %s delivers different messages with offset 0: it is not a reliable topic, so delivery into Delta Lake is at-least-once for it", info.topic)
			}
		}
	}
	for i := range infos {
		if infos[i].hasOff {
			if _, ok := o.unreliable.Load(infos[i].topic); ok {
				infos[i].hasOff = false
			}
		}
	}
}

// messageInfo reads the payload, the Danube metadata and the partition
// mapping result of one message.
func (o *deltaLakeOutput) messageInfo(batch service.MessageBatch, i int, msg *service.Message) (info msgInfo, err error) {
	if info.payload, err = msg.AsBytes(); err != nil {
		return info, fmt.Errorf("reading message: %w", err)
	}
	topic, hasTopic := msg.MetaGetMut(dlMetaTopic)
	offV, hasOff := msg.MetaGetMut(dlMetaOffset)
	if hasTopic {
		info.topic = fmt.Sprint(topic)
	}
	if hasTopic && hasOff && o.conf.exactlyOnce {
		if info.offset, err = metaUint(offV); err != nil {
			return info, fmt.Errorf("reading metadata %s: %w", dlMetaOffset, err)
		}
		info.hasOff = true
	}
	if o.conf.metaTopicColumn != "" {
		if hasTopic {
			info.extras = append(info.extras, info.topic)
		} else {
			info.extras = append(info.extras, nil)
		}
	}
	if o.conf.metaOffsetColumn != "" {
		if hasOff {
			n, err := metaUint(offV)
			if err != nil {
				return info, fmt.Errorf("reading metadata %s: %w", dlMetaOffset, err)
			}
			info.extras = append(info.extras, int64(n))
		} else {
			info.extras = append(info.extras, nil)
		}
	}
	if o.conf.metaPublishColumn != "" {
		v, ok := msg.MetaGetMut(dlMetaPublishTime)
		if !ok {
			info.extras = append(info.extras, nil)
		} else {
			t, err := metaTime(v)
			if err != nil {
				return info, fmt.Errorf("reading metadata %s: %w", dlMetaPublishTime, err)
			}
			info.extras = append(info.extras, t)
		}
	}
	if o.conf.partitionMapping != nil {
		resMsg, err := batch.BloblangQuery(i, o.conf.partitionMapping)
		if err != nil {
			return info, fmt.Errorf("executing %s: %w", dlFieldPartitionMapping, err)
		}
		if resMsg == nil {
			return info, fmt.Errorf("%s deleted the message instead of returning partition values", dlFieldPartitionMapping)
		}
		res, err := resMsg.AsStructured()
		if err != nil {
			return info, fmt.Errorf("reading the result of %s: %w", dlFieldPartitionMapping, err)
		}
		obj, ok := res.(map[string]any)
		if !ok {
			return info, fmt.Errorf("%s must return an object, got %T", dlFieldPartitionMapping, res)
		}
		info.pvals = make([]*string, len(o.conf.partitionBy))
		for k, col := range o.conf.partitionBy {
			v, ok := obj[col]
			if !ok {
				return info, fmt.Errorf("partition column %s: missing partition value (not set by %s)", col, dlFieldPartitionMapping)
			}
			if info.pvals[k], err = parquetfile.PartitionValueOf(v); err != nil {
				return info, fmt.Errorf("partition column %s: %w", col, err)
			}
		}
	}
	return info, nil
}

func metaUint(v any) (uint64, error) {
	switch t := v.(type) {
	case string:
		return strconv.ParseUint(t, 10, 64)
	case int64:
		if t < 0 {
			return 0, fmt.Errorf("negative offset %d", t)
		}
		return uint64(t), nil
	case uint64:
		return t, nil
	case int:
		if t < 0 {
			return 0, fmt.Errorf("negative offset %d", t)
		}
		return uint64(t), nil
	case float64:
		if t < 0 || t != float64(uint64(t)) {
			return 0, fmt.Errorf("offset %v is not a non-negative integer", t)
		}
		return uint64(t), nil
	}
	return strconv.ParseUint(fmt.Sprint(v), 10, 64)
}

// metaTime accepts RFC 3339 strings, epoch milliseconds (the danube input's
// publish time) and time values.
func metaTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t.UTC(), nil
	case string:
		if ts, err := time.Parse(time.RFC3339Nano, t); err == nil {
			return ts.UTC(), nil
		}
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor epoch milliseconds", t)
		}
		return time.UnixMilli(n).UTC(), nil
	case int64:
		return time.UnixMilli(t).UTC(), nil
	case uint64:
		return time.UnixMilli(int64(t)).UTC(), nil
	case int:
		return time.UnixMilli(int64(t)).UTC(), nil
	case float64:
		return time.UnixMilli(int64(t)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("unsupported value type %T", v)
}

// Close commits everything buffered, then closes every table. It is
// idempotent.
func (o *deltaLakeOutput) Close(ctx context.Context) error {
	o.closeOnce.Do(func() {
		close(o.maintStop)
		o.mu.Lock()
		o.closed = true
		var all []*tableWriter
		for el := o.lru.Front(); el != nil; el = el.Next() {
			all = append(all, el.Value.(*tableWriter))
		}
		o.tables = map[string]*list.Element{}
		o.lru.Init()
		o.mu.Unlock()
		for _, tw := range all {
			tw.close()
		}
		o.maintWG.Wait()
	})
	return nil
}
