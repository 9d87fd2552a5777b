package deltaops

import (
	"context"
	"fmt"

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
