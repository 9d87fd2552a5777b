package lancerows

import (
	"bytes"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// The fast path for the vector: a row is mostly its vector (768 numbers are
// ~8 KB of JSON), and a general JSON parser builds a value per element
// before each is converted. Here the vector's bytes are located with a
// scanner that tracks only strings and nesting, its numbers are converted
// in one pass, and the general parser sees the rest of the row with the
// vector replaced by null. Whenever anything is unusual (escaped keys,
// invalid syntax, a bad element), the fast path declines and the general
// path runs, which also words every error; so both accept the same rows.

// locate returns where the value at path in the JSON object b starts; ok
// is false when it cannot tell (not found, escapes in keys, bad syntax).
// The value's end is left to its reader, which scans it anyway.
func locate(b []byte, path []string) (start int, ok bool) {
	i := skipWS(b, 0)
	for depth, key := range path {
		if i >= len(b) || b[i] != '{' {
			return 0, false
		}
		i = skipWS(b, i+1)
		found := false
		for !found {
			if i >= len(b) || b[i] != '"' {
				return 0, false
			}
			ke, escaped := stringEnd(b, i)
			if ke < 0 || escaped {
				return 0, false
			}
			match := string(b[i+1:ke-1]) == key
			i = skipWS(b, ke)
			if i >= len(b) || b[i] != ':' {
				return 0, false
			}
			i = skipWS(b, i+1)
			if match {
				found = true
				break
			}
			ve := valueEnd(b, i)
			if ve < 0 {
				return 0, false
			}
			i = skipWS(b, ve)
			if i >= len(b) || b[i] != ',' {
				return 0, false // end of object: not found
			}
			i = skipWS(b, i+1)
		}
		if depth == len(path)-1 {
			return i, i < len(b)
		}
	}
	return 0, false
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the offset after the string starting at b[i] == '"'
// (-1 if unterminated) and whether it has escapes. Base64 vectors are
// kilobytes long, hence the two single-byte (vectorised) searches.
func stringEnd(b []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j <= len(b); {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return -1, escaped
		}
		k := bytes.IndexByte(b[j:j+q], '\\')
		if k < 0 {
			return j + q + 1, escaped
		}
		escaped = true
		j += k + 2
	}
	return -1, escaped
}

// valueEnd returns the offset after the JSON value starting at b[i], or -1.
// It checks strings and nesting only: the general parser validates the rest.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		e, _ := stringEnd(b, i)
		return e
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, _ := stringEnd(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// fastVector appends the vector starting at row[start] (a JSON array of
// numbers) to b.vecs and returns the offset after it; ok is false (and
// nothing appended) when the general path must decide.
func (b *Builder) fastVector(row []byte, start int) (end int, ok bool) {
	vs := &b.l.vector
	if start >= len(row) || row[start] != '[' {
		return 0, false
	}
	mark := len(b.vecs)
	i := skipWS(row, start+1)
	for n := 0; ; n++ {
		if n == vs.dim {
			if i < len(row) && row[i] == ']' {
				return i + 1, true
			}
			break
		}
		f, w, err := jsonrows.ParseFloatPrefix(row[i:], 32)
		if err != nil || w == 0 || (vs.elem == ElementFloat16 && (f > 65504 || f < -65504)) {
			break
		}
		b.vecs = append(b.vecs, float32(f))
		i = skipWS(row, i+w)
		if n < vs.dim-1 {
			if i >= len(row) || row[i] != ',' {
				break
			}
			i = skipWS(row, i+1)
		}
	}
	b.vecs = b.vecs[:mark]
	return 0, false
}

// fastBase64 decodes the vector starting at row[start] (a JSON string
// without escapes) and returns the offset after it.
func (b *Builder) fastBase64(row []byte, start int) (end int, ok bool) {
	if start >= len(row) || row[start] != '"' {
		return 0, false
	}
	end, escaped := stringEnd(row, start)
	if end < 0 || escaped {
		return 0, false
	}
	mark := len(b.vecs)
	if b.decodeBase64(row[start+1:end-1]) != nil {
		b.vecs = b.vecs[:mark]
		return 0, false
	}
	return end, true
}
