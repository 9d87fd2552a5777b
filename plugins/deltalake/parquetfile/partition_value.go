package parquetfile

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// PartitionValue spells a decoded partition value the way Delta stores it
// in add.partitionValues (the protocol's "Partition Value Serialization"):
// integers in decimal, floats in their shortest form (integral ones below
// 2^53 without a fraction), booleans true/false, dates YYYY-MM-DD,
// timestamps ISO 8601 UTC with microseconds, decimals with their scale,
// strings as they are. Null is nil. This is the only place the table
// writer turns a partition value into text.
func PartitionValue(v jsonrows.Value) *string {
	if v.Null {
		return nil
	}
	var b []byte
	switch t := v.Type.(type) {
	case *arrow.BooleanType:
		b = strconv.AppendBool(b, v.Int != 0)
	case *arrow.Float32Type:
		b = appendFloat(b, v.Float, 32)
	case *arrow.Float64Type:
		b = appendFloat(b, v.Float, 64)
	case *arrow.StringType:
		b = v.Bytes
	case *arrow.BinaryType:
		b = v.Bytes
	case *arrow.Date32Type:
		b = jsonrows.AppendDate(b, v.Int)
	case *arrow.TimestampType:
		b = jsonrows.AppendTimestampMicros(b, jsonrows.ToMicros(v.Int, t.Unit))
	case *arrow.Decimal128Type:
		b = []byte(v.Decimal.ToString(t.Scale))
	default:
		b = strconv.AppendInt(b, v.Int, 10)
	}
	s := string(b)
	return &s
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

// PartitionValueOf spells a Go value (as a Bloblang partition mapping
// returns it) like PartitionValue: strings, booleans, integers, floats,
// json.Number (kept as written), time.Time (as a UTC timestamp) and nil.
func PartitionValueOf(x any) (*string, error) {
	v := jsonrows.Value{}
	switch t := x.(type) {
	case nil:
		return nil, nil
	case string:
		v.Type, v.Bytes = arrow.BinaryTypes.String, []byte(t)
	case json.Number:
		v.Type, v.Bytes = arrow.BinaryTypes.String, []byte(t)
	case bool:
		v.Type = arrow.FixedWidthTypes.Boolean
		if t {
			v.Int = 1
		}
	case int:
		v.Type, v.Int = arrow.PrimitiveTypes.Int64, int64(t)
	case int32:
		v.Type, v.Int = arrow.PrimitiveTypes.Int64, int64(t)
	case int64:
		v.Type, v.Int = arrow.PrimitiveTypes.Int64, t
	case uint64:
		s := strconv.FormatUint(t, 10)
		return &s, nil
	case float32:
		return PartitionValueOf(float64(t))
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, fmt.Errorf("partition value %v is not a finite number", t)
		}
		v.Type, v.Float = arrow.PrimitiveTypes.Float64, t
	case time.Time:
		v.Type, v.Int = arrow.FixedWidthTypes.Timestamp_us, t.UnixMicro()
	default:
		return nil, fmt.Errorf("partition value of type %T is not a scalar", x)
	}
	return PartitionValue(v), nil
}
