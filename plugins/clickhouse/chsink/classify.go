package chsink

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	sqldriver "database/sql/driver"
	"github.com/ClickHouse/clickhouse-go/v2"
)

// Server error codes the sink treats specially (ClickHouse ErrorCodes.cpp).
const (
	codeNoSuchColumnInTable = 16
	codeUnknownIdentifier   = 47
	codeTypeMismatch        = 53
	codeUnknownTable        = 60
	codeUnknownDatabase     = 81
	codeThereIsNoColumn     = 8
	codeNotFoundColumn      = 10
	codeUnknownSetting      = 115
)

// retryCodes are transient server errors: the identical block is sent
// again. (Timeouts, network, too many parts, memory limits, read-only or
// lost replicas, unknown status of insert, keeper errors.)
var retryCodes = map[int32]bool{
	3: true, 159: true, 164: true, 202: true, 203: true, 209: true, 210: true,
	241: true, 242: true, 252: true, 285: true, 319: true, 425: true, 999: true, 1002: true,
}

// schemaCodes mean the cached schema may be stale: re-read it and rebuild
// the block once.
var schemaCodes = map[int32]bool{
	codeThereIsNoColumn: true, codeNotFoundColumn: true, codeNoSuchColumnInTable: true,
	codeUnknownIdentifier: true, codeTypeMismatch: true, codeUnknownTable: true,
}

// dataCodes are server errors about the values of some rows (parse and
// type errors, out-of-range values, a throwIf in a DEFAULT expression, a
// CHECK constraint): a block failing with one is split to find the rows.
var dataCodes = map[int32]bool{
	6: true, 26: true, 27: true, 38: true, 41: true, 53: true, 69: true, 70: true, 72: true,
	117: true, 190: true, 321: true, 395: true, 407: true, 469: true,
}

// isolatable reports whether a final insert error may come from some of
// the block's messages only, so sending them apart can save the others.
func isolatable(err error) bool {
	return dataCodes[ServerCode(err)] || errors.Is(err, errFill)
}

// ErrClass is what the sink does after a failed insert.
type ErrClass uint8

const (
	// ClassFatal fails the block's messages; sending again cannot help
	// (parse/type errors, unknown table after a refresh, bad settings).
	ClassFatal ErrClass = iota
	// ClassRetry sends the identical block again after a backoff.
	ClassRetry
	// ClassSchema re-reads the table's schema and rebuilds the block.
	ClassSchema
)

func (c ErrClass) String() string {
	return [...]string{"fatal", "retry", "schema"}[c]
}

// ServerCode is the ClickHouse exception code in err, or 0.
func ServerCode(err error) int32 {
	var exc *clickhouse.Exception
	if errors.As(err, &exc) {
		return exc.Code
	}
	return 0
}

// Classify sorts an insert error.
func Classify(err error) ErrClass {
	if err == nil {
		return ClassFatal
	}
	if errors.Is(err, context.Canceled) {
		return ClassFatal
	}
	// The driver refused a buffered value for the column's type: the type
	// may have changed since the schema was read.
	if errors.Is(err, errFill) {
		return ClassSchema
	}
	if code := ServerCode(err); code != 0 {
		switch {
		case retryCodes[code]:
			return ClassRetry
		case schemaCodes[code]:
			return ClassSchema
		}
		return ClassFatal
	}
	// The driver found the listed columns missing from the server's header.
	if strings.Contains(err.Error(), "missing columns in requested order") {
		return ClassSchema
	}
	if errors.Is(err, clickhouse.ErrAcquireConnTimeout) || errors.Is(err, sqldriver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, clickhouse.ErrConnectionClosed) {
		return ClassRetry
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return ClassRetry
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return ClassRetry
	}
	return ClassFatal
}
