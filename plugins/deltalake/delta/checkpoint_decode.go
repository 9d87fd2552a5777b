package delta

import (
	"encoding/json"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

func decodeCheckpointBatch(rec arrow.RecordBatch, fn func(*Action) error) error {
	schema := rec.Schema()
	col := func(name string) *array.Struct {
		idx := schema.FieldIndices(name)
		if len(idx) == 0 {
			return nil
		}
		s, _ := rec.Column(idx[0]).(*array.Struct)
		return s
	}
	txn, add, rm, md, proto, dm := col("txn"), col("add"), col("remove"), col("metaData"), col("protocol"), col("domainMetadata")
	for i := 0; i < int(rec.NumRows()); i++ {
		var a Action
		switch {
		case valid(add, i):
			a.Add = &Add{
				Path:             str(child(add, "path"), i),
				PartitionValues:  strMap(child(add, "partitionValues"), i),
				Size:             i64(child(add, "size"), i),
				ModificationTime: i64(child(add, "modificationTime"), i),
				DataChange:       boolean(child(add, "dataChange"), i),
				Stats:            str(child(add, "stats"), i),
				Tags:             plainMap(child(add, "tags"), i),
			}
			if a.Add.PartitionValues == nil {
				a.Add.PartitionValues = map[string]*string{}
			}
			if dv := child(add, "deletionVector"); valid(dv, i) {
				a.Add.DeletionVector = json.RawMessage(`{}`)
			}
		case valid(rm, i):
			r := &Remove{
				Path:            str(child(rm, "path"), i),
				DataChange:      boolean(child(rm, "dataChange"), i),
				PartitionValues: strMap(child(rm, "partitionValues"), i),
				Tags:            plainMap(child(rm, "tags"), i),
			}
			if c := child(rm, "deletionTimestamp"); valid(c, i) {
				v := i64(c, i)
				r.DeletionTimestamp = &v
			}
			if c := child(rm, "extendedFileMetadata"); valid(c, i) {
				v := boolean(c, i)
				r.ExtendedFileMetadata = &v
			}
			if c := child(rm, "size"); valid(c, i) {
				v := i64(c, i)
				r.Size = &v
			}
			a.Remove = r
		case valid(txn, i):
			t := &Txn{AppID: str(child(txn, "appId"), i), Version: i64(child(txn, "version"), i)}
			if c := child(txn, "lastUpdated"); valid(c, i) {
				v := i64(c, i)
				t.LastUpdated = &v
			}
			a.Txn = t
		case valid(md, i):
			m := &Metadata{
				ID:               str(child(md, "id"), i),
				Name:             str(child(md, "name"), i),
				Description:      str(child(md, "description"), i),
				SchemaString:     str(child(md, "schemaString"), i),
				PartitionColumns: strList(child(md, "partitionColumns"), i),
				Configuration:    plainMap(child(md, "configuration"), i),
				Format:           Format{Provider: "parquet", Options: map[string]string{}},
			}
			if f, ok := child(md, "format").(*array.Struct); ok && valid(f, i) {
				if p := str(child(f, "provider"), i); p != "" {
					m.Format.Provider = p
				}
				if o := plainMap(child(f, "options"), i); o != nil {
					m.Format.Options = o
				}
			}
			if c := child(md, "createdTime"); valid(c, i) {
				v := i64(c, i)
				m.CreatedTime = &v
			}
			if m.PartitionColumns == nil {
				m.PartitionColumns = []string{}
			}
			if m.Configuration == nil {
				m.Configuration = map[string]string{}
			}
			a.Metadata = m
		case valid(proto, i):
			a.Protocol = &Protocol{
				MinReaderVersion: int(i64(child(proto, "minReaderVersion"), i)),
				MinWriterVersion: int(i64(child(proto, "minWriterVersion"), i)),
				ReaderFeatures:   strList(child(proto, "readerFeatures"), i),
				WriterFeatures:   strList(child(proto, "writerFeatures"), i),
			}
		case valid(dm, i):
			a.DomainMetadata = &DomainMetadata{
				Domain:        str(child(dm, "domain"), i),
				Configuration: str(child(dm, "configuration"), i),
				Removed:       boolean(child(dm, "removed"), i),
			}
		default:
			continue
		}
		if err := fn(&a); err != nil {
			return err
		}
	}
	return nil
}

func valid(a arrow.Array, i int) bool {
	if a == nil {
		return false
	}
	if s, ok := a.(*array.Struct); ok && s == nil {
		return false
	}
	return a.IsValid(i)
}

func child(s arrow.Array, name string) arrow.Array {
	st, ok := s.(*array.Struct)
	if !ok || st == nil {
		return nil
	}
	idx, ok := st.DataType().(*arrow.StructType).FieldIdx(name)
	if !ok {
		return nil
	}
	return st.Field(idx)
}

func str(a arrow.Array, i int) string {
	if a == nil || a.IsNull(i) {
		return ""
	}
	switch v := a.(type) {
	case *array.String:
		return v.Value(i)
	case *array.LargeString:
		return v.Value(i)
	case *array.StringView:
		return v.Value(i)
	case *array.Binary:
		return string(v.Value(i))
	case *array.LargeBinary:
		return string(v.Value(i))
	}
	return ""
}

func i64(a arrow.Array, i int) int64 {
	if a == nil || a.IsNull(i) {
		return 0
	}
	switch v := a.(type) {
	case *array.Int64:
		return v.Value(i)
	case *array.Int32:
		return int64(v.Value(i))
	case *array.Int16:
		return int64(v.Value(i))
	case *array.Int8:
		return int64(v.Value(i))
	case *array.Uint64:
		return int64(v.Value(i))
	case *array.Uint32:
		return int64(v.Value(i))
	case *array.Timestamp:
		return int64(v.Value(i))
	}
	return 0
}

func boolean(a arrow.Array, i int) bool {
	if b, ok := a.(*array.Boolean); ok && b.IsValid(i) {
		return b.Value(i)
	}
	return false
}

func strMap(a arrow.Array, i int) map[string]*string {
	m, ok := a.(*array.Map)
	if !ok || m.IsNull(i) {
		return nil
	}
	start, end := m.ValueOffsets(i)
	keys, items := m.Keys(), m.Items()
	out := make(map[string]*string, end-start)
	for j := start; j < end; j++ {
		k := str(keys, int(j))
		if items.IsNull(int(j)) {
			out[k] = nil
			continue
		}
		v := str(items, int(j))
		out[k] = &v
	}
	return out
}

func plainMap(a arrow.Array, i int) map[string]string {
	sm := strMap(a, i)
	if sm == nil {
		return nil
	}
	out := make(map[string]string, len(sm))
	for k, v := range sm {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func strList(a arrow.Array, i int) []string {
	l, ok := a.(array.ListLike)
	if !ok || a.IsNull(i) {
		return nil
	}
	start, end := l.ValueOffsets(i)
	vals := l.ListValues()
	out := make([]string, 0, end-start)
	for j := start; j < end; j++ {
		out = append(out, str(vals, int(j)))
	}
	return out
}
