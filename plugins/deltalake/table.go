package deltalake

import (
	"context"
	"errors"
	"fmt"
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

// errPendingDuplicate fails a redelivered copy of a message whose first copy
// is buffered in a flush that has not committed yet.
var errPendingDuplicate = errors.New("the same Danube offset is already buffered for a commit in progress; the redelivery will be acknowledged once that commit settles")

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
	o    *deltaLakeOutput
	path string
	refs int // guarded by o.mu

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

func newTableWriter(o *deltaLakeOutput, path string) *tableWriter {
	tw := &tableWriter{
		o:         o,
		path:      path,
		ledger:    exactlyonce.NewLedger(),
		dictHints: parquetfile.NewDictionaryHints(),
		notify:    make(chan struct{}, 1),
		exited:    make(chan struct{}),
	}
	if o.conf.metaTopicColumn != "" {
		tw.metaCols = append(tw.metaCols, o.conf.metaTopicColumn)
	}
	if o.conf.metaOffsetColumn != "" {
		tw.metaCols = append(tw.metaCols, o.conf.metaOffsetColumn)
	}
	if o.conf.metaPublishColumn != "" {
		tw.metaCols = append(tw.metaCols, o.conf.metaPublishColumn)
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
		CheckpointInterval: tw.o.conf.checkpointEvery,
		// Appends need no file list: memory stays independent of table size.
		WithoutFiles: true,
		OnCheckpoint: func(version int64, err error) {
			if err != nil {
				tw.o.log.Warnf("Checkpoint %d of table %s: %v", version, tw.path, err)
			}
		},
		// As Spark, delete log files older than delta.logRetentionDuration
		// (30 days) after checkpoints, so that a stream committing every
		// second does not grow _delta_log without bound; hourly, since
		// each cleanup lists the log.
		LogCleanupInterval: logCleanupInterval,
		// The exactly-once history is rebuilt from the commits of the
		// last history_period: never clean those up.
		MinLogRetention: tw.o.conf.historyPeriod,
		OnLogCleanup: func(deleted []string, err error) {
			if err != nil {
				tw.o.log.Warnf("Cleaning up expired log files of table %s: %v", tw.path, err)
				return
			}
			if len(deleted) > 0 {
				tw.o.log.Debugf("Deleted %d expired log files of table %s", len(deleted), tw.path)
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
	if tw.o.conf.exactlyOnce {
		if err := tw.loadHistory(ctx); err != nil {
			return err
		}
	}
	tw.o.log.Warnf("Table %s: this writer fell behind the table's log cleanup; reloaded it at version %d", tw.path, table.Version())
	return nil
}

func (tw *tableWriter) open(ctx context.Context, sample func() [][]byte) error {
	store, err := tw.o.openStore(ctx, tw.path)
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
	if want := tw.o.conf.partitionBy; len(want) > 0 && fmt.Sprint(want) != fmt.Sprint(tw.partCols) {
		_ = table.Close(ctx)
		return fmt.Errorf("table %s is partitioned by %v but field %s is %v", tw.path, tw.partCols, dlFieldPartitionBy, want)
	}
	schema, err := delta.ToArrow(snap.Schema())
	if err != nil {
		return fmt.Errorf("reading schema of table %s: %w", tw.path, err)
	}
	// Metadata columns missing from an existing table are added by schema
	// evolution with the first commit.
	if extra := tw.metadataFields(schema); len(extra) > 0 {
		if tw.o.conf.schemaEvolution != "merge" {
			return fmt.Errorf("table %s has no column %s for metadata_columns and schema_evolution is none", tw.path, extra[0].Name)
		}
		fields := append(append([]arrow.Field(nil), schema.Fields()...), extra...)
		tw.gens = append(tw.gens, tw.newGen(schema))
		schema = arrow.NewSchema(fields, nil)
	}
	tw.gens = append(tw.gens, tw.newGen(schema))
	tw.committedGen = 0
	if tw.o.conf.exactlyOnce {
		if err := tw.loadHistory(ctx); err != nil {
			return err
		}
	}
	tw.ledger.SetVersion(snap.Version())
	return nil
}

// metadataFields returns the configured metadata columns missing from schema.
func (tw *tableWriter) metadataFields(schema *arrow.Schema) []arrow.Field {
	c := tw.o.conf
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
	add(c.metaTopicColumn, arrow.BinaryTypes.String)
	add(c.metaOffsetColumn, arrow.PrimitiveTypes.Int64)
	add(c.metaPublishColumn, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"})
	return out
}

func (tw *tableWriter) newGen(schema *arrow.Schema) *schemaGen {
	g := &schemaGen{idx: len(tw.gens), schema: schema}
	return g
}

// decoderSchema is what the JSON decoder sees: with partition_mapping the
// partition columns come from the mapping, so they are left out.
func (tw *tableWriter) decoderSchema(g *schemaGen) *arrow.Schema {
	if tw.o.conf.partitionMapping == nil || len(tw.partCols) == 0 {
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
	if tw.o.conf.partitionMapping == nil {
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
			return nil, fmt.Errorf("field %s: it is a partition column set by %s and cannot also be a data column", f.Name, dlFieldPartitionMapping)
		}
	}
	if _, err := delta.FromArrow(evolved); err != nil {
		return nil, fmt.Errorf("evolving schema: %w", err)
	}
	g := tw.newGen(evolved)
	tw.gens = append(tw.gens, g)
	tw.o.log.Infof("Table %s: schema evolved to %v", tw.path, evolved)
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

// write decodes the messages idxs of infos, adds them to the current flush
// and returns the flush to wait for with the indexes it contains. Messages
// already committed (exactly-once) are neither written nor failed: they are
// acknowledged.
func (tw *tableWriter) write(ctx context.Context, infos []msgInfo, idxs []int, fail func(int, error)) ([]*flush, [][]int) {
	o := tw.o
	gen := tw.currentGen()
	decs := map[*schemaGen]*jsonrows.Decoder{}
	getDec := func(g *schemaGen) (*jsonrows.Decoder, error) {
		if d := decs[g]; d != nil {
			return d, nil
		}
		d, err := tw.decoder(g)
		if err == nil {
			decs[g] = d
		}
		return d, err
	}
	defer func() {
		for g, d := range decs {
			g.decoders.Put(d)
		}
	}()

	bufs := map[string]*callBuf{}
	var order []string
	included := make([]int, 0, len(idxs))
	reserved := exactlyonce.Offsets{}
	var keyBuf []byte
	// Row sources are only needed to rebuild a record without rows that
	// another writer committed, which requires offsets.
	keepSrcs := false
	for _, i := range idxs {
		if infos[i].hasOff {
			keepSrcs = true
			break
		}
	}
	for _, i := range idxs {
		info := &infos[i]
		if info.hasOff {
			switch tw.ledger.Reserve(info.topic, info.offset) {
			case exactlyonce.StatusCommitted:
				o.metrics.duplicates.Incr(1)
				continue
			case exactlyonce.StatusPending:
				fail(i, errPendingDuplicate)
				continue
			}
		}
		release := func() {
			if info.hasOff {
				tw.ledger.Release(exactlyonce.Offsets{info.topic: exactlyonce.NewRangeSet(info.offset)})
			}
		}
		dec, err := getDec(gen)
		if err != nil {
			release()
			fail(i, err)
			continue
		}
		row, err := dec.Decode(info.payload, info.extras...)
		var unknown *jsonrows.UnknownFieldsError
		if errors.As(err, &unknown) && o.conf.schemaEvolution == "merge" {
			ng, eerr := tw.evolve(info.payload)
			if eerr != nil {
				err = eerr
			} else if ng != gen {
				gen = ng
				if dec, err = getDec(gen); err == nil {
					row, err = dec.Decode(info.payload, info.extras...)
				}
			}
		}
		if err != nil {
			release()
			fail(i, fmt.Errorf("decoding row: %w", err))
			continue
		}
		pvals := info.pvals
		if pvals == nil && len(tw.partCols) > 0 {
			pv := row.PartitionValues()
			pvals = make([]*string, len(pv))
			for k := range pv {
				pvals[k] = parquetfile.PartitionValue(pv[k])
			}
		}
		keyBuf = append(keyBuf[:0], byte(gen.idx), byte(gen.idx>>8), 0)
		keyBuf = append(keyBuf, partitionKey(pvals)...)
		cb := bufs[string(keyBuf)]
		if cb == nil {
			cb = &callBuf{gen: gen, dec: dec, buf: dec.NewBuffer(o.mem), pvals: pvals}
			if len(bufs) == 0 {
				// Usually all rows of a call share one partition: size
				// the first buffer for them at once.
				cb.buf.Reserve(len(idxs))
				if keepSrcs {
					cb.srcs = make([]rowSrc, 0, len(idxs))
				}
			}
			bufs[string(keyBuf)] = cb
			order = append(order, string(keyBuf))
		}
		if err := cb.buf.Append(row); err != nil {
			release()
			fail(i, fmt.Errorf("buffering row: %w", err))
			continue
		}
		if keepSrcs {
			cb.srcs = append(cb.srcs, rowSrc{payload: info.payload, extras: info.extras, topic: info.topic, offset: info.offset, hasOff: info.hasOff})
		}
		cb.bytes += int64(len(info.payload))
		if info.hasOff {
			reserved.Add(info.topic, info.offset)
		}
		included = append(included, i)
	}
	if len(included) == 0 {
		return nil, nil
	}

	var added int64
	tw.mu.Lock()
	if tw.closing {
		// Closed under our feet (output shutting down): nothing will commit.
		tw.mu.Unlock()
		for _, cb := range bufs {
			cb.buf.Release()
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
		f.timer = time.AfterFunc(o.conf.flushPeriod, func() { tw.seal(f) })
	}
	for _, key := range order {
		cb := bufs[key]
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
	f.offsets.Union(reserved)
	f.bytes += added
	o.addBuffered(added)
	if f.bytes >= o.conf.targetFileSize || o.buffered.Load() >= o.conf.maxBufferedBytes {
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
			tw.o.log.Warnf("Closing table %s: %v", tw.path, err)
		}
	}
}
