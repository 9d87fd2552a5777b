package deltaops

import (
	"context"
	"fmt"
	"path"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/deltalake/parquetfile"
)

// compactBin merges the files of one bin into a new file next to the first
// input. Files whose schema cannot be projected onto the table schema are
// returned as skipped; if fewer than two remain nothing is written.
func compactBin(ctx context.Context, store objstore.Store, bin []*delta.Add, schema *arrow.Schema, opts OptimizeOptions, now int64) (*delta.Add, []string, error) {
	// Two passes (check, then stream) so that only one input file is held in
	// memory at a time.
	var inputs []*delta.Add
	var skipped []string
	codec := opts.Compression
	for _, f := range bin {
		key, err := f.DecodedPath()
		if err != nil {
			skipped = append(skipped, f.Path)
			continue
		}
		src, closeSrc, err := objstore.OpenRandomAccess(ctx, store, key, objstore.DefaultRandomAccessMemory)
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
	w, err := store.Create(ctx, key)
	if err != nil {
		return nil, skipped, fmt.Errorf("optimizing: creating %s: %w", key, err)
	}
	fw, err := parquetfile.NewFileWriter(w, schema, parquetfile.WriterOptions{Compression: codec})
	if err != nil {
		_ = w.Abort()
		return nil, skipped, fmt.Errorf("optimizing: %w", err)
	}
	fail := func(err error) (*delta.Add, []string, error) {
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
		src, closeSrc, err := objstore.OpenRandomAccess(ctx, store, inKey, objstore.DefaultRandomAccessMemory)
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
	return &delta.Add{
		Path: delta.EncodePath(key), PartitionValues: inputs[0].PartitionValues, Size: df.Size,
		ModificationTime: now, DataChange: false, Stats: df.Stats,
	}, skipped, nil
}
