package deltalake

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPayloadFormats writes many rows per message in each framing: a bad row
// fails only its message (naming the row), the other messages commit, and
// exactly-once skips a redelivered message as a whole.
func TestPayloadFormats(t *testing.T) {
	for _, format := range []string{"ndjson", "json_array"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			out := newTestOutput(t, fmt.Sprintf("path: %s\npayload_format: %s\nflush_period: 5ms\n", dir, format))
			frame := func(rows ...string) string {
				if format == "ndjson" {
					return strings.Join(rows, "\n") + "\n"
				}
				return "[" + strings.Join(rows, ",") + "]"
			}
			rows := func(from, n int) []string {
				var r []string
				for i := from; i < from+n; i++ {
					r = append(r, fmt.Sprintf(`{"id":%d}`, i))
				}
				return r
			}
			const topic = "/default/pf-part-0"
			batch := service.MessageBatch{
				danubeMsg(frame(rows(0, 30)...), topic, 0),
				danubeMsg(frame(append(rows(30, 5), `{"id":"bad"}`)...), topic, 1),
				danubeMsg(frame(rows(40, 20)...), topic, 2),
			}
			errs := batchErrors(t, batch, out.WriteBatch(context.Background(), batch))
			require.Len(t, errs, 1)
			assert.ErrorContains(t, errs[1], "row 6")
			assert.ErrorContains(t, errs[1], "field id: expected long, got string")

			// Redelivery of message 0 (committed) and a fixed message 1.
			again := service.MessageBatch{
				danubeMsg(frame(rows(0, 30)...), topic, 0),
				danubeMsg(frame(rows(30, 6)...), topic, 1),
			}
			require.NoError(t, out.WriteBatch(context.Background(), again))
			_, got := tableRows(t, dir)
			want := append(append(seq(0, 29), seq(30, 35)...), seq(40, 59)...)
			assert.Equal(t, want, ids(t, got))
		})
	}
}
