package verify

import "errors"

// Reasons a request is rejected. Errors returned by the verifiers wrap one of
// these so callers can map them to metrics or HTTP statuses with errors.Is.
var (
	// ErrMissingHeader means a header the scheme needs is absent or empty.
	ErrMissingHeader = errors.New("missing header")
	// ErrDuplicateHeader means a security header was sent more than once
	// (its value holds several lines), which is ambiguous and rejected.
	ErrDuplicateHeader = errors.New("duplicate header")
	// ErrMalformedHeader means a security header does not have the syntax
	// of its scheme.
	ErrMalformedHeader = errors.New("malformed header")
	// ErrInvalidTimestamp means a signed timestamp is not a plain decimal
	// number of at most 12 digits.
	ErrInvalidTimestamp = errors.New("invalid timestamp")
	// ErrTimestampOutsideTolerance means a signed timestamp is too old or too
	// far in the future.
	ErrTimestampOutsideTolerance = errors.New("timestamp outside tolerance")
	// ErrNoSignature means the signature header holds no signature of a
	// version this verifier accepts.
	ErrNoSignature = errors.New("no signature of a supported version")
	// ErrSignatureMismatch means no signature matched any configured key.
	ErrSignatureMismatch = errors.New("signature mismatch")
	// ErrMissingURL means the request URL needed by the scheme is unknown.
	ErrMissingURL = errors.New("missing request URL")
	// ErrBodyHashMismatch means the body does not match the signed body hash.
	ErrBodyHashMismatch = errors.New("body hash mismatch")
	// ErrInvalidBody means the (already authenticated) body lacks a field the
	// scheme needs, such as Linear's webhookTimestamp.
	ErrInvalidBody = errors.New("invalid body")
	// ErrMissingCredential means no API key or token was presented.
	ErrMissingCredential = errors.New("missing credential")
	// ErrInvalidCredential means the presented API key is not known.
	ErrInvalidCredential = errors.New("invalid credential")
)
