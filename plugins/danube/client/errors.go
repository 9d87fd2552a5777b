package client

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrClosed is returned by operations on a closed Client, Producer or Consumer.
var ErrClosed = errors.New("danube: closed")

// Error is a failed Danube operation. The broker reports failures as a bare
// gRPC status code plus text, so Code and Message are all the information
// there is; Op and Topic say what the client was doing when it failed.
type Error struct {
	Op      string     // e.g. "send", "create producer", "subscribe", "lookup"
	Topic   string     // the topic (or partition) involved, when there is one
	Code    codes.Code // gRPC status code from the broker or the transport
	Message string     // the broker's (or transport's) message text
	cause   error
}

func (e *Error) Error() string {
	if e.Topic != "" {
		return fmt.Sprintf("danube %s on topic %s: %s: %s", e.Op, e.Topic, e.Code, e.Message)
	}
	return fmt.Sprintf("danube %s: %s: %s", e.Op, e.Code, e.Message)
}

// Unwrap returns the underlying gRPC error, if any.
func (e *Error) Unwrap() error { return e.cause }

// GRPCStatus lets status.FromError/status.Code see through an *Error.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// wrapError converts any error returned by a gRPC call into an *Error. A nil
// error stays nil; an *Error is returned unchanged.
func wrapError(op, topic string, err error) error {
	if err == nil {
		return nil
	}
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		code := codes.Canceled
		if errors.Is(err, context.DeadlineExceeded) {
			code = codes.DeadlineExceeded
		}
		return &Error{Op: op, Topic: topic, Code: code, Message: err.Error(), cause: err}
	}
	st, ok := status.FromError(err)
	if !ok {
		return &Error{Op: op, Topic: topic, Code: codes.Unknown, Message: err.Error(), cause: err}
	}
	return &Error{Op: op, Topic: topic, Code: st.Code(), Message: st.Message(), cause: err}
}

func errorCode(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var de *Error
	if errors.As(err, &de) {
		return de.Code
	}
	return status.Code(err)
}

// IsRetryable reports whether err is a transient failure that the official
// Danube clients retry with backoff: Unavailable (also used by the broker to
// signal "redo the lookup"), DeadlineExceeded and ResourceExhausted.
func IsRetryable(err error) bool {
	switch errorCode(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return true
	}
	return false
}

// IsPermanent reports whether retrying the same request cannot succeed
// without a change of configuration or broker state: bad topic names,
// unknown topics, denied permissions, schema conflicts, bad credentials.
func IsPermanent(err error) bool {
	switch errorCode(err) {
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied,
		codes.FailedPrecondition, codes.Unauthenticated, codes.Unimplemented, codes.OutOfRange:
		return true
	}
	return false
}
