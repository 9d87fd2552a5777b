package deltalake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
	"github.com/danube-connect/danube-connect/plugins/deltalake/exactlyonce"
	"github.com/danube-connect/danube-connect/plugins/deltalake/parquetfile"
)

// maxCommitAttempts bounds how often one flush is rebuilt because another
// writer committed some of its offsets first.
const maxCommitAttempts = 15

// maxRowGroupRows and maxRowGroupBytes cap the rows and the Arrow bytes
// merged into one Parquet row group. 8 MiB of Arrow data is ~20k events of
// 300 bytes: large enough for good compression and page statistics, small
// enough that the merged copy adds little to the buffered flush.
const (
	maxRowGroupRows  = 1 << 20
	maxRowGroupBytes = 8 << 20
)

// errOffsetsCommittedElsewhere aborts a commit attempt whose flush contains
// offsets that a winning commit of another writer already holds.
var errOffsetsCommittedElsewhere = errors.New("a concurrent commit already contains some of these Danube offsets")

// settle commits flush f and wakes the WriteBatch calls waiting on it.
func (tw *tableWriter) settle(f *flush) {
	o := tw.o
	err := tw.commitFlush(context.Background(), f)
	// The WriteBatch calls waiting on f only read f.err from now on: drop
	// the records and the row sources (which reference every payload) so
	// that nothing of a settled flush outlives its commit.
	for _, g := range f.groups {
		for _, r := range g.recs {
			r.Release()
		}
		g.recs = nil
		g.srcs = nil
	}
	f.groups, f.order = nil, nil
	o.addBuffered(-f.bytes)
	if err != nil {
		tw.ledger.Release(f.offsets)
		o.metrics.errors.Incr(1)
		o.log.Errorf("Committing %d rows to table %s failed: %v", f.rows, tw.path, err)
		f.err = fmt.Errorf("committing to table %s: %w", tw.path, err)
	}
	close(f.done)
}

// refresh reads the commits made since the table version this writer
// knows (by any writer), folds their offsets into the ledger, adopts schema
// changes and returns the offsets of f that are already committed.
func (tw *tableWriter) refresh(ctx context.Context, f *flush) (exactlyonce.Offsets, error) {
	entries, err := tw.table.Update(ctx)
	reopened := false
	if errors.Is(err, delta.ErrBehindLogCleanup) {
		if err = tw.reopen(ctx); err == nil {
			reopened = true
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading new commits: %w", err)
	}
	schemaChanged := reopened
	for _, e := range entries {
		tw.ledger.Observe(e.Version, commitOffsets(e))
		for i := range e.Actions {
			if e.Actions[i].Metadata != nil {
				schemaChanged = true
			}
		}
	}
	if len(entries) > 0 || reopened {
		if err := tw.table.CanWrite(); err != nil {
			return nil, err
		}
		if schemaChanged {
			if err := tw.adoptSchema(tw.table.Schema()); err != nil {
				return nil, fmt.Errorf("table schema changed by another writer: %w", err)
			}
		}
	}
	// Offsets of f committed by others, in these commits or in ones an
	// earlier flush already read.
	dups := exactlyonce.Offsets{}
	if f != nil {
		dups = tw.ledger.CommittedOf(f.offsets)
	}
	return dups, nil
}

// commitOffsets decodes the Danube offsets recorded in a commit; commits of
// other engines have none.
func commitOffsets(e *delta.CommitEntry) exactlyonce.Offsets {
	ci := e.CommitInfo()
	if ci == nil || ci.Extra == nil {
		return exactlyonce.Offsets{}
	}
	raw, ok := ci.Extra[exactlyonce.CommitInfoKey]
	if !ok {
		return exactlyonce.Offsets{}
	}
	offs, err := exactlyonce.ParseOffsets(raw)
	if err != nil {
		return exactlyonce.Offsets{}
	}
	return offs
}

// commitFlush writes the data files of f and commits them, retrying on top
// of concurrent commits.
func (tw *tableWriter) commitFlush(ctx context.Context, f *flush) error {
	o := tw.o
	for attempt := 1; ; attempt++ {
		t0 := time.Now()
		dups, err := tw.refresh(ctx, f)
		if err != nil {
			return err
		}
		if dups.Count() > 0 {
			if err := tw.dropRows(f, dups); err != nil {
				return err
			}
		}
		if f.rows == 0 {
			return nil
		}
		t1 := time.Now()
		adds, keys, err := tw.writeFiles(ctx, f)
		if err != nil {
			tw.deleteFiles(keys)
			return err
		}
		o.crashPoint("after-parquet")
		t2 := time.Now()
		version, err := tw.commitAdds(ctx, f, adds)
		if errors.Is(err, errOffsetsCommittedElsewhere) && attempt < maxCommitAttempts {
			// Our files were never referenced: remove them and rebuild.
			o.metrics.conflicts.Incr(1)
			tw.deleteFiles(keys)
			continue
		}
		if err != nil {
			return err
		}
		tw.ledger.Commit(f.offsets)
		latency := time.Since(f.created)
		o.metrics.commits.Incr(1)
		o.metrics.rows.Incr(f.rows)
		o.metrics.bytes.Incr(f.bytes)
		o.metrics.files.Incr(int64(len(adds)))
		o.metrics.commitLatency.Timing(latency.Nanoseconds())
		o.log.With("table", tw.path, "version", version, "rows", f.rows, "files", len(adds),
			"latency_ms", float64(latency.Microseconds())/1000,
			"commit_ms", float64(time.Since(f.sealed).Microseconds())/1000,
			"queued_ms", float64(t0.Sub(f.sealed).Microseconds())/1000,
			"refresh_ms", float64(t1.Sub(t0).Microseconds())/1000,
			"write_ms", float64(t2.Sub(t1).Microseconds())/1000,
			"log_ms", float64(time.Since(t2).Microseconds())/1000, "event", "delta_lake_commit").
			Debugf("Committed version %d of %s", version, tw.path)
		o.crashPoint("after-commit")
		return nil
	}
}

// dropRows removes from f the rows whose offsets are already committed by
// another writer; their messages are acknowledged as written. Each affected
// record (one WriteBatch call's rows) is decoded again from its retained
// payloads; records without offsets have no sources and are never affected.
func (tw *tableWriter) dropRows(f *flush, dups exactlyonce.Offsets) error {
	o := tw.o
	for _, key := range f.order {
		g := f.groups[key]
		recs, srcs := g.recs[:0], g.srcs[:0]
		for k, rec := range g.recs {
			src := g.srcs[k]
			keep := src[:0:0]
			for _, s := range src {
				if !(s.hasOff && dups.Contains(s.topic, s.offset)) {
					keep = append(keep, s)
				}
			}
			if len(keep) == len(src) {
				recs, srcs = append(recs, rec), append(srcs, src)
				continue
			}
			o.metrics.duplicates.Incr(int64(len(src) - len(keep)))
			g.rows -= rec.NumRows()
			f.rows -= rec.NumRows()
			rec.Release()
			if len(keep) == 0 {
				continue
			}
			rebuilt, err := tw.decodeRecord(g.gen, keep)
			if err != nil {
				// Keep the group consistent for settle's release.
				g.recs, g.srcs = append(recs, g.recs[k+1:]...), append(srcs, g.srcs[k+1:]...)
				return err
			}
			recs, srcs = append(recs, rebuilt), append(srcs, keep)
			g.rows += rebuilt.NumRows()
			f.rows += rebuilt.NumRows()
		}
		clear(g.recs[len(recs):])
		clear(g.srcs[len(srcs):])
		g.recs, g.srcs = recs, srcs
	}
	f.offsets.Subtract(dups)
	return nil
}

// decodeRecord decodes srcs again into one record of generation gen.
func (tw *tableWriter) decodeRecord(gen *schemaGen, srcs []rowSrc) (arrow.RecordBatch, error) {
	dec, err := tw.decoder(gen)
	if err != nil {
		return nil, err
	}
	defer gen.decoders.Put(dec)
	buf := dec.NewBuffer(tw.o.mem)
	defer buf.Release()
	buf.Reserve(len(srcs))
	for _, s := range srcs {
		row, err := dec.Decode(s.payload, s.extras...)
		if err == nil {
			err = buf.Append(row)
		}
		if err != nil {
			return nil, fmt.Errorf("rebuilding flush: %w", err)
		}
	}
	return buf.NewRecord(), nil
}

// writeFiles writes every group of f as Parquet data files and returns
// their add actions and object keys.
func (tw *tableWriter) writeFiles(ctx context.Context, f *flush) ([]delta.Add, []string, error) {
	o := tw.o
	var adds []delta.Add
	var keys []string
	for _, key := range f.order {
		g := f.groups[key]
		if g.rows == 0 {
			continue
		}
		dir := partitionDir(tw.partCols, g.pvals)
		groups := &rowGroups{recs: g.recs, mem: o.mem}
		for part := 0; !groups.done(); part++ {
			name := parquetfile.FileName(part, o.conf.compression)
			if dir != "" {
				name = dir + "/" + name
			}
			keys = append(keys, name)
			df, err := tw.writeFile(ctx, name, groups)
			if err != nil {
				return nil, keys, fmt.Errorf("writing data file %s: %w", name, err)
			}
			pv := make(map[string]*string, len(tw.partCols))
			for k, c := range tw.partCols {
				if g.pvals[k] != nil && *g.pvals[k] != "" {
					pv[c] = g.pvals[k]
				} else {
					pv[c] = nil
				}
			}
			adds = append(adds, delta.Add{
				Path:             delta.EncodePath(name),
				PartitionValues:  pv,
				Size:             df.Size,
				ModificationTime: time.Now().UnixMilli(),
				DataChange:       true,
				Stats:            df.Stats,
			})
		}
	}
	return adds, keys, nil
}

// writeFile streams row groups into one data file until target_file_size
// is reached or groups is exhausted. Each merged row group is released as
// soon as it is written.
func (tw *tableWriter) writeFile(ctx context.Context, key string, groups *rowGroups) (parquetfile.DataFile, error) {
	rec, err := groups.next()
	if err != nil {
		return parquetfile.DataFile{}, err
	}
	w, err := tw.store.Create(ctx, key)
	if err != nil {
		rec.Release()
		return parquetfile.DataFile{}, err
	}
	fw, err := parquetfile.NewFileWriter(w, rec.Schema(), parquetfile.WriterOptions{
		Compression: tw.o.conf.compression, Allocator: tw.o.mem, DictionaryHints: tw.dictHints,
	})
	if err != nil {
		rec.Release()
		_ = w.Abort()
		return parquetfile.DataFile{}, err
	}
	for {
		err := fw.Write(rec)
		rec.Release()
		if err != nil {
			_, _ = fw.Close()
			_ = w.Abort()
			return parquetfile.DataFile{}, err
		}
		if groups.done() || fw.BytesWritten() >= tw.o.conf.targetFileSize {
			break
		}
		if rec, err = groups.next(); err != nil {
			_, _ = fw.Close()
			_ = w.Abort()
			return parquetfile.DataFile{}, err
		}
	}
	df, err := fw.Close()
	if err != nil {
		_ = w.Abort()
		return df, err
	}
	if err := w.Close(); err != nil {
		return df, err
	}
	return df, nil
}

// rowGroups merges the small per-call records of a file group into Parquet
// row groups of up to maxRowGroupRows rows and maxRowGroupBytes of Arrow
// data, one at a time: only the row group being written is a copy, so a
// commit holds at most one extra row group besides the flush's records
// (which stay owned by the flush: a retried commit writes them again).
type rowGroups struct {
	recs []arrow.RecordBatch
	pos  int
	mem  memory.Allocator // for the merged copies; nil means the Go allocator
}

func (r *rowGroups) done() bool { return r.pos >= len(r.recs) }

// next returns the next row group; the caller releases it.
func (r *rowGroups) next() (arrow.RecordBatch, error) {
	start, end := r.pos, r.pos
	var rows, size int64
	for end < len(r.recs) {
		n, b := r.recs[end].NumRows(), recordBytes(r.recs[end])
		if end > start && (rows+n > maxRowGroupRows || size+b > maxRowGroupBytes) {
			break
		}
		rows, size = rows+n, size+b
		end++
	}
	r.pos = end
	chunk := r.recs[start:end]
	if len(chunk) == 1 {
		chunk[0].Retain()
		return chunk[0], nil
	}
	mem := r.mem
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	schema := chunk[0].Schema()
	cols := make([]arrow.Array, schema.NumFields())
	parts := make([]arrow.Array, len(chunk))
	for c := range cols {
		for k, rec := range chunk {
			parts[k] = rec.Column(c)
		}
		arr, err := array.Concatenate(parts, mem)
		if err != nil {
			for _, a := range cols[:c] {
				a.Release()
			}
			return nil, fmt.Errorf("merging record batches: %w", err)
		}
		cols[c] = arr
	}
	rec := array.NewRecordBatch(schema, cols, rows)
	for _, a := range cols {
		a.Release()
	}
	return rec, nil
}

// recordBytes is the size of the buffers behind rec (arrow/util has the
// same, but pulls in protobuf reflection dependencies).
func recordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	var walk func(d arrow.ArrayData)
	walk = func(d arrow.ArrayData) {
		for _, b := range d.Buffers() {
			if b != nil {
				n += int64(b.Len())
			}
		}
		for _, c := range d.Children() {
			walk(c)
		}
	}
	for _, col := range rec.Columns() {
		walk(col.Data())
	}
	return n
}

// deleteFiles removes data files that no commit references (best effort:
// vacuum removes whatever is left).
func (tw *tableWriter) deleteFiles(keys []string) {
	for _, k := range keys {
		if err := tw.store.Delete(context.Background(), k); err != nil {
			tw.o.log.Debugf("Removing uncommitted file %s: %v", k, err)
		}
	}
}

// commitAdds commits the add actions of f with the Delta library's
// optimistic concurrency. Every winning commit of another writer is folded
// into the ledger as it is discovered; if one already contains offsets of f
// the attempt is aborted with errOffsetsCommittedElsewhere so that the flush
// is rebuilt without them.
func (tw *tableWriter) commitAdds(ctx context.Context, f *flush, adds []delta.Add) (int64, error) {
	o := tw.o
	maxGen := 0
	for _, g := range f.groups {
		if g.rows > 0 && g.gen.idx > maxGen {
			maxGen = g.gen.idx
		}
	}
	tx := tw.table.NewTransaction()
	tx.Operation = "STREAMING UPDATE"
	tx.OperationParameters = map[string]any{"outputMode": "Append", "queryId": o.writerID, "epochId": fmt.Sprint(tx.ReadVersion() + 1)}
	tx.OperationMetrics = map[string]any{"numFiles": fmt.Sprint(len(adds)), "numOutputRows": fmt.Sprint(f.rows), "numOutputBytes": fmt.Sprint(sumSize(adds))}
	tx.Adds = adds
	if f.offsets.Count() > 0 {
		tx.CommitInfoExtra = map[string]any{exactlyonce.CommitInfoKey: f.offsets}
		for appID, v := range f.offsets.TxnVersions(o.writerID, func(app string) (int64, bool) {
			t, ok := tw.table.Txn(app)
			return t.Version, ok
		}) {
			tx.SetTxn(appID, v)
		}
	}
	tw.mu.Lock()
	if maxGen > tw.committedGen {
		schema, err := delta.FromArrow(tw.gens[maxGen].schema)
		if err != nil {
			tw.mu.Unlock()
			return 0, err
		}
		tx.SetSchema(schema)
	}
	tw.mu.Unlock()
	tx.OnConflict = func(winners []*delta.CommitEntry) error {
		o.metrics.conflicts.Incr(1)
		for _, w := range winners {
			tw.ledger.Observe(w.Version, commitOffsets(w))
		}
		if tw.ledger.CommittedOf(f.offsets).Count() > 0 {
			return errOffsetsCommittedElsewhere
		}
		return nil
	}
	res, err := tw.table.Commit(ctx, tx)
	if err != nil {
		return 0, err
	}
	tw.ledger.Observe(res.Version, f.offsets)
	tw.mu.Lock()
	if maxGen > tw.committedGen {
		tw.committedGen = maxGen
	}
	tw.mu.Unlock()
	if len(res.Winners) > 0 {
		if err := tw.adoptSchema(tw.table.Schema()); err != nil {
			o.log.Warnf("Table %s: schema changed by another writer: %v", tw.path, err)
		}
	}
	return res.Version, nil
}

func sumSize(adds []delta.Add) int64 {
	var n int64
	for _, a := range adds {
		n += a.Size
	}
	return n
}
