package parquetfile

import (
	"errors"
	"fmt"
	"io"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// Sink receives one data file; objstore.Upload satisfies it. The file
// becomes visible on Close and is discarded by Abort.
type Sink interface {
	io.Writer
	Close() error
	Abort() error
}

// OpenFunc creates the next data file, returning its sink and the path to
// report in DataFile.Path (e.g. "date=2024-01-01/" + FileName(0, "zstd")).
type OpenFunc func() (Sink, string, error)

// ErrWriterFailed is returned after a storage or encoding error: the rows
// since the last Flush are lost and the caller must Abort.
var ErrWriterFailed = errors.New("partition writer failed; abort it and retry the rows since the last flush")

// PartitionWriter buffers the rows of one (table, partition) and streams
// them into Parquet files: a row group whenever the buffer passes
// RowGroupBytes, a new file whenever the current one passes
// TargetFileSize. Memory is bounded by one row group of Arrow data plus
// the Parquet encoder's pages, whatever the file size. Not safe for
// concurrent use.
type PartitionWriter struct {
	buf  *jsonrows.Buffer
	open OpenFunc
	opts WriterOptions

	cur     *FileWriter
	curSink Sink
	curPath string
	done    []DataFile
	pending int64 // rows since the last Flush
	err     error
}

// NewPartitionWriter streams the rows appended to buf into files created
// by open.
func NewPartitionWriter(buf *jsonrows.Buffer, open OpenFunc, opts WriterOptions) (*PartitionWriter, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &PartitionWriter{buf: buf, open: open, opts: o}, nil
}

// Append adds a decoded row (see Buffer.Append) and writes a row group or
// rolls the file when a threshold is reached.
func (pw *PartitionWriter) Append(r *jsonrows.Row) error {
	if pw.buf == nil {
		return errClosed
	}
	if pw.err != nil {
		return pw.err
	}
	if err := pw.buf.Append(r); err != nil {
		return err
	}
	pw.pending++
	if pw.buf.BufferedBytes() >= pw.opts.RowGroupBytes {
		return pw.writeRowGroup()
	}
	return nil
}

// AppendJSON decodes and appends one row; decode errors leave the writer
// untouched.
func (pw *PartitionWriter) AppendJSON(row []byte, extras ...any) error {
	if pw.buf == nil {
		return errClosed
	}
	r, err := pw.buf.Decoder().Decode(row, extras...)
	if err != nil {
		return err
	}
	return pw.Append(r)
}

var errClosed = errors.New("partition writer is closed")

// BufferedBytes is the Arrow data held in memory, not yet in a row group.
func (pw *PartitionWriter) BufferedBytes() int64 {
	if pw.buf == nil {
		return 0
	}
	return pw.buf.BufferedBytes()
}

// AllocatedBytes is the Arrow memory held by the buffer (see
// Buffer.AllocatedBytes).
func (pw *PartitionWriter) AllocatedBytes() int64 {
	if pw.buf == nil {
		return 0
	}
	return pw.buf.AllocatedBytes()
}

// PendingRows is the number of rows appended since the last Flush.
func (pw *PartitionWriter) PendingRows() int64 { return pw.pending }

// OpenFileBytes is the size written so far of the file being filled.
func (pw *PartitionWriter) OpenFileBytes() int64 {
	if pw.cur == nil {
		return 0
	}
	return pw.cur.BytesWritten()
}

func (pw *PartitionWriter) fail(err error) error {
	pw.err = fmt.Errorf("%w: %v", ErrWriterFailed, err)
	return pw.err
}

func (pw *PartitionWriter) writeRowGroup() error {
	if pw.buf.Rows() == 0 {
		return nil
	}
	if pw.cur == nil {
		sink, path, err := pw.open()
		if err != nil {
			return pw.fail(fmt.Errorf("opening data file: %w", err))
		}
		fw, err := NewFileWriter(sink, pw.buf.Schema(), pw.opts)
		if err != nil {
			_ = sink.Abort()
			return pw.fail(err)
		}
		pw.cur, pw.curSink, pw.curPath = fw, sink, path
	}
	rec := pw.buf.NewRecord()
	err := pw.cur.Write(rec)
	rec.Release()
	if err != nil {
		return pw.fail(fmt.Errorf("data file %s: %w", pw.curPath, err))
	}
	if pw.cur.BytesWritten() >= pw.opts.TargetFileSize {
		return pw.finishFile()
	}
	return nil
}

func (pw *PartitionWriter) finishFile() error {
	if pw.cur == nil {
		return nil
	}
	df, err := pw.cur.Close()
	if err != nil {
		return pw.fail(fmt.Errorf("data file %s: %w", pw.curPath, err))
	}
	if err := pw.curSink.Close(); err != nil {
		return pw.fail(fmt.Errorf("uploading data file %s: %w", pw.curPath, err))
	}
	df.Path = pw.curPath
	pw.done = append(pw.done, df)
	pw.cur, pw.curSink, pw.curPath = nil, nil, ""
	return nil
}

// Flush writes the buffered rows, closes the open file and returns every
// file finished since the previous Flush (none when no rows were added).
// The files are durable but not yet committed: the caller adds them to a
// Delta commit.
func (pw *PartitionWriter) Flush() ([]DataFile, error) {
	if pw.buf == nil {
		return nil, errClosed
	}
	if pw.err != nil {
		return nil, pw.err
	}
	if err := pw.writeRowGroup(); err != nil {
		return nil, err
	}
	if err := pw.finishFile(); err != nil {
		return nil, err
	}
	files := pw.done
	pw.done = nil
	pw.pending = 0
	return files, nil
}

// Abort discards the buffered rows and the open file, and returns the
// files finished since the last Flush: they were uploaded but will never
// be committed (orphans for VACUUM). The writer is usable again afterwards.
func (pw *PartitionWriter) Abort() []DataFile {
	if pw.buf == nil {
		return nil
	}
	if pw.cur != nil {
		_, _ = pw.cur.Close()
		_ = pw.curSink.Abort()
		pw.cur, pw.curSink, pw.curPath = nil, nil, ""
	}
	if pw.buf.Rows() > 0 {
		pw.buf.NewRecord().Release()
	}
	orphans := pw.done
	pw.done, pw.pending, pw.err = nil, 0, nil
	return orphans
}

// Close aborts anything unflushed and releases the buffer. It is
// idempotent.
func (pw *PartitionWriter) Close() {
	if pw.buf == nil {
		return
	}
	pw.Abort()
	pw.buf.Release()
	pw.buf = nil
}
