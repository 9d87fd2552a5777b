package tablewriter

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
	"github.com/danube-connect/danube-connect/plugins/deltalake/exactlyonce"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/deltalake/parquetfile"
	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// ErrPendingDuplicate fails a redelivered copy of a message whose first copy
// is buffered in a flush that has not committed yet.
var ErrPendingDuplicate = errors.New("the same Danube offset is already buffered for a commit in progress; the redelivery will be acknowledged once that commit settles")

// errTableClosed fails rows that arrive after their table was closed.
var errTableClosed = errors.New("the table writer is closed")

// schemaGen is one version of the table schema as this writer knows it.
// Rows are decoded against a generation; files never mix generations, and a
// commit carrying rows of a newer generation than the table's metaData also
// carries the new metaData (schema evolution).
type schemaGen struct {
	idx      int
	schema   *arrow.Schema // full table schema, partition columns included
	decoders sync.Pool     // *jsonrows.Decoder
	newErr   error
}

// rowSrc keeps what is needed to decode a buffered row again (when a
// concurrent writer committed some offsets of a flush and the flush is
// rebuilt without them). The payload belongs to a message that Benthos
// holds until the flush settles, so keeping it costs no copy.
type rowSrc struct {
	payload []byte
	extras  []any
	topic   string
	offset  uint64
	hasOff  bool
}

// fileGroup is the rows of one (schema generation, partition) in a flush:
// they become one or more data files. recs holds one record per WriteBatch
// call and srcs[k] the sources of recs[k], nil when that call carried no
// Danube offsets (its rows can never turn out to be duplicates).
type fileGroup struct {
	gen   *schemaGen
	pvals []*string
	recs  []arrow.RecordBatch
	srcs  [][]rowSrc
	rows  int64
}

// flush is the unit of commit: rows from many WriteBatch calls, committed
// together. done is closed once the commit is durable or has failed (err).
type flush struct {
	waiters atomic.Int64 // WriteBatch calls waiting on this flush
	sealed  time.Time
	// timer seals the flush at flush_period. It is stopped when the flush
	// is sealed sooner: a pending timer would keep the flush, and through
	// its row sources every payload in it, reachable for the rest of the
	// period (dozens of settled flushes at high rates).
	timer   *time.Timer
	groups  map[string]*fileGroup
	order   []string
	offsets exactlyonce.Offsets
	bytes   int64
	rows    int64
	created time.Time
	done    chan struct{}
	err     error
}

func newFlush() *flush {
	return &flush{groups: map[string]*fileGroup{}, offsets: exactlyonce.Offsets{}, created: time.Now(), done: make(chan struct{})}
}

// tableWriter owns one open table: its store, snapshot, schema
// generations, offset ledger and the flush being filled.
type tableWriter struct {
	w    *Writer
	path string
	refs int // guarded by w.mu

	openMu     sync.Mutex
	opened     bool
	openFailed bool

	store    objstore.Store
	ledger   *exactlyonce.Ledger
	partCols []string
	metaCols []string

	table        *delta.Table
	committedGen int // guarded by mu
	// dictHints skips Parquet dictionaries that did not pay off in this
	// table's previous files.
	dictHints *parquetfile.DictionaryHints

	mu      sync.Mutex
	gens    []*schemaGen
	cur     *flush
	queue   []*flush
	closing bool
	notify  chan struct{}
	exited  chan struct{}
}

func newTableWriter(w *Writer, path string) *tableWriter {
	tw := &tableWriter{
		w:         w,
		path:      path,
		ledger:    exactlyonce.NewLedger(),
		dictHints: parquetfile.NewDictionaryHints(),
		notify:    make(chan struct{}, 1),
		exited:    make(chan struct{}),
	}
	if w.conf.MetaTopicColumn != "" {
		tw.metaCols = append(tw.metaCols, w.conf.MetaTopicColumn)
	}
	if w.conf.MetaOffsetColumn != "" {
		tw.metaCols = append(tw.metaCols, w.conf.MetaOffsetColumn)
	}
	if w.conf.MetaPublishColumn != "" {
		tw.metaCols = append(tw.metaCols, w.conf.MetaPublishColumn)
	}
	return tw
}

func (tw *tableWriter) failedOpen() bool {
	tw.openMu.Lock()
	defer tw.openMu.Unlock()
	return !tw.opened && tw.openFailed
}

// waitOpen opens (or creates) the table once; concurrent callers wait.
func (tw *tableWriter) waitOpen(ctx context.Context, sample func() [][]byte) error {
	tw.openMu.Lock()
	defer tw.openMu.Unlock()
	if tw.opened {
		return nil
	}
	if err := tw.open(ctx, sample); err != nil {
		tw.openFailed = true
		return err
	}
	tw.opened = true
	go tw.run()
	return nil
}

// logCleanupInterval is how often a table writer at most deletes expired log
// files after a checkpoint.
const logCleanupInterval = time.Hour

// tableOptions are the options every delta.Table of this writer opens with.
func (tw *tableWriter) tableOptions() delta.TableOptions {
	opts := delta.TableOptions{
		EngineInfo:         "danube-connect",
		CheckpointInterval: tw.w.conf.CheckpointEvery,
		// Appends need no file list: memory stays independent of table size.
		WithoutFiles: true,
		OnCheckpoint: func(version int64, err error) {
			if err != nil {
				tw.w.log.Warnf("Checkpoint %d of table %s: %v", version, tw.path, err)
			}
		},
		// As Spark, delete log files older than delta.logRetentionDuration
		// (30 days) after checkpoints, so that a stream committing every
		// second does not grow _delta_log without bound; hourly, since
		// each cleanup lists the log.
		LogCleanupInterval: logCleanupInterval,
		// The exactly-once history is rebuilt from the commits of the
		// last history_period: never clean those up.
		MinLogRetention: tw.w.conf.HistoryPeriod,
		OnLogCleanup: func(deleted []string, err error) {
			if err != nil {
				tw.w.log.Warnf("Cleaning up expired log files of table %s: %v", tw.path, err)
				return
			}
			if len(deleted) > 0 {
				tw.w.log.Debugf("Deleted %d expired log files of table %s", len(deleted), tw.path)
			}
		},
	}
	if opts.CheckpointInterval == 0 {
		opts.CheckpointInterval = -1
	}
	return opts
}

// reopen replaces a table that fell behind log cleanup (idle for longer than
// delta.logRetentionDuration while other writers committed) with one loaded
// from the newest checkpoint, and folds the commits still in the log into the
// committed offsets, as at start-up. Only the flusher calls it.
func (tw *tableWriter) reopen(ctx context.Context) error {
	table, err := delta.Open(ctx, tw.store, tw.tableOptions())
	if err != nil {
		return err
	}
	old := tw.table
	tw.table = table
	_ = old.Close(ctx)
	if tw.w.conf.ExactlyOnce {
		if err := tw.loadHistory(ctx); err != nil {
			return err
		}
	}
	tw.w.log.Warnf("Table %s: this writer fell behind the table's log cleanup; reloaded it at version %d", tw.path, table.Version())
	return nil
}

func (tw *tableWriter) open(ctx context.Context, sample func() [][]byte) error {
	store, err := tw.w.openStore(ctx, tw.path)
	if err != nil {
		return err
	}
	tw.store = store
	opts := tw.tableOptions()
	table, err := delta.Open(ctx, store, opts)
	if errors.Is(err, delta.ErrTableNotFound) {
		table, err = tw.create(ctx, sample(), opts)
	}
	if err != nil {
		return err
	}
	if err := table.CanWrite(); err != nil {
		_ = table.Close(ctx)
		return err
	}
	tw.table = table
	snap := table.Snapshot()
	tw.partCols = snap.PartitionColumns()
	if want := tw.w.conf.PartitionBy; len(want) > 0 && fmt.Sprint(want) != fmt.Sprint(tw.partCols) {
		_ = table.Close(ctx)
		return fmt.Errorf("table %s is partitioned by %v but field %s is %v", tw.path, tw.partCols, "partition_by", want)
	}
	schema, err := delta.ToArrow(snap.Schema())
	if err != nil {
		return fmt.Errorf("reading schema of table %s: %w", tw.path, err)
	}
	// Metadata columns missing from an existing table are added by schema
	// evolution with the first commit.
	if extra := tw.metadataFields(schema); len(extra) > 0 {
		if !tw.w.conf.SchemaEvolution {
			return fmt.Errorf("table %s has no column %s for metadata_columns and schema_evolution is none", tw.path, extra[0].Name)
		}
		fields := append(append([]arrow.Field(nil), schema.Fields()...), extra...)
		tw.gens = append(tw.gens, tw.newGen(schema))
		schema = arrow.NewSchema(fields, nil)
	}
	tw.gens = append(tw.gens, tw.newGen(schema))
	tw.committedGen = 0
	if tw.w.conf.ExactlyOnce {
		if err := tw.loadHistory(ctx); err != nil {
			return err
		}
	}
	tw.ledger.SetVersion(snap.Version())
	return nil
}

// metadataFields returns the configured metadata columns missing from schema.
func (tw *tableWriter) metadataFields(schema *arrow.Schema) []arrow.Field {
	c := tw.w.conf
	var out []arrow.Field
	add := func(name string, t arrow.DataType) {
		if name == "" {
			return
		}
		if _, ok := schema.FieldsByName(name); ok {
			return
		}
		out = append(out, arrow.Field{Name: name, Type: t, Nullable: true})
	}
	add(c.MetaTopicColumn, arrow.BinaryTypes.String)
	add(c.MetaOffsetColumn, arrow.PrimitiveTypes.Int64)
	add(c.MetaPublishColumn, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"})
	return out
}

func (tw *tableWriter) newGen(schema *arrow.Schema) *schemaGen {
	g := &schemaGen{idx: len(tw.gens), schema: schema}
	return g
}

// decoderSchema is what the JSON decoder sees: with partition_mapping the
// partition columns come from the mapping, so they are left out.
func (tw *tableWriter) decoderSchema(g *schemaGen) *arrow.Schema {
	if !tw.w.conf.PartitionsFromCaller || len(tw.partCols) == 0 {
		return g.schema
	}
	var fields []arrow.Field
	for _, f := range g.schema.Fields() {
		if !contains(tw.partCols, f.Name) {
			fields = append(fields, f)
		}
	}
	return arrow.NewSchema(fields, nil)
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// decoder takes a decoder for generation g from its pool.
func (tw *tableWriter) decoder(g *schemaGen) (*jsonrows.Decoder, error) {
	if d, ok := g.decoders.Get().(*jsonrows.Decoder); ok {
		return d, nil
	}
	opts := jsonrows.DecoderOptions{ExtraColumns: tw.metaCols, UnknownFields: jsonrows.UnknownFieldsReject}
	if !tw.w.conf.PartitionsFromCaller {
		opts.PartitionColumns = tw.partCols
	}
	d, err := jsonrows.NewDecoder(tw.decoderSchema(g), opts)
	if err != nil {
		return nil, fmt.Errorf("preparing decoder for table %s: %w", tw.path, err)
	}
	return d, nil
}

func (tw *tableWriter) currentGen() *schemaGen {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return tw.gens[len(tw.gens)-1]
}

// evolve adds the unknown fields of row to the schema (schema_evolution:
// merge) and returns the new current generation. A concurrent evolution by
// another call is merged, not lost.
func (tw *tableWriter) evolve(row []byte) (*schemaGen, error) {
	observed, err := jsonrows.InferSchema([][]byte{row})
	if err != nil {
		return nil, err
	}
	tw.mu.Lock()
	defer tw.mu.Unlock()
	last := tw.gens[len(tw.gens)-1]
	evolved, changed, err := jsonrows.EvolveSchema(last.schema, observed)
	if err != nil {
		return nil, fmt.Errorf("evolving schema: %w", err)
	}
	if !changed {
		return last, nil
	}
	for _, f := range evolved.Fields()[len(last.schema.Fields()):] {
		if contains(tw.partCols, f.Name) {
			return nil, fmt.Errorf("field %s: it is a partition column set by %s and cannot also be a data column", f.Name, "partition_mapping")
		}
	}
	if _, err := delta.FromArrow(evolved); err != nil {
		return nil, fmt.Errorf("evolving schema: %w", err)
	}
	g := tw.newGen(evolved)
	tw.gens = append(tw.gens, g)
	tw.w.log.Infof("Table %s: schema evolved to %v", tw.path, evolved)
	return g, nil
}

// adoptSchema makes a newer table schema (evolved by another writer) the
// current generation, merged with ours.
func (tw *tableWriter) adoptSchema(tableSchema *delta.StructType) error {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	last := tw.gens[len(tw.gens)-1]
	ours, err := delta.FromArrow(last.schema)
	if err != nil {
		return err
	}
	merged, changed, err := delta.MergeSchema(tableSchema, ours)
	if err != nil {
		return err
	}
	if !changed && delta.SchemaEqual(merged, ours) {
		return nil
	}
	as, err := delta.ToArrow(merged)
	if err != nil {
		return err
	}
	if delta.SchemaEqual(merged, ours) {
		return nil
	}
	tw.gens = append(tw.gens, tw.newGen(as))
	return nil
}

// callBuf is one WriteBatch call's rows for one file group.
type callBuf struct {
	gen   *schemaGen
	dec   *jsonrows.Decoder
	buf   *jsonrows.Buffer
	pvals []*string
	srcs  []rowSrc // nil when no message of the call has an offset
	bytes int64
}

// parallelDecodeBytes is the payload size from which a call is split into
// runs of messages decoded concurrently; smaller calls decode in the calling
// goroutine (many small concurrent calls already use every core).
const parallelDecodeBytes = 1 << 20

// decodeChunks splits idxs into at most n runs of whole messages of about
// equal payload size, none smaller than parallelDecodeBytes/2.
func decodeChunks(infos []Message, idxs []int, n int) [][]int {
	var total int
	for _, i := range idxs {
		total += len(infos[i].Payload)
	}
	if n < 2 || total < parallelDecodeBytes || len(idxs) < 2 {
		return [][]int{idxs}
	}
	n = min(n, len(idxs), total/(parallelDecodeBytes/2))
	per := (total + n - 1) / n
	var out [][]int
	start, size := 0, 0
	for k, i := range idxs {
		size += len(infos[i].Payload)
		if size >= per && len(out) < n-1 {
			out = append(out, idxs[start:k+1])
			start, size = k+1, 0
		}
	}
	if start < len(idxs) {
		out = append(out, idxs[start:])
	}
	return out
}

// decodeCall decodes the rows of one write call into per-(generation,
// partition) buffers.
type decodeCall struct {
	tw       *tableWriter
	gen      *schemaGen
	decs     map[*schemaGen]*jsonrows.Decoder
	bufs     map[string]*callBuf
	order    []string
	included []int
	reserved exactlyonce.Offsets
	keyBuf   []byte
}

func (dc *decodeCall) decoder(g *schemaGen) (*jsonrows.Decoder, error) {
	if d := dc.decs[g]; d != nil {
		return d, nil
	}
	d, err := dc.tw.decoder(g)
	if err == nil {
		dc.decs[g] = d
	}
	return d, err
}

func (dc *decodeCall) putDecoders() {
	for g, d := range dc.decs {
		g.decoders.Put(d)
	}
}

// reset drops what a decode pass buffered and reserved.
func (dc *decodeCall) reset() {
	for _, cb := range dc.bufs {
		cb.buf.Release()
	}
	dc.tw.ledger.Release(dc.reserved)
	dc.bufs, dc.order, dc.included, dc.reserved = nil, nil, nil, nil
}

// decode decodes the messages idxs but those in skip. It returns done, or
// the index of a message that failed after some of its rows were buffered
// (the caller resets and decodes again without it). Failed messages are
// reported to fail; committed duplicates are left out silently.
func (dc *decodeCall) decode(infos []Message, idxs []int, skip map[int]bool, fail func(int, error)) (bad int, done bool) {
	tw, w := dc.tw, dc.tw.w
	dc.bufs = map[string]*callBuf{}
	dc.included = make([]int, 0, len(idxs))
	dc.reserved = exactlyonce.Offsets{}
	// Row sources are only needed to rebuild a record without rows that
	// another writer committed, which requires offsets.
	keepSrcs := false
	for _, i := range idxs {
		if infos[i].HasOffset {
			keepSrcs = true
			break
		}
	}
	for _, i := range idxs {
		if skip[i] {
			continue
		}
		info := &infos[i]
		if info.HasOffset {
			switch tw.ledger.Reserve(info.Topic, info.Offset) {
			case exactlyonce.StatusCommitted:
				w.metrics.Duplicates.Incr(1)
				continue
			case exactlyonce.StatusPending:
				fail(i, ErrPendingDuplicate)
				continue
			}
		}
		release := func() {
			if info.HasOffset {
				tw.ledger.Release(exactlyonce.Offsets{info.Topic: exactlyonce.NewRangeSet(info.Offset)})
			}
		}
		appended := 0
		var err error
		if w.conf.PayloadFormat == jsonrows.FormatJSON {
			// One row: its error needs no row number.
			err = dc.decodeRow(info, info.Payload, keepSrcs, len(idxs))
		} else {
			_, err = jsonrows.Each(w.conf.PayloadFormat, info.Payload, func(_ int, payload []byte) error {
				if err := dc.decodeRow(info, payload, keepSrcs, len(idxs)); err != nil {
					return err
				}
				appended++
				return nil
			})
		}
		if err != nil {
			release()
			fail(i, fmt.Errorf("table %s: %w", tw.path, err))
			if appended > 0 {
				// Rows of this message are in the buffers already.
				return i, false
			}
			continue
		}
		if info.HasOffset {
			dc.reserved.Add(info.Topic, info.Offset)
		}
		dc.included = append(dc.included, i)
	}
	return 0, true
}

// decodeRow decodes one row of message info into its call buffer.
func (dc *decodeCall) decodeRow(info *Message, payload []byte, keepSrcs bool, callSize int) error {
	tw, w := dc.tw, dc.tw.w
	dec, err := dc.decoder(dc.gen)
	if err != nil {
		return err
	}
	row, err := dec.Decode(payload, info.Extras...)
	var unknown *jsonrows.UnknownFieldsError
	if errors.As(err, &unknown) && w.conf.SchemaEvolution {
		ng, eerr := tw.evolve(payload)
		if eerr != nil {
			err = eerr
		} else if ng != dc.gen {
			dc.gen = ng
			if dec, err = dc.decoder(dc.gen); err == nil {
				row, err = dec.Decode(payload, info.Extras...)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("decoding row: %w", err)
	}
	pvals := info.PartitionValues
	if !w.conf.PartitionsFromCaller && len(tw.partCols) > 0 {
		pv := row.PartitionValues()
		pvals = make([]*string, len(pv))
		for k := range pv {
			pvals[k] = parquetfile.PartitionValue(pv[k])
		}
	}
	gen := dc.gen
	dc.keyBuf = append(dc.keyBuf[:0], byte(gen.idx), byte(gen.idx>>8), 0)
	dc.keyBuf = append(dc.keyBuf, partitionKey(pvals)...)
	cb := dc.bufs[string(dc.keyBuf)]
	if cb == nil {
		cb = &callBuf{gen: gen, dec: dec, buf: dec.NewBuffer(w.mem), pvals: pvals}
		if len(dc.bufs) == 0 {
			// Usually all rows of a call share one partition: size the
			// first buffer for them at once.
			cb.buf.Reserve(callSize)
			if keepSrcs {
				cb.srcs = make([]rowSrc, 0, callSize)
			}
		}
		dc.bufs[string(dc.keyBuf)] = cb
		dc.order = append(dc.order, string(dc.keyBuf))
	}
	if err := cb.buf.Append(row); err != nil {
		return fmt.Errorf("buffering row: %w", err)
	}
	if keepSrcs {
		cb.srcs = append(cb.srcs, rowSrc{payload: payload, extras: info.Extras, topic: info.Topic, offset: info.Offset, hasOff: info.HasOffset})
	}
	cb.bytes += int64(len(payload))
	return nil
}

// write decodes the messages idxs of infos, adds them to the current flush
// and returns the flush to wait for with the indexes it contains. Messages
// already committed (exactly-once) are neither written nor failed: they are
// acknowledged. A message whose payload has a bad row fails as a whole.
func (tw *tableWriter) write(ctx context.Context, infos []Message, idxs []int, fail func(int, error)) ([]*flush, [][]int) {
	w := tw.w
	var failMu sync.Mutex
	reported := map[int]bool{}
	failOnce := func(i int, err error) {
		failMu.Lock()
		defer failMu.Unlock()
		if !reported[i] {
			reported[i] = true
			fail(i, err)
		}
	}
	// Large calls (many rows per message) are decoded by several
	// goroutines, each over a run of whole messages into buffers of its
	// own, so that one call is not bound to one core.
	chunks := decodeChunks(infos, idxs, runtime.GOMAXPROCS(0))
	calls := make([]*decodeCall, len(chunks))
	var wg sync.WaitGroup
	for k, chunk := range chunks {
		calls[k] = &decodeCall{tw: tw, gen: tw.currentGen(), decs: map[*schemaGen]*jsonrows.Decoder{}}
		run := func(dc *decodeCall) {
			defer dc.putDecoders()
			// A message with several rows can fail after some of its rows
			// were appended: Arrow builders cannot take rows back, so the
			// chunk is decoded again without it (only bad multi-row
			// messages pay for that).
			skip := map[int]bool{}
			for {
				bad, done := dc.decode(infos, chunk, skip, failOnce)
				if done {
					return
				}
				skip[bad] = true
				dc.reset()
			}
		}
		if k == len(chunks)-1 {
			run(calls[k])
			continue
		}
		wg.Add(1)
		go func(dc *decodeCall) {
			defer wg.Done()
			run(dc)
		}(calls[k])
	}
	wg.Wait()
	var included []int
	reserved := exactlyonce.Offsets{}
	for _, dc := range calls {
		included = append(included, dc.included...)
		reserved.Union(dc.reserved)
	}
	if len(included) == 0 {
		return nil, nil
	}

	var added int64
	tw.mu.Lock()
	if tw.closing {
		// Closed under our feet (output shutting down): nothing will commit.
		tw.mu.Unlock()
		for _, dc := range calls {
			for _, cb := range dc.bufs {
				cb.buf.Release()
			}
		}
		tw.ledger.Release(reserved)
		f := newFlush()
		f.err = errTableClosed
		close(f.done)
		return []*flush{f}, [][]int{included}
	}
	f := tw.cur
	if f == nil {
		f = newFlush()
		tw.cur = f
		f.timer = time.AfterFunc(w.conf.FlushPeriod, func() { tw.seal(f) })
	}
	for _, dc := range calls {
		for _, key := range dc.order {
			cb := dc.bufs[key]
			rec := cb.buf.NewRecord()
			cb.buf.Release()
			g := f.groups[key]
			if g == nil {
				g = &fileGroup{gen: cb.gen, pvals: cb.pvals}
				f.groups[key] = g
				f.order = append(f.order, key)
			}
			g.recs = append(g.recs, rec)
			g.srcs = append(g.srcs, cb.srcs)
			g.rows += rec.NumRows()
			f.rows += rec.NumRows()
			added += cb.bytes
		}
	}
	f.offsets.Union(reserved)
	f.bytes += added
	w.addBuffered(added)
	if f.bytes >= w.conf.TargetFileSize || w.buffered.Load() >= w.conf.MaxBufferedBytes {
		tw.sealLocked(f)
	}
	tw.mu.Unlock()
	return []*flush{f}, [][]int{included}
}

// seal closes flush f to new rows and queues it for commit.
func (tw *tableWriter) seal(f *flush) {
	tw.mu.Lock()
	tw.sealLocked(f)
	tw.mu.Unlock()
}

func (tw *tableWriter) sealLocked(f *flush) {
	if tw.cur != f {
		return
	}
	tw.cur = nil
	if f.timer != nil {
		f.timer.Stop()
	}
	f.sealed = time.Now()
	tw.queue = append(tw.queue, f)
	select {
	case tw.notify <- struct{}{}:
	default:
	}
}

// run commits sealed flushes in order until the writer is closed.
func (tw *tableWriter) run() {
	defer close(tw.exited)
	for {
		tw.mu.Lock()
		var f *flush
		if len(tw.queue) > 0 {
			f = tw.queue[0]
			tw.queue[0] = nil // the dead prefix must not keep settled flushes
			tw.queue = tw.queue[1:]
		}
		closing := tw.closing
		tw.mu.Unlock()
		if f != nil {
			tw.settle(f)
			continue
		}
		if closing {
			return
		}
		<-tw.notify
	}
}

// close commits what is buffered and stops the flusher.
func (tw *tableWriter) close() {
	tw.openMu.Lock()
	opened := tw.opened
	tw.openMu.Unlock()
	tw.mu.Lock()
	tw.closing = true
	if tw.cur != nil {
		tw.sealLocked(tw.cur)
	}
	select {
	case tw.notify <- struct{}{}:
	default:
	}
	tw.mu.Unlock()
	if opened {
		<-tw.exited
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := tw.table.Close(ctx); err != nil {
			tw.w.log.Warnf("Closing table %s: %v", tw.path, err)
		}
	}
}
