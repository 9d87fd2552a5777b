package delta

import (
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

var (
	strMapType = func() *arrow.MapType {
		m := arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String)
		m.SetItemNullable(true)
		return m
	}()
	strListType = arrow.ListOfField(arrow.Field{Name: "element", Type: arrow.BinaryTypes.String, Nullable: true})
)

func nullable(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t, Nullable: true}
}

// checkpointSchema is the V1 checkpoint layout (PROTOCOL "Checkpoint Schema"):
// one nullable struct column per action kind.
func checkpointSchema(withDomains bool) *arrow.Schema {
	str, i64, i32, bl := arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, arrow.FixedWidthTypes.Boolean
	fields := []arrow.Field{
		nullable("txn", arrow.StructOf(nullable("appId", str), nullable("version", i64), nullable("lastUpdated", i64))),
		nullable("add", arrow.StructOf(
			nullable("path", str), nullable("partitionValues", strMapType), nullable("size", i64),
			nullable("modificationTime", i64), nullable("dataChange", bl), nullable("stats", str),
			nullable("tags", strMapType))),
		nullable("remove", arrow.StructOf(
			nullable("path", str), nullable("deletionTimestamp", i64), nullable("dataChange", bl),
			nullable("extendedFileMetadata", bl), nullable("partitionValues", strMapType),
			nullable("size", i64), nullable("tags", strMapType))),
		nullable("metaData", arrow.StructOf(
			nullable("id", str), nullable("name", str), nullable("description", str),
			nullable("format", arrow.StructOf(nullable("provider", str), nullable("options", strMapType))),
			nullable("schemaString", str), nullable("partitionColumns", strListType),
			nullable("configuration", strMapType), nullable("createdTime", i64))),
		nullable("protocol", arrow.StructOf(
			nullable("minReaderVersion", i32), nullable("minWriterVersion", i32),
			nullable("readerFeatures", strListType), nullable("writerFeatures", strListType))),
	}
	if withDomains {
		fields = append(fields, nullable("domainMetadata", arrow.StructOf(
			nullable("domain", str), nullable("configuration", str), nullable("removed", bl))))
	}
	return arrow.NewSchema(fields, nil)
}

// Checkpoint column order, as in checkpointSchema.
const (
	colTxn = iota
	colAdd
	colRemove
	colMeta
	colProto
	colDomain
)

// checkpointWriter appends actions row by row and flushes a row group every
// checkpointBatchRows rows, so memory is bounded by one batch.
type checkpointWriter struct {
	rb          *array.RecordBuilder
	fw          *pqarrow.FileWriter
	rows        int
	cols        int
	withDomains bool
	minDeletion int64 // tombstones deleted at or before this (ms) are dropped
	// counts for _last_checkpoint
	actions int64
	adds    int64
}

func newCheckpointWriter(w *countingWriter, withDomains bool, minDeletion int64) (*checkpointWriter, error) {
	schema := checkpointSchema(withDomains)
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithMaxRowGroupLength(checkpointBatchRows*4),
	)
	fw, err := pqarrow.NewFileWriter(schema, w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return nil, err
	}
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	return &checkpointWriter{rb: rb, fw: fw, cols: len(schema.Fields()), withDomains: withDomains, minDeletion: minDeletion}, nil
}

func (w *checkpointWriter) builder(col int) *array.StructBuilder {
	return w.rb.Field(col).(*array.StructBuilder)
}

// startRow appends nulls to every action column except col and returns
// col's struct builder with a valid row started.
func (w *checkpointWriter) startRow(col int) *array.StructBuilder {
	for c := 0; c < w.cols; c++ {
		if c != col {
			w.builder(c).AppendNull()
		}
	}
	b := w.builder(col)
	b.Append(true)
	return b
}

func (w *checkpointWriter) endRow() error {
	w.rows++
	w.actions++
	if w.rows >= checkpointBatchRows {
		return w.flush()
	}
	return nil
}

func (w *checkpointWriter) flush() error {
	if w.rows == 0 {
		return nil
	}
	rec := w.rb.NewRecordBatch()
	defer rec.Release()
	w.rows = 0
	return w.fw.Write(rec)
}

// close flushes and finishes the file; abort releases it after an error.
func (w *checkpointWriter) close() error {
	defer w.rb.Release()
	if err := w.flush(); err != nil {
		_ = w.fw.Close()
		return err
	}
	return w.fw.Close()
}

func (w *checkpointWriter) abort() {
	_ = w.fw.Close()
	w.rb.Release()
}

func (w *checkpointWriter) protocol(p Protocol) error {
	b := w.startRow(colProto)
	b.FieldBuilder(0).(*array.Int32Builder).Append(int32(p.MinReaderVersion))
	b.FieldBuilder(1).(*array.Int32Builder).Append(int32(p.MinWriterVersion))
	appendStrList(b.FieldBuilder(2), p.ReaderFeatures, p.MinReaderVersion < 3)
	appendStrList(b.FieldBuilder(3), p.WriterFeatures, p.MinWriterVersion < 7)
	return w.endRow()
}

func (w *checkpointWriter) metadata(m *Metadata) error {
	b := w.startRow(colMeta)
	appendStr(b.FieldBuilder(0), m.ID, false)
	appendStr(b.FieldBuilder(1), m.Name, m.Name == "")
	appendStr(b.FieldBuilder(2), m.Description, m.Description == "")
	fb := b.FieldBuilder(3).(*array.StructBuilder)
	fb.Append(true)
	appendStr(fb.FieldBuilder(0), m.Format.Provider, false)
	opts := m.Format.Options
	if opts == nil {
		opts = map[string]string{}
	}
	appendPlainMap(fb.FieldBuilder(1), opts)
	appendStr(b.FieldBuilder(4), m.SchemaString, false)
	appendStrList(b.FieldBuilder(5), m.PartitionColumns, false)
	conf := m.Configuration
	if conf == nil {
		conf = map[string]string{}
	}
	appendPlainMap(b.FieldBuilder(6), conf)
	appendI64(b.FieldBuilder(7), m.CreatedTime)
	return w.endRow()
}

func (w *checkpointWriter) txn(t Txn) error {
	b := w.startRow(colTxn)
	appendStr(b.FieldBuilder(0), t.AppID, false)
	appendI64(b.FieldBuilder(1), &t.Version)
	appendI64(b.FieldBuilder(2), t.LastUpdated)
	return w.endRow()
}

func (w *checkpointWriter) domain(d DomainMetadata) error {
	if !w.withDomains {
		return nil
	}
	b := w.startRow(colDomain)
	appendStr(b.FieldBuilder(0), d.Domain, false)
	appendStr(b.FieldBuilder(1), d.Configuration, false)
	appendBool(b.FieldBuilder(2), ptr(false))
	return w.endRow()
}

// add writes a live file; reconciled adds carry dataChange=false as Spark's do.
func (w *checkpointWriter) add(a *Add) error {
	b := w.startRow(colAdd)
	appendStr(b.FieldBuilder(0), a.Path, false)
	pv := a.PartitionValues
	if pv == nil {
		pv = map[string]*string{}
	}
	appendStrMap(b.FieldBuilder(1), pv)
	appendI64(b.FieldBuilder(2), &a.Size)
	appendI64(b.FieldBuilder(3), &a.ModificationTime)
	appendBool(b.FieldBuilder(4), ptr(false))
	appendStr(b.FieldBuilder(5), a.Stats, a.Stats == "")
	appendPlainMap(b.FieldBuilder(6), a.Tags)
	w.adds++
	return w.endRow()
}

// remove writes a tombstone unless it has expired.
func (w *checkpointWriter) remove(r *Remove) error {
	if r.DeletionTimestamp == nil || *r.DeletionTimestamp <= w.minDeletion {
		return nil
	}
	b := w.startRow(colRemove)
	appendStr(b.FieldBuilder(0), r.Path, false)
	appendI64(b.FieldBuilder(1), r.DeletionTimestamp)
	appendBool(b.FieldBuilder(2), ptr(false))
	appendBool(b.FieldBuilder(3), r.ExtendedFileMetadata)
	appendStrMap(b.FieldBuilder(4), r.PartitionValues)
	appendI64(b.FieldBuilder(5), r.Size)
	appendPlainMap(b.FieldBuilder(6), r.Tags)
	return w.endRow()
}

// header writes protocol, metaData, txns and domain metadata of s.
func (w *checkpointWriter) header(s *Snapshot) error {
	if err := w.protocol(s.protocol); err != nil {
		return err
	}
	if err := w.metadata(s.metadata); err != nil {
		return err
	}
	appIDs := make([]string, 0, len(s.txns))
	for k := range s.txns {
		appIDs = append(appIDs, k)
	}
	sort.Strings(appIDs)
	for _, id := range appIDs {
		if err := w.txn(s.txns[id]); err != nil {
			return err
		}
	}
	for _, d := range s.DomainMetadata() {
		if err := w.domain(d); err != nil {
			return err
		}
	}
	return nil
}

func appendStr(b array.Builder, s string, null bool) {
	if null {
		b.AppendNull()
		return
	}
	b.(*array.StringBuilder).Append(s)
}

func appendI64(b array.Builder, v *int64) {
	if v == nil {
		b.AppendNull()
		return
	}
	b.(*array.Int64Builder).Append(*v)
}

func appendBool(b array.Builder, v *bool) {
	if v == nil {
		b.AppendNull()
		return
	}
	b.(*array.BooleanBuilder).Append(*v)
}

func appendStrMap(b array.Builder, m map[string]*string) {
	mb := b.(*array.MapBuilder)
	if m == nil {
		mb.AppendNull()
		return
	}
	mb.Append(true)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	kb, ib := mb.KeyBuilder().(*array.StringBuilder), mb.ItemBuilder().(*array.StringBuilder)
	for _, k := range keys {
		kb.Append(k)
		if v := m[k]; v == nil {
			ib.AppendNull()
		} else {
			ib.Append(*v)
		}
	}
}

func appendPlainMap(b array.Builder, m map[string]string) {
	if m == nil {
		b.(*array.MapBuilder).AppendNull()
		return
	}
	sm := make(map[string]*string, len(m))
	for k, v := range m {
		sm[k] = &v
	}
	appendStrMap(b, sm)
}

func appendStrList(b array.Builder, l []string, null bool) {
	lb := b.(*array.ListBuilder)
	if null {
		lb.AppendNull()
		return
	}
	lb.Append(true)
	vb := lb.ValueBuilder().(*array.StringBuilder)
	for _, s := range l {
		vb.Append(s)
	}
}

func ptr[T any](v T) *T { return &v }
