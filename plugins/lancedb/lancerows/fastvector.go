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

// locate returns the span of the value at path in the JSON object b; ok is
// false when it cannot tell (not found, escapes in keys, bad syntax).
func locate(b []byte, path []string) (start, end int, ok bool) {
	i := skipWS(b, 0)
	for depth, key := range path {
		if i >= len(b) || b[i] != '{' {
			return 0, 0, false
		}
		i = skipWS(b, i+1)
		found := false
		for !found {
			if i >= len(b) || b[i] != '"' {
				return 0, 0, false
			}
			ke, escaped := stringEnd(b, i)
			if ke < 0 || escaped {
				return 0, 0, false
			}
			match := string(b[i+1:ke-1]) == key
			i = skipWS(b, ke)
			if i >= len(b) || b[i] != ':' {
				return 0, 0, false
			}
			i = skipWS(b, i+1)
			if match {
				found = true
				break
			}
			ve := valueEnd(b, i)
			if ve < 0 {
				return 0, 0, false
			}
			i = skipWS(b, ve)
			if i >= len(b) || b[i] != ',' {
				return 0, 0, false // end of object: not found
			}
			i = skipWS(b, i+1)
		}
		if depth == len(path)-1 {
			ve := valueEnd(b, i)
			if ve < 0 {
				return 0, 0, false
			}
			return i, ve, true
		}
	}
	return 0, 0, false
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the offset after the string starting at b[i] == '"'
// (-1 if unterminated) and whether it has escapes.
func stringEnd(b []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(b); {
		k := bytes.IndexAny(b[j:], `"\`)
		if k < 0 {
			return -1, escaped
		}
		j += k
		if b[j] == '\\' {
			escaped = true
			j += 2
			continue
		}
		return j + 1, escaped
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

// fastVector appends the vector in span (a JSON array of numbers) to
// b.vecs; false (and nothing appended) when the general path must decide.
func (b *Builder) fastVector(span []byte) bool {
	vs := &b.l.vector
	if len(span) < 2 || span[0] != '[' || span[len(span)-1] != ']' {
		return false
	}
	mark := len(b.vecs)
	i := skipWS(span, 1)
	for n := 0; ; n++ {
		if n == vs.dim {
			if i == len(span)-1 {
				return true
			}
			break
		}
		if i >= len(span) || (span[i] != '-' && (span[i] < '0' || span[i] > '9')) {
			break
		}
		j := i + 1
		for j < len(span) && (span[j] >= '0' && span[j] <= '9' || span[j] == '.' || span[j] == 'e' || span[j] == 'E' || span[j] == '-' || span[j] == '+') {
			j++
		}
		f, err := jsonrows.ParseFloat(span[i:j], 32)
		if err != nil || (vs.elem == ElementFloat16 && (f > 65504 || f < -65504)) {
			break
		}
		b.vecs = append(b.vecs, float32(f))
		i = skipWS(span, j)
		if n < vs.dim-1 {
			if i >= len(span) || span[i] != ',' {
				break
			}
			i = skipWS(span, i+1)
		}
	}
	b.vecs = b.vecs[:mark]
	return false
}

// fastBase64 decodes the vector in span (a JSON string without escapes).
func (b *Builder) fastBase64(span []byte) bool {
	if len(span) < 2 || span[0] != '"' || span[len(span)-1] != '"' || bytes.IndexByte(span[1:len(span)-1], '\\') >= 0 {
		return false
	}
	mark := len(b.vecs)
	if b.decodeBase64(span[1:len(span)-1]) != nil {
		b.vecs = b.vecs[:mark]
		return false
	}
	return true
}
