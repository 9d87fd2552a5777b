package ingest

import (
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Trailer keys GreptimeDB sets on failed requests.
const (
	TrailerErrCode = "x-greptime-err-code"
	TrailerErrMsg  = "x-greptime-err-msg"
)

// GreptimeDB status codes (common_error StatusCode) the classification uses.
const (
	CodeInvalidArguments   = 1004
	CodeInvalidSyntax      = 2000
	CodeTableNotFound      = 4001
	CodeColumnNotFound     = 4002
	CodeColumnExists       = 4003
	CodeDatabaseNotFound   = 4004
	CodeRegionNotReady     = 4008
	CodeRegionBusy         = 4009
	CodeTableUnavailable   = 4010
	CodeStorageUnavailable = 5000
	CodeResourcesExhausted = 6000
	CodeRateLimited        = 6001
	CodeUserNotFound       = 7000
	CodePermissionDenied   = 7006
)

// Class says what a failed write means for its rows.
type Class uint8

const (
	// ClassRetry: transient; the same request may succeed later.
	ClassRetry Class = iota
	// ClassRows: the server rejected data (schema, types, names): only the rows at
	// fault should fail, found by splitting the request.
	ClassRows
	// ClassBatch: nothing in the request can succeed as configured (auth, unknown
	// database, timeout, unexpected answer): every message fails.
	ClassBatch
)

// Error is a failed write.
type Error struct {
	Code         codes.Code // gRPC status code (OK when the failure was in the response header)
	GreptimeCode int        // x-greptime-err-code or the response status code; 0 if none
	Msg          string
	InStatus     bool // carried by ResponseHeader.status of a successful RPC
	Mismatch     bool // affected rows differ from rows sent
}

func (e *Error) Error() string {
	switch {
	case e.Mismatch:
		return e.Msg
	case e.InStatus:
		return fmt.Sprintf("greptime status %d: %s", e.GreptimeCode, e.Msg)
	case e.GreptimeCode != 0:
		return fmt.Sprintf("greptime %s (code %d): %s", e.Code, e.GreptimeCode, e.Msg)
	}
	return fmt.Sprintf("greptime %s: %s", e.Code, e.Msg)
}

// Label names the error for metrics: the GreptimeDB code when there is one,
// else the gRPC code.
func (e *Error) Label() string {
	if e.Mismatch {
		return "affected_rows_mismatch"
	}
	if e.GreptimeCode != 0 {
		return strconv.Itoa(e.GreptimeCode)
	}
	return e.Code.String()
}

// Class classifies the error. The GreptimeDB code decides when present:
// gRPC codes are coarser (RegionBusy and RateLimited are both
// ResourceExhausted).
func (e *Error) Class() Class {
	if e.Mismatch {
		return ClassBatch
	}
	switch e.GreptimeCode {
	case 0:
	case CodeRegionNotReady, CodeRegionBusy, CodeTableUnavailable, CodeStorageUnavailable, CodeResourcesExhausted:
		return ClassRetry
	case CodeInvalidArguments, CodeInvalidSyntax, CodeTableNotFound, CodeColumnNotFound, CodeColumnExists:
		return ClassRows
	default:
		return ClassBatch
	}
	switch e.Code {
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.Unknown:
		return ClassRetry
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.FailedPrecondition, codes.OutOfRange:
		return ClassRows
	}
	return ClassBatch
}

// ClassOf classifies any error; errors that are not *Error (contexts) are
// Batch.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class()
	}
	return ClassBatch
}

func fromRPC(err error, trailer metadata.MD) *Error {
	st, _ := status.FromError(err)
	e := &Error{Code: st.Code(), Msg: st.Message()}
	if v := trailer.Get(TrailerErrCode); len(v) > 0 {
		e.GreptimeCode, _ = strconv.Atoi(v[0])
	}
	if v := trailer.Get(TrailerErrMsg); len(v) > 0 && v[0] != "" && e.Msg == "" {
		e.Msg = v[0]
	}
	return e
}
