package diskqueue

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Record is one message: its payload and every metadata key with its value.
type Record struct {
	Payload []byte
	Meta    []Meta
}

// Meta is one metadata entry. Value keeps its type across a store and load
// when it is nil, a string, []byte, bool, a signed or unsigned integer (read
// back as int64 or uint64), a float (float64) or a time.Time; any other value
// is stored as JSON and read back as what encoding/json decodes it into
// (map[string]any, []any, float64, ...).
type Meta struct {
	Key   string
	Value any
}

// entryVersion is the first byte of every stored entry, so that a future
// layout can be told apart from this one.
const entryVersion = 1

// Value type tags.
const (
	tagNil byte = iota
	tagString
	tagBytes
	tagBool
	tagInt
	tagUint
	tagFloat
	tagTime
	tagJSON
)

// encodeEntry lays out a batch of records as one stored entry:
//
//	version byte, uvarint record count, then per record:
//	uvarint meta count, per meta: uvarint key length, key, tag, value,
//	then uvarint payload length, payload.
//
// Strings, byte slices and JSON values are length-prefixed (uvarint);
// integers are varints, floats 8 bytes, times varint Unix nanoseconds.
func encodeEntry(dst []byte, recs []Record) ([]byte, error) {
	dst = append(dst, entryVersion)
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	for ri, r := range recs {
		dst = binary.AppendUvarint(dst, uint64(len(r.Meta)))
		for _, m := range r.Meta {
			dst = appendBytes(dst, []byte(m.Key))
			var err error
			if dst, err = appendValue(dst, m.Value); err != nil {
				return nil, fmt.Errorf("record %d, metadata %q: %w", ri, m.Key, err)
			}
		}
		dst = appendBytes(dst, r.Payload)
	}
	return dst, nil
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendValue(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, tagNil), nil
	case string:
		return appendBytes(append(dst, tagString), []byte(x)), nil
	case []byte:
		return appendBytes(append(dst, tagBytes), x), nil
	case bool:
		b := byte(0)
		if x {
			b = 1
		}
		return append(dst, tagBool, b), nil
	case int:
		return binary.AppendVarint(append(dst, tagInt), int64(x)), nil
	case int8:
		return binary.AppendVarint(append(dst, tagInt), int64(x)), nil
	case int16:
		return binary.AppendVarint(append(dst, tagInt), int64(x)), nil
	case int32:
		return binary.AppendVarint(append(dst, tagInt), int64(x)), nil
	case int64:
		return binary.AppendVarint(append(dst, tagInt), x), nil
	case uint:
		return binary.AppendUvarint(append(dst, tagUint), uint64(x)), nil
	case uint8:
		return binary.AppendUvarint(append(dst, tagUint), uint64(x)), nil
	case uint16:
		return binary.AppendUvarint(append(dst, tagUint), uint64(x)), nil
	case uint32:
		return binary.AppendUvarint(append(dst, tagUint), uint64(x)), nil
	case uint64:
		return binary.AppendUvarint(append(dst, tagUint), x), nil
	case float32:
		return binary.BigEndian.AppendUint64(append(dst, tagFloat), math.Float64bits(float64(x))), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(dst, tagFloat), math.Float64bits(x)), nil
	case time.Time:
		return binary.AppendVarint(append(dst, tagTime), x.UnixNano()), nil
	default:
		j, err := json.Marshal(x)
		if err != nil {
			return nil, fmt.Errorf("value of type %T cannot be stored: %w", v, err)
		}
		return appendBytes(append(dst, tagJSON), j), nil
	}
}

var errTruncated = errors.New("entry is truncated")

// entryReader decodes an entry; the first failure sticks in err.
type entryReader struct {
	b   []byte
	err error
}

func (r *entryReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *entryReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *entryReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *entryReader) byte1() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 1 {
		r.fail(errTruncated)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// bytes returns a copy: stored entries live in memory the store reuses.
func (r *entryReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)) < n {
		r.fail(errTruncated)
		return nil
	}
	out := make([]byte, n)
	copy(out, r.b[:n])
	r.b = r.b[n:]
	return out
}

func (r *entryReader) value() any {
	switch tag := r.byte1(); tag {
	case tagNil:
		return nil
	case tagString:
		return string(r.bytes())
	case tagBytes:
		return r.bytes()
	case tagBool:
		return r.byte1() == 1
	case tagInt:
		return r.varint()
	case tagUint:
		return r.uvarint()
	case tagFloat:
		if len(r.b) < 8 {
			r.fail(errTruncated)
			return nil
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(r.b))
		r.b = r.b[8:]
		return f
	case tagTime:
		return time.Unix(0, r.varint()).UTC()
	case tagJSON:
		raw := r.bytes()
		if r.err != nil {
			return nil
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			r.fail(fmt.Errorf("metadata JSON value: %w", err))
		}
		return v
	default:
		if r.err == nil {
			r.fail(fmt.Errorf("unknown metadata value tag %d", tag))
		}
		return nil
	}
}

// entryRecordCount reads the record count of a stored entry without decoding it.
func entryRecordCount(b []byte) (int, error) {
	r := entryReader{b: b}
	if v := r.byte1(); r.err == nil && v != entryVersion {
		return 0, fmt.Errorf("unknown entry version %d", v)
	}
	n := r.uvarint()
	if r.err != nil {
		return 0, r.err
	}
	return int(n), nil
}

// decodeEntry appends the records of a stored entry to dst; it copies
// everything it keeps.
func decodeEntry(dst []Record, b []byte) ([]Record, error) {
	r := entryReader{b: b}
	if v := r.byte1(); r.err == nil && v != entryVersion {
		return dst, fmt.Errorf("unknown entry version %d", v)
	}
	n := r.uvarint()
	// Every record takes at least two bytes, which bounds a corrupt count.
	if r.err == nil && n > uint64(len(r.b)) {
		r.fail(errTruncated)
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		nm := r.uvarint()
		if r.err == nil && nm > uint64(len(r.b)) {
			r.fail(errTruncated)
		}
		var rec Record
		if nm > 0 && r.err == nil {
			rec.Meta = make([]Meta, 0, nm)
		}
		for j := uint64(0); j < nm && r.err == nil; j++ {
			k := string(r.bytes())
			v := r.value()
			rec.Meta = append(rec.Meta, Meta{Key: k, Value: v})
		}
		rec.Payload = r.bytes()
		dst = append(dst, rec)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Errorf("%d unexpected bytes after the last record", len(r.b)))
	}
	return dst, r.err
}
