//go:build lancedb

package lancestore

/*
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// From lancedb-go v0.1.2's include/lancedb.h (the library's C interface).
typedef struct SimpleResult {
	bool SUCCESS;
	char *ERROR_MESSAGE;
} SimpleResult;

struct SimpleResult *simple_lancedb_table_add_ipc(void *table_handle, const uint8_t *ipc_data, size_t ipc_len, int64_t *added_count);
void simple_lancedb_result_free(struct SimpleResult *result);
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/lancedb/lancedb-go/pkg/contracts"

	"github.com/danube-connect/danube-connect/plugins/lancedb/lancerows"
)

// lancedb-go's Table.AddRecords serialises each record to Arrow IPC in a
// new, unsized bytes.Buffer, which grows by doubling: for a batch of
// megabytes that is two or three fresh buffers and copies per add, the
// largest share of this output's own CPU for large messages and ~15 MB of
// its peak memory at 1536-d. addIPC makes the same native call
// (simple_lancedb_table_add_ipc, same IPC file format) from a presized
// buffer, reused and outside the Go heap. It needs the table's native
// handle, which lancedb-go keeps in an unexported field: tableHandle reads
// it by reflection and returns nil when the type differs from v0.1.2's;
// every add then goes through AddRecords as before, and TestDirectAddPath
// fails, so an upgrade cannot lose the fast path unnoticed.

// tableHandle returns the native table handle of a lancedb-go table, or
// nil when t is not the v0.1.2 implementation.
func tableHandle(t contracts.ITable) unsafe.Pointer {
	v := reflect.ValueOf(t)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	if v.Elem().Type().String() != "internal.Table" {
		return nil
	}
	f := v.Elem().FieldByName("handle")
	if !f.IsValid() || f.Kind() != reflect.UnsafePointer {
		return nil
	}
	return f.UnsafePointer()
}

// newIPCMemory returns the allocator of a backend's IPC buffers: outside
// the Go heap and reused between adds (a few native calls run at once).
// The backend closes it, unmapping the kept buffers; a buffer of an add
// still running then is unmapped when that add frees it.
func newIPCMemory() *lancerows.Recycler { return lancerows.NewRecycler(4) }

// ipcBuffer is an in-memory io.WriteSeeker (the IPC file writer asks for
// its position once) over memory from mem.
type ipcBuffer struct {
	mem *lancerows.Recycler
	buf []byte
	n   int
}

func (b *ipcBuffer) Write(p []byte) (int, error) {
	if b.n+len(p) > len(b.buf) {
		b.buf = b.mem.Reallocate(max(2*len(b.buf), b.n+len(p)), b.buf)
	}
	b.n += copy(b.buf[b.n:], p)
	return len(p), nil
}

func (b *ipcBuffer) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekCurrent {
		return 0, errors.New("ipcBuffer: only the current position can be asked")
	}
	return int64(b.n), nil
}

// ipcSize is an upper estimate of rec's IPC size: its buffers, plus room
// for the schema, the message headers and padding.
func ipcSize(rec arrow.Record) int {
	n := 64 << 10
	var walk func(d arrow.ArrayData)
	walk = func(d arrow.ArrayData) {
		for _, b := range d.Buffers() {
			if b != nil {
				n += b.Len() + 64
			}
		}
		for _, c := range d.Children() {
			walk(c)
		}
	}
	for _, c := range rec.Columns() {
		walk(c.Data())
	}
	return n
}

// addIPC appends rec to the table behind handle in one native call, in an
// IPC buffer from mem.
func addIPC(mem *lancerows.Recycler, handle unsafe.Pointer, rec arrow.Record) error {
	buf := &ipcBuffer{mem: mem, buf: mem.AllocateUninit(ipcSize(rec))}
	defer func() { mem.Free(buf.buf) }()
	w, err := ipc.NewFileWriter(buf, ipc.WithSchema(rec.Schema()))
	if err != nil {
		return fmt.Errorf("creating the IPC writer: %w", err)
	}
	if err := w.Write(rec); err != nil {
		_ = w.Close()
		return fmt.Errorf("writing the record as IPC: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("writing the record as IPC: %w", err)
	}
	data := buf.buf[:buf.n]
	var added C.int64_t
	res := C.simple_lancedb_table_add_ipc(handle, (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(data))), C.size_t(len(data)), &added)
	if res == nil {
		return errors.New("failed to add records: no result from the native library")
	}
	defer C.simple_lancedb_result_free(res)
	if !bool(res.SUCCESS) {
		if res.ERROR_MESSAGE != nil {
			return fmt.Errorf("failed to add records: %s", C.GoString(res.ERROR_MESSAGE))
		}
		return errors.New("failed to add records: unknown error")
	}
	if int64(added) != rec.NumRows() {
		return fmt.Errorf("the native library reports %d rows added of %d", int64(added), rec.NumRows())
	}
	return nil
}
