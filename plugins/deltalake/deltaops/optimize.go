package deltaops

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
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
// delta.ErrConcurrentDeleteDelete only if another commit removed one of its inputs,
// and then deletes the files it wrote.
func Optimize(ctx context.Context, t *delta.Table, opts OptimizeOptions) (*OptimizeResult, error) {
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
	snap, err := t.FullSnapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("optimizing: %w", err)
	}
	tx := t.NewTransactionAt(snap)
	partCols := snap.PartitionColumns()
	dataSchema, err := dataArrowSchema(snap.Schema(), partCols)
	if err != nil {
		return nil, fmt.Errorf("optimizing: %w", err)
	}
	res := &OptimizeResult{Version: -1}
	var written []string
	cleanup := func() {
		for _, k := range written {
			_ = t.Store().Delete(context.WithoutCancel(ctx), k)
		}
	}
	now := t.Now().UnixMilli()
	for _, bin := range planBins(snap.Files(), partCols, opts) {
		add, skipped, err := compactBin(ctx, t.Store(), bin, dataSchema, opts, now)
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
			tx.Removes = append(tx.Removes, delta.Remove{
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
func dataArrowSchema(s *delta.StructType, partCols []string) (*arrow.Schema, error) {
	isPart := map[string]bool{}
	for _, p := range partCols {
		isPart[p] = true
	}
	ds := &delta.StructType{}
	for _, f := range s.Fields {
		if !isPart[f.Name] {
			ds.Fields = append(ds.Fields, f)
		}
	}
	return delta.ToArrow(ds)
}

// planBins groups small files by partition and packs them greedily (smallest
// first) into bins of about TargetSize with at least MinFiles files.
func planBins(files []*delta.Add, partCols []string, opts OptimizeOptions) [][]*delta.Add {
	byPart := map[string][]*delta.Add{}
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
	var bins [][]*delta.Add
	for _, k := range order {
		fs := byPart[k]
		sort.SliceStable(fs, func(i, j int) bool { return fs[i].Size < fs[j].Size })
		var cur []*delta.Add
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

func ptr[T any](v T) *T { return &v }
