package deltalake

import (
	"testing"

	"github.com/danube-connect/danube-connect/internal/testdeps"
)

// TestTableWriterHasNoBenthosDeps keeps the table writer a library: the
// Benthos glue is output_delta_lake.go alone.
func TestTableWriterHasNoBenthosDeps(t *testing.T) {
	testdeps.Forbid(t, "./tablewriter", "github.com/redpanda-data/benthos")
}
