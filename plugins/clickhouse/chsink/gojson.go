package chsink

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/valyala/fastjson"
)

// goToJSON turns a value produced by a mapping (Bloblang results: nil,
// bool, numbers, string, []byte, time, []any, map[string]any) into a
// fastjson value, so overrides go through the same column conversion.
func goToJSON(a *fastjson.Arena, x any) (*fastjson.Value, error) {
	switch v := x.(type) {
	case nil:
		return a.NewNull(), nil
	case bool:
		if v {
			return a.NewTrue(), nil
		}
		return a.NewFalse(), nil
	case string:
		return a.NewString(v), nil
	case []byte:
		return a.NewStringBytes(v), nil
	case int:
		return a.NewNumberString(strconv.Itoa(v)), nil
	case int32:
		return a.NewNumberString(strconv.FormatInt(int64(v), 10)), nil
	case int64:
		return a.NewNumberString(strconv.FormatInt(v, 10)), nil
	case uint64:
		return a.NewNumberString(strconv.FormatUint(v, 10)), nil
	case uint32:
		return a.NewNumberString(strconv.FormatUint(uint64(v), 10)), nil
	case float32:
		return goToJSON(a, float64(v))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return a.NewString(strconv.FormatFloat(v, 'g', -1, 64)), nil
		}
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return a.NewNumberString(strconv.FormatInt(int64(v), 10)), nil
		}
		return a.NewNumberString(strconv.FormatFloat(v, 'g', -1, 64)), nil
	case json.Number:
		return a.NewNumberString(string(v)), nil
	case time.Time:
		return a.NewString(v.Format(time.RFC3339Nano)), nil
	case []any:
		arr := a.NewArray()
		for i, e := range v {
			ev, err := goToJSON(a, e)
			if err != nil {
				return nil, err
			}
			arr.SetArrayItem(i, ev)
		}
		return arr, nil
	case map[string]any:
		obj := a.NewObject()
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys) // deterministic blocks
		for _, k := range keys {
			ev, err := goToJSON(a, v[k])
			if err != nil {
				return nil, err
			}
			obj.Set(k, ev)
		}
		return obj, nil
	}
	return nil, fmt.Errorf("unsupported mapping result type %T", x)
}
