package delta

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/danube-connect/danube-connect/plugins/deltalake/parquetfile"
)

// DefaultOptimizeTargetSize is the merged-file size OPTIMIZE aims for.
const DefaultOptimizeTargetSize = 128 << 20

// optimizeRowGroupRows is how many rows are gathered before a row group is
// written to a merged file (small input files are coalesced).
const optimizeRowGroupRows = 1 << 16

// OptimizeOptions tune Optimize.
type OptimizeOptions struct {
	// TargetSize: files smaller than this are compacted into files of about
	// this size (default 128 MiB).
	TargetSize int64
	// MinFiles is the least number of small files in a partition worth
	// rewriting (default 2).
	MinFiles int
	// PartitionFilter, if set, selects the partitions to compact.
	PartitionFilter func(partitionValues map[string]*string) bool
	// Compression of merged files: "zstd" or "snappy"; empty keeps the
	// codec of each bin's first input file (zstd if it cannot be told).
	Compression string
}

// OptimizeResult summarises an Optimize run.
type OptimizeResult struct {
	// Version of the OPTIMIZE commit, -1 if nothing was compacted.
	Version      int64
	FilesRemoved int
	FilesAdded   int
	BytesRemoved int64
	BytesAdded   int64
	// Skipped lists files left alone because their Parquet schema could not
	// be mapped onto the table schema (for example other timestamp units).
	Skipped []string
}

// Optimize bin-packs small files per partition into files of about
// TargetSize, in one commit: remove (dataChange=false, extendedFileMetadata,
// deletionTimestamp, partitionValues, size) for the inputs and add
// (dataChange=false, fresh stats) for the outputs, commitInfo operation
// "OPTIMIZE". Concurrent appends never conflict with it; it fails with
// ErrConcurrentDeleteDelete only if another commit removed one of its inputs,
// and then deletes the files it wrote.
func Optimize(ctx context.Context, t *Table, opts OptimizeOptions) (*OptimizeResult, error) {
	if opts.TargetSize <= 0 {
		opts.TargetSize = DefaultOptimizeTargetSize
	}
	if opts.MinFiles < 2 {
		opts.MinFiles = 2
	}
	if _, err := t.Update(ctx); err != nil {
		return nil, fmt.Errorf("optimizing: %w", err)
	}
	if err := t.CanWrite(); err != nil {
		return nil, fmt.Errorf("optimizing: %w", err)
	}
	// The transaction reads exactly the planned snapshot, so every commit
	// after it is checked for removals of our inputs.
	snap, err := t.fullSnapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("optimizing: %w", err)
	}
	tx := newTransactionAt(snap)
	partCols := snap.PartitionColumns()
	dataSchema, err := dataArrowSchema(snap.Schema(), partCols)
	if err != nil {
		return nil, fmt.Errorf("optimizing: %w", err)
	}
	res := &OptimizeResult{Version: -1}
	var written []string
	cleanup := func() {
		for _, k := range written {
			_ = t.store.Delete(context.WithoutCancel(ctx), k)
		}
	}
	now := t.opts.Now().UnixMilli()
	for _, bin := range planBins(snap.Files(), partCols, opts) {
		add, skipped, err := t.compactBin(ctx, bin, dataSchema, opts, now)
		res.Skipped = append(res.Skipped, skipped...)
		if err != nil {
			cleanup()
			return nil, err
		}
		if add == nil {
			continue
		}
		key, _ := add.DecodedPath()
		written = append(written, key)
		skip := map[string]bool{}
		for _, s := range skipped {
			skip[s] = true
		}
		for _, f := range bin {
			if skip[f.Path] {
				continue
			}
			size := f.Size
			tx.Removes = append(tx.Removes, Remove{
				Path: f.Path, DeletionTimestamp: &now, DataChange: false, ExtendedFileMetadata: ptr(true),
				PartitionValues: f.PartitionValues, Size: &size, Tags: f.Tags,
			})
			res.FilesRemoved++
			res.BytesRemoved += f.Size
		}
		tx.Adds = append(tx.Adds, *add)
		res.FilesAdded++
		res.BytesAdded += add.Size
	}
	if len(tx.Adds) == 0 {
		return res, nil
	}
	tx.Operation = "OPTIMIZE"
	tx.OperationParameters = map[string]any{"targetSize": strconv.FormatInt(opts.TargetSize, 10), "predicate": "[]", "zOrderBy": "[]"}
	tx.OperationMetrics = map[string]any{
		"numRemovedFiles": strconv.Itoa(res.FilesRemoved), "numAddedFiles": strconv.Itoa(res.FilesAdded),
		"numRemovedBytes": strconv.FormatInt(res.BytesRemoved, 10), "numAddedBytes": strconv.FormatInt(res.BytesAdded, 10),
	}
	cr, err := t.Commit(ctx, tx)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("optimizing: %w", err)
	}
	res.Version = cr.Version
	return res, nil
}

// dataArrowSchema is the table schema without partition columns (which are
// not stored in data files).
func dataArrowSchema(s *StructType, partCols []string) (*arrow.Schema, error) {
	isPart := map[string]bool{}
	for _, p := range partCols {
		isPart[p] = true
	}
	ds := &StructType{}
	for _, f := range s.Fields {
		if !isPart[f.Name] {
			ds.Fields = append(ds.Fields, f)
		}
	}
	return ToArrow(ds)
}

// planBins groups small files by partition and packs them greedily (smallest
// first) into bins of about TargetSize with at least MinFiles files.
func planBins(files []*Add, partCols []string, opts OptimizeOptions) [][]*Add {
	byPart := map[string][]*Add{}
	var order []string
	for _, f := range files {
		if f.Size >= opts.TargetSize || f.DeletionVector != nil {
			continue
		}
		if opts.PartitionFilter != nil && !opts.PartitionFilter(f.PartitionValues) {
			continue
		}
		var kb strings.Builder
		for _, c := range partCols {
			if v := f.PartitionValues[c]; v != nil {
				kb.WriteString(strconv.Quote(*v))
			} else {
				kb.WriteString("null")
			}
			kb.WriteByte(0)
		}
		k := kb.String()
		if _, ok := byPart[k]; !ok {
			order = append(order, k)
		}
		byPart[k] = append(byPart[k], f)
	}
	var bins [][]*Add
	for _, k := range order {
		fs := byPart[k]
		sort.SliceStable(fs, func(i, j int) bool { return fs[i].Size < fs[j].Size })
		var cur []*Add
		var size int64
		flush := func() {
			if len(cur) >= opts.MinFiles {
				bins = append(bins, cur)
			}
			cur, size = nil, 0
		}
		for _, f := range fs {
			if size > 0 && size+f.Size > opts.TargetSize {
				flush()
			}
			cur = append(cur, f)
			size += f.Size
		}
		flush()
	}
	return bins
}

// compactBin merges the files of one bin into a new file next to the first
// input. Files whose schema cannot be projected onto the table schema are
// returned as skipped; if fewer than two remain nothing is written.
func (t *Table) compactBin(ctx context.Context, bin []*Add, schema *arrow.Schema, opts OptimizeOptions, now int64) (*Add, []string, error) {
	// Two passes (check, then stream) so that only one input file is held in
	// memory at a time.
	var inputs []*Add
	var skipped []string
	codec := opts.Compression
	for _, f := range bin {
		key, err := f.DecodedPath()
		if err != nil {
			skipped = append(skipped, f.Path)
			continue
		}
		src, closeSrc, err := openRandomAccess(ctx, t.store, key)
		if err != nil {
			return nil, skipped, fmt.Errorf("optimizing: reading %s: %w", key, err)
		}
		err = checkProjectable(src, schema, &codec)
		closeSrc()
		if err != nil {
			skipped = append(skipped, f.Path)
			continue
		}
		inputs = append(inputs, f)
	}
	if len(inputs) < 2 {
		return nil, skipped, nil
	}
	firstKey, _ := inputs[0].DecodedPath()
	dir := path.Dir(firstKey)
	key := parquetfile.FileName(0, codec)
	if dir != "." {
		key = dir + "/" + key
	}
	w, err := t.store.Create(ctx, key)
	if err != nil {
		return nil, skipped, fmt.Errorf("optimizing: creating %s: %w", key, err)
	}
	fw, err := parquetfile.NewFileWriter(w, schema, parquetfile.WriterOptions{Compression: codec})
	if err != nil {
		_ = w.Abort()
		return nil, skipped, fmt.Errorf("optimizing: %w", err)
	}
	fail := func(err error) (*Add, []string, error) {
		_, _ = fw.Close()
		_ = w.Abort()
		return nil, skipped, fmt.Errorf("optimizing: writing %s: %w", key, err)
	}
	var pending []arrow.RecordBatch
	var pendingRows int64
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		rec, err := concatBatches(schema, pending)
		for _, p := range pending {
			p.Release()
		}
		pending, pendingRows = nil, 0
		if err != nil {
			return err
		}
		defer rec.Release()
		return fw.Write(rec)
	}
	for _, in := range inputs {
		inKey, _ := in.DecodedPath()
		src, closeSrc, err := openRandomAccess(ctx, t.store, inKey)
		if err != nil {
			return fail(fmt.Errorf("reading %s: %w", inKey, err))
		}
		err = readProjected(ctx, src, schema, func(rec arrow.RecordBatch) error {
			pending = append(pending, rec)
			pendingRows += rec.NumRows()
			if pendingRows >= optimizeRowGroupRows {
				return flush()
			}
			return nil
		})
		closeSrc()
		if err != nil {
			return fail(fmt.Errorf("reading %s: %w", in.Path, err))
		}
	}
	if err := flush(); err != nil {
		return fail(err)
	}
	df, err := fw.Close()
	if err != nil {
		_ = w.Abort()
		return nil, skipped, fmt.Errorf("optimizing: writing %s: %w", key, err)
	}
	if err := w.Close(); err != nil {
		return nil, skipped, fmt.Errorf("optimizing: writing %s: %w", key, err)
	}
	return &Add{
		Path: EncodePath(key), PartitionValues: inputs[0].PartitionValues, Size: df.Size,
		ModificationTime: now, DataChange: false, Stats: df.Stats,
	}, skipped, nil
}

func openParquet(src parquet.ReaderAtSeeker) (*file.Reader, *pqarrow.FileReader, error) {
	pr, err := file.NewParquetReader(src)
	if err != nil {
		return nil, nil, err
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: optimizeRowGroupRows}, memory.DefaultAllocator)
	if err != nil {
		pr.Close()
		return nil, nil, err
	}
	return pr, fr, nil
}

// inputCodec names the compression of a Parquet file's first column chunk
// in parquetfile's terms.
func inputCodec(pr *file.Reader) string {
	if pr.NumRowGroups() == 0 {
		return parquetfile.CompressionZstd
	}
	rg := pr.MetaData().RowGroup(0)
	if rg.NumColumns() == 0 {
		return parquetfile.CompressionZstd
	}
	cc, err := rg.ColumnChunk(0)
	if err != nil {
		return parquetfile.CompressionZstd
	}
	switch cc.Compression() {
	case compress.Codecs.Snappy:
		return parquetfile.CompressionSnappy
	case compress.Codecs.Uncompressed:
		return parquetfile.CompressionUncompressed
	default:
		return parquetfile.CompressionZstd
	}
}

func checkProjectable(src parquet.ReaderAtSeeker, target *arrow.Schema, codec *string) error {
	pr, fr, err := openParquet(src)
	if err != nil {
		return err
	}
	defer pr.Close()
	if *codec == "" {
		*codec = inputCodec(pr)
	}
	sc, err := fr.Schema()
	if err != nil {
		return err
	}
	for _, tf := range target.Fields() {
		idx := sc.FieldIndices(tf.Name)
		if len(idx) == 0 {
			continue
		}
		if !projectable(sc.Field(idx[0]).Type, tf.Type) {
			return fmt.Errorf("column %q: file type %s, table type %s", tf.Name, sc.Field(idx[0]).Type, tf.Type)
		}
	}
	return nil
}

func projectable(from, to arrow.DataType) bool {
	if arrow.TypeEqual(from, to) {
		return true
	}
	fs, ok1 := from.(*arrow.StructType)
	ts, ok2 := to.(*arrow.StructType)
	if !ok1 || !ok2 {
		return false
	}
	for _, f := range ts.Fields() {
		if ff, ok := fs.FieldByName(f.Name); ok && !projectable(ff.Type, f.Type) {
			return false
		}
	}
	return true
}

// readProjected streams a Parquet file as record batches shaped like target:
// missing columns (and missing nested struct fields) become nulls, extra
// columns are dropped.
func readProjected(ctx context.Context, src parquet.ReaderAtSeeker, target *arrow.Schema, fn func(arrow.RecordBatch) error) error {
	pr, fr, err := openParquet(src)
	if err != nil {
		return err
	}
	defer pr.Close()
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return err
	}
	defer rr.Release()
	for rr.Next() {
		rec := rr.RecordBatch()
		cols := make([]arrow.Array, len(target.Fields()))
		for i, tf := range target.Fields() {
			idx := rec.Schema().FieldIndices(tf.Name)
			if len(idx) == 0 {
				cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, tf.Type, int(rec.NumRows()))
				continue
			}
			if cols[i], err = projectArray(rec.Column(idx[0]), tf.Type); err != nil {
				return fmt.Errorf("column %q: %w", tf.Name, err)
			}
		}
		out := array.NewRecordBatch(target, cols, rec.NumRows())
		for _, c := range cols {
			c.Release()
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	return rr.Err()
}

func projectArray(a arrow.Array, to arrow.DataType) (arrow.Array, error) {
	if arrow.TypeEqual(a.DataType(), to) {
		a.Retain()
		return a, nil
	}
	st, ok := a.(*array.Struct)
	ts, ok2 := to.(*arrow.StructType)
	if !ok || !ok2 {
		return nil, fmt.Errorf("cannot convert %s to %s", a.DataType(), to)
	}
	n := a.Len()
	children := make([]arrow.Array, len(ts.Fields()))
	defer func() {
		for _, c := range children {
			if c != nil {
				c.Release()
			}
		}
	}()
	from := st.DataType().(*arrow.StructType)
	for i, f := range ts.Fields() {
		idx, ok := from.FieldIdx(f.Name)
		if !ok {
			children[i] = array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, n)
			continue
		}
		c, err := projectArray(st.Field(idx), f.Type)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		children[i] = c
	}
	var nullBitmap *memory.Buffer
	nulls := st.NullN()
	if nulls > 0 {
		nullBitmap = memory.NewResizableBuffer(memory.DefaultAllocator)
		nullBitmap.Resize(int(bitutil.BytesForBits(int64(n))))
		for i := 0; i < n; i++ {
			bitutil.SetBitTo(nullBitmap.Bytes(), i, st.IsValid(i))
		}
		defer nullBitmap.Release()
	}
	return array.NewStructArrayWithFieldsAndNulls(children, ts.Fields(), nullBitmap, nulls, 0)
}

func concatBatches(schema *arrow.Schema, recs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	if len(recs) == 1 {
		recs[0].Retain()
		return recs[0], nil
	}
	cols := make([]arrow.Array, len(schema.Fields()))
	var rows int64
	for _, r := range recs {
		rows += r.NumRows()
	}
	for i := range cols {
		parts := make([]arrow.Array, len(recs))
		for j, r := range recs {
			parts[j] = r.Column(i)
		}
		c, err := array.Concatenate(parts, memory.DefaultAllocator)
		if err != nil {
			for _, done := range cols[:i] {
				done.Release()
			}
			return nil, err
		}
		cols[i] = c
	}
	rec := array.NewRecordBatch(schema, cols, rows)
	for _, c := range cols {
		c.Release()
	}
	return rec, nil
}

// VacuumOptions tune Vacuum.
type VacuumOptions struct {
	// Retention: only files unreferenced and older than this are deleted, and
	// tombstones younger than this keep their files. 0 uses the table's
	// delta.deletedFileRetentionDuration (default one week) unless
	// AllowShortRetention is set, in which case 0 means no retention.
	Retention time.Duration
	// AllowShortRetention permits a Retention below the table's configured
	// retention (which breaks time travel and can delete files of
	// long-running concurrent writers); without it that is an error.
	AllowShortRetention bool
	// DryRun lists what would be deleted without deleting.
	DryRun bool
}

// VacuumResult lists the deleted (or, with DryRun, deletable) files.
type VacuumResult struct {
	Files  []string // object keys relative to the table root
	Bytes  int64
	DryRun bool
}

// Vacuum deletes data files that the current snapshot does not reference,
// that no tombstone younger than the retention period references, and that
// are older than the retention period. It ignores everything under
// directories (or with names) beginning with "_" or "." — in particular it
// never touches _delta_log.
func Vacuum(ctx context.Context, t *Table, opts VacuumOptions) (*VacuumResult, error) {
	if _, err := t.Update(ctx); err != nil {
		return nil, fmt.Errorf("vacuuming: %w", err)
	}
	snap, err := t.fullSnapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("vacuuming: %w", err)
	}
	configured, err := snap.deletedFileRetention()
	if err != nil {
		return nil, fmt.Errorf("vacuuming: %w", err)
	}
	retention := opts.Retention
	if retention <= 0 && !opts.AllowShortRetention {
		retention = configured
	}
	if retention < configured && !opts.AllowShortRetention {
		return nil, fmt.Errorf("vacuuming: retention %s is shorter than the table's %s (%s); set AllowShortRetention to override", retention, ConfigDeletedFileRetention, configured)
	}
	now := t.opts.Now()
	cutoff := now.Add(-retention)
	keep := map[string]bool{}
	for _, f := range snap.Files() {
		keep[fileKey(f.Path)] = true
	}
	for _, r := range snap.Tombstones() {
		if r.DeletionTimestamp == nil || *r.DeletionTimestamp > cutoff.UnixMilli() {
			keep[fileKey(r.Path)] = true
		}
	}
	objs, err := t.store.List(ctx, "", "")
	if err != nil {
		return nil, fmt.Errorf("vacuuming: listing %s: %w", t.store.URL(), err)
	}
	res := &VacuumResult{DryRun: opts.DryRun}
	for _, o := range objs {
		if hiddenKey(o.Key) || keep[o.Key] || !o.ModTime.Before(cutoff) {
			continue
		}
		if !opts.DryRun {
			if err := t.store.Delete(ctx, o.Key); err != nil {
				return res, fmt.Errorf("vacuuming: deleting %s: %w", o.Key, err)
			}
		}
		res.Files = append(res.Files, o.Key)
		res.Bytes += o.Size
	}
	return res, nil
}

func hiddenKey(key string) bool {
	for _, part := range strings.Split(key, "/") {
		if strings.HasPrefix(part, "_") || strings.HasPrefix(part, ".") {
			return true
		}
	}
	return false
}
