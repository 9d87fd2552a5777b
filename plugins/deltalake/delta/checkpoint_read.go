package delta

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// readCheckpoint streams a classic single-file checkpoint (ours, Spark's or
// delta-rs's: any root name, optional columns, int32 or int64 versions) and
// calls fn for every action row.
func readCheckpoint(ctx context.Context, store objstore.Store, key string, withFiles bool, fn func(*Action) error) error {
	src, closeSrc, err := openRandomAccess(ctx, store, key)
	if err != nil {
		return err
	}
	defer closeSrc()
	pr, err := file.NewParquetReader(src)
	if err != nil {
		return fmt.Errorf("opening parquet: %w", err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: checkpointBatchRows}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("reading parquet schema: %w", err)
	}
	// Only the action columns we reconcile; cdc, commitInfo, checkpointMetadata,
	// sidecar and *_parsed columns are not read.
	var cols []int
	wanted := map[string]bool{"txn": true, "add": withFiles, "remove": withFiles, "metaData": true, "protocol": true, "domainMetadata": true}
	for _, f := range fr.Manifest.Fields {
		if wanted[f.Field.Name] {
			cols = append(cols, leafIndices(f)...)
		}
	}
	if len(cols) == 0 {
		return errors.New("checkpoint has none of the action columns")
	}
	rr, err := fr.GetRecordReader(ctx, cols, nil)
	if err != nil {
		return fmt.Errorf("reading parquet: %w", err)
	}
	defer rr.Release()
	for rr.Next() {
		rec := rr.RecordBatch()
		if err := decodeCheckpointBatch(rec, fn); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil {
		return fmt.Errorf("reading parquet: %w", err)
	}
	return nil
}

func leafIndices(f pqarrow.SchemaField) []int {
	if len(f.Children) == 0 {
		return []int{f.ColIndex}
	}
	var out []int
	for _, c := range f.Children {
		if strings.HasSuffix(c.Field.Name, "_parsed") {
			continue // struct stats / partition values: we use the JSON forms
		}
		out = append(out, leafIndices(c)...)
	}
	return out
}

// randomAccessMemoryBytes is the largest checkpoint read into memory; larger
// ones (tables with many files) are spooled to a temporary file.
var randomAccessMemoryBytes = objstore.DefaultRandomAccessMemory

// openRandomAccess opens a checkpoint for the Parquet reader (see
// objstore.OpenRandomAccess).
func openRandomAccess(ctx context.Context, store objstore.Store, key string) (objstore.ReaderAtSeeker, func(), error) {
	return objstore.OpenRandomAccess(ctx, store, key, randomAccessMemoryBytes)
}
