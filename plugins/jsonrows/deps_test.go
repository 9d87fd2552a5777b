package jsonrows

import (
	"testing"

	"github.com/danube-connect/danube-connect/internal/testdeps"
)

// TestJSONRowsHasNoSinkDeps keeps the package sink-neutral: every sink may
// import it, so it must not pull in Benthos, a sink or a Parquet writer.
func TestJSONRowsHasNoSinkDeps(t *testing.T) {
	testdeps.Forbid(t, ".", "github.com/redpanda-data/benthos", "/plugins/deltalake", "arrow-go/v18/parquet")
}
