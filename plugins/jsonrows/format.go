package jsonrows

import (
	"bytes"
	"errors"
	"fmt"
)

// Format says how one message payload carries rows. It is the
// `payload_format` field of every sink and means the same in each.
type Format uint8

const (
	// FormatJSON is one JSON value (normally an object) per message.
	FormatJSON Format = iota
	// FormatNDJSON is one JSON value per line; blank lines are skipped.
	FormatNDJSON
	// FormatJSONArray is one JSON array per message, one row per element.
	FormatJSONArray
)

// FormatNames lists the accepted `payload_format` values, default first.
var FormatNames = []string{"json", "ndjson", "json_array"}

// ParseFormat maps a `payload_format` value to its Format.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", "json":
		return FormatJSON, nil
	case "ndjson":
		return FormatNDJSON, nil
	case "json_array":
		return FormatJSONArray, nil
	}
	return 0, fmt.Errorf("unknown payload_format %q (want json, ndjson or json_array)", s)
}

func (f Format) String() string {
	if int(f) < len(FormatNames) {
		return FormatNames[f]
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// RowError is the failure of one row of a message: the whole message fails
// with it, naming the row.
type RowError struct {
	Row  int // 1-based row number within the message
	Line int // 1-based line of the row (ndjson only; 0 otherwise)
	Err  error
}

func (e *RowError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("row %d (line %d): %v", e.Row, e.Line, e.Err)
	}
	return fmt.Sprintf("row %d: %v", e.Row, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// ErrEmptyPayload is returned for a `json` message with no content.
var ErrEmptyPayload = errors.New("empty payload: expected one JSON value")

// Each calls fn with the 0-based index and bytes of every row of payload in
// order, and returns how many rows it saw. The row bytes alias payload. An
// error from fn stops the walk and comes back wrapped in a *RowError; a
// payload that cannot be framed (json_array that is not an array, say) fails
// with an error that names the byte offset. Each checks only the framing:
// decoding a row, and so rejecting invalid JSON inside it, is fn's job.
func Each(f Format, payload []byte, fn func(i int, row []byte) error) (int, error) {
	switch f {
	case FormatJSON:
		row := bytes.TrimSpace(payload)
		if len(row) == 0 {
			return 0, &RowError{Row: 1, Err: ErrEmptyPayload}
		}
		if err := fn(0, row); err != nil {
			return 0, &RowError{Row: 1, Err: err}
		}
		return 1, nil
	case FormatNDJSON:
		return eachLine(payload, fn)
	case FormatJSONArray:
		return eachElement(payload, fn)
	}
	return 0, fmt.Errorf("unknown payload format %d", f)
}

// Split returns the rows of payload appended to dst (see Each).
func Split(f Format, payload []byte, dst [][]byte) ([][]byte, error) {
	_, err := Each(f, payload, func(_ int, row []byte) error {
		dst = append(dst, row)
		return nil
	})
	return dst, err
}

func eachLine(payload []byte, fn func(int, []byte) error) (int, error) {
	n, line := 0, 0
	for len(payload) > 0 {
		line++
		var row []byte
		if i := bytes.IndexByte(payload, '\n'); i >= 0 {
			row, payload = payload[:i], payload[i+1:]
		} else {
			row, payload = payload, nil
		}
		row = bytes.TrimSpace(row)
		if len(row) == 0 {
			continue
		}
		if err := fn(n, row); err != nil {
			return n, &RowError{Row: n + 1, Line: line, Err: err}
		}
		n++
	}
	return n, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// eachElement frames the top-level elements of a JSON array without
// decoding them: it tracks strings and nesting only.
func eachElement(b []byte, fn func(int, []byte) error) (int, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		if i >= len(b) {
			return 0, errors.New("json_array payload is empty: expected a JSON array")
		}
		return 0, fmt.Errorf("json_array payload is not a JSON array: byte %d is %q", i, b[i])
	}
	i = skipSpace(b, i+1)
	n := 0
	if i < len(b) && b[i] == ']' {
		return 0, trailing(b, i+1)
	}
	for {
		if i >= len(b) {
			return n, fmt.Errorf("json_array payload ends inside the array (after %d rows)", n)
		}
		end, err := valueEnd(b, i)
		if err != nil {
			return n, &RowError{Row: n + 1, Err: err}
		}
		if err := fn(n, b[i:end]); err != nil {
			return n, &RowError{Row: n + 1, Err: err}
		}
		n++
		i = skipSpace(b, end)
		if i >= len(b) {
			return n, fmt.Errorf("json_array payload ends inside the array (after %d rows)", n)
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == ']' {
				return n, fmt.Errorf("json_array payload has a trailing comma before byte %d", i)
			}
		case ']':
			return n, trailing(b, i+1)
		default:
			return n, fmt.Errorf("json_array payload: expected ',' or ']' at byte %d, found %q", i, b[i])
		}
	}
}

func trailing(b []byte, i int) error {
	if j := skipSpace(b, i); j < len(b) {
		return fmt.Errorf("json_array payload has data after the array at byte %d", j)
	}
	return nil
}

// valueEnd returns the offset just past the JSON value starting at b[i].
func valueEnd(b []byte, i int) (int, error) {
	start := i
	depth := 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			j, err := stringEnd(b, i)
			if err != nil {
				return 0, err
			}
			i = j
			if depth == 0 {
				return i, nil
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				if i == start {
					return 0, fmt.Errorf("unexpected %q at byte %d", c, i)
				}
				return i, nil
			}
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		case ',':
			if depth == 0 {
				if i == start {
					return 0, fmt.Errorf("empty element at byte %d", i)
				}
				return i, nil
			}
		default:
			if depth == 0 && isSpace(c) {
				return i, nil
			}
		}
		i++
	}
	if depth > 0 {
		return 0, fmt.Errorf("unterminated value starting at byte %d", start)
	}
	return i, nil
}

func stringEnd(b []byte, i int) (int, error) {
	start := i
	i++
	for i < len(b) {
		switch b[i] {
		case '\\':
			i += 2
			continue
		case '"':
			return i + 1, nil
		}
		i++
	}
	return 0, fmt.Errorf("unterminated string starting at byte %d", start)
}
