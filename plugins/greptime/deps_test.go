package greptime

import (
	"testing"

	"github.com/danube-connect/danube-connect/internal/testdeps"
)

// TestLibraryPackagesHaveNoBenthosDeps keeps Benthos in the glue: the
// mapping, the protocol, the codec and the test double are usable (and
// testable) without it.
func TestLibraryPackagesHaveNoBenthosDeps(t *testing.T) {
	for _, pkg := range []string{"./mapping", "./ingest", "./grpczstd", "./greptimetest"} {
		testdeps.Forbid(t, pkg, "github.com/redpanda-data/benthos")
	}
}
