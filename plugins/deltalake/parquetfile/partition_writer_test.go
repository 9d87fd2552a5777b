package parquetfile

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

type memSink struct {
	path            string
	buf             bytes.Buffer
	closed, aborted bool
	failAfter       int // fail writes once more than this many bytes were written; 0 = never
}

func (s *memSink) Write(p []byte) (int, error) {
	if s.failAfter > 0 && s.buf.Len()+len(p) > s.failAfter {
		return 0, errors.New("simulated storage outage")
	}
	return s.buf.Write(p)
}
func (s *memSink) Close() error { s.closed = true; return nil }
func (s *memSink) Abort() error { s.aborted = true; return nil }

type memStore struct {
	sinks     []*memSink
	failAfter int
}

func (m *memStore) open() (Sink, string, error) {
	s := &memSink{path: fmt.Sprintf("p=1/%s", FileName(len(m.sinks), CompressionZstd)), failAfter: m.failAfter}
	m.sinks = append(m.sinks, s)
	return s, s.path, nil
}

func eventRow(i int) []byte {
	return fmt.Appendf(nil, `{"id":%d,"name":"user-%d","ts":"2024-01-01T00:00:%02d.%06dZ","user":{"age":%d,"tags":["a","b%d"]}}`, i, i%97, i%60, i, i%90, i%7)
}

func eventSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ts", Type: tsUTC, Nullable: true},
		{Name: "user", Type: arrow.StructOf(
			arrow.Field{Name: "age", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			arrow.Field{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		), Nullable: true},
	}, nil)
}

func TestPartitionWriterRollsFilesAndRowGroups(t *testing.T) {
	d, err := jsonrows.NewDecoder(eventSchema(), jsonrows.DecoderOptions{})
	require.NoError(t, err)
	store := &memStore{}
	pw, err := NewPartitionWriter(d.NewBuffer(nil), store.open, WriterOptions{RowGroupBytes: 16 << 10, TargetFileSize: 64 << 10, Compression: CompressionSnappy})
	require.NoError(t, err)
	defer pw.Close()
	const n = 20000
	maxBuffered := int64(0)
	for i := 0; i < n; i++ {
		require.NoError(t, pw.AppendJSON(eventRow(i)))
		maxBuffered = max(maxBuffered, pw.BufferedBytes())
	}
	require.Less(t, maxBuffered, int64(16<<10), "a row group is written as soon as the buffer passes RowGroupBytes")
	require.EqualValues(t, n, pw.PendingRows())
	files, err := pw.Flush()
	require.NoError(t, err)
	require.Greater(t, len(files), 2, "rolled to several files")
	require.Zero(t, pw.PendingRows())
	total := int64(0)
	nextID := int64(0)
	for i, f := range files {
		s := store.sinks[i]
		require.True(t, s.closed, "file %d closed", i)
		require.False(t, s.aborted)
		require.Equal(t, s.path, f.Path)
		require.EqualValues(t, s.buf.Len(), f.Size, "exact size")
		if i < len(files)-1 {
			require.GreaterOrEqual(t, f.Size, int64(64<<10))
		}
		rdr, err := file.NewParquetReader(bytes.NewReader(s.buf.Bytes()))
		require.NoError(t, err)
		require.Greater(t, rdr.NumRowGroups(), 1, "several row groups per file")
		require.EqualValues(t, f.NumRecords, rdr.NumRows())
		tbl := readParquet(t, s.buf.Bytes())
		rec := tableRecord(t, tbl)
		ids := rec.Column(0)
		for j := 0; j < ids.Len(); j++ {
			require.Equal(t, fmt.Sprint(nextID), ids.ValueStr(j), "rows in order, none lost or duplicated")
			nextID++
		}
		tbl.Release()
		require.Contains(t, f.Stats, fmt.Sprintf(`{"numRecords":%d,`, f.NumRecords))
		total += f.NumRecords
	}
	require.EqualValues(t, n, total)

	// Flushing with nothing buffered produces no file.
	files, err = pw.Flush()
	require.NoError(t, err)
	require.Empty(t, files)
}

func TestPartitionWriterStorageFailure(t *testing.T) {
	d, err := jsonrows.NewDecoder(eventSchema(), jsonrows.DecoderOptions{})
	require.NoError(t, err)
	store := &memStore{}
	pw, err := NewPartitionWriter(d.NewBuffer(nil), store.open, WriterOptions{RowGroupBytes: 8 << 10, TargetFileSize: 32 << 10})
	require.NoError(t, err)
	defer pw.Close()
	i := 0
	for ; len(store.sinks) < 2; i++ {
		require.NoError(t, pw.AppendJSON(eventRow(i)))
	}
	store.sinks[1].failAfter = 1 // the second file breaks
	var failed error
	for ; i < 100000 && failed == nil; i++ {
		failed = pw.AppendJSON(eventRow(i))
	}
	require.ErrorIs(t, failed, ErrWriterFailed)
	require.ErrorContains(t, failed, "simulated storage outage")
	_, err = pw.Flush()
	require.ErrorIs(t, err, ErrWriterFailed, "stays failed until aborted")
	orphans := pw.Abort()
	require.Len(t, orphans, 1, "the first, finished file is reported as an orphan")
	require.True(t, store.sinks[1].aborted, "the broken file is aborted")
	require.Zero(t, pw.PendingRows())
	// Usable again after Abort.
	require.NoError(t, pw.AppendJSON(eventRow(1)))
	files, err := pw.Flush()
	require.NoError(t, err)
	require.Len(t, files, 1)
	require.EqualValues(t, 1, files[0].NumRecords)
}

func TestFileNames(t *testing.T) {
	a, b := FileName(3, CompressionZstd), FileName(3, CompressionZstd)
	require.NotEqual(t, a, b)
	require.Regexp(t, `^part-00003-[0-9a-f-]{36}-c000\.zstd\.parquet$`, a)
	require.Regexp(t, `^part-00000-[0-9a-f-]{36}-c000\.snappy\.parquet$`, FileName(0, CompressionSnappy))
	require.Regexp(t, `^part-00000-[0-9a-f-]{36}-c000\.parquet$`, FileName(0, CompressionUncompressed))
	_, err := NewFileWriter(&bytes.Buffer{}, eventSchema(), WriterOptions{Compression: "lz4"})
	require.ErrorContains(t, err, `compression "lz4"`)
}
