package mapping

import gpb "github.com/GreptimeTeam/greptime-proto/go/greptime/v1"

// slab hands out protobuf values from chunks, so that a row costs a few
// allocations per batch chunk instead of two per value. The values live as
// long as the batch.
type slab struct {
	rows  []gpb.Row
	ptrs  []*gpb.Value
	vals  []gpb.Value
	i64   []gpb.Value_I64Value
	u64   []gpb.Value_U64Value
	f64   []gpb.Value_F64Value
	bools []gpb.Value_BoolValue
	strs  []gpb.Value_StringValue
	bins  []gpb.Value_BinaryValue
	tsMs  []gpb.Value_TimestampMillisecondValue
	tsUs  []gpb.Value_TimestampMicrosecondValue
	tsNs  []gpb.Value_TimestampNanosecondValue
}

const slabChunk = 512

func take[T any](s *[]T) *T {
	if len(*s) == 0 {
		*s = make([]T, slabChunk)
	}
	v := &(*s)[0]
	*s = (*s)[1:]
	return v
}

func (s *slab) row() *gpb.Row     { return take(&s.rows) }
func (s *slab) value() *gpb.Value { return take(&s.vals) }

// values returns n nil value pointers; appending past n reallocates, so
// neighbours in the chunk are never overwritten.
func (s *slab) values(n int) []*gpb.Value {
	if len(s.ptrs) < n {
		s.ptrs = make([]*gpb.Value, max(n, slabChunk*8))
	}
	v := s.ptrs[:n:n]
	s.ptrs = s.ptrs[n:]
	return v
}

func (s *slab) cellValue(c *cell) *gpb.Value {
	v := s.value()
	switch c.kind {
	case kInt:
		w := take(&s.i64)
		w.I64Value = c.i
		v.ValueData = w
	case kUint:
		w := take(&s.u64)
		w.U64Value = c.u
		v.ValueData = w
	case kFloat:
		w := take(&s.f64)
		w.F64Value = c.f
		v.ValueData = w
	case kBool:
		w := take(&s.bools)
		w.BoolValue = c.b
		v.ValueData = w
	case kString:
		w := take(&s.strs)
		w.StringValue = c.s
		v.ValueData = w
	case kBinary:
		w := take(&s.bins)
		w.BinaryValue = c.bin
		v.ValueData = w
	case kTime:
		switch c.dt {
		case gpb.ColumnDataType_TIMESTAMP_MICROSECOND:
			w := take(&s.tsUs)
			w.TimestampMicrosecondValue = c.i
			v.ValueData = w
		case gpb.ColumnDataType_TIMESTAMP_NANOSECOND:
			w := take(&s.tsNs)
			w.TimestampNanosecondValue = c.i
			v.ValueData = w
		default:
			w := take(&s.tsMs)
			w.TimestampMillisecondValue = c.i
			v.ValueData = w
		}
	}
	return v
}
