package greptime

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLibraryPackagesHaveNoBenthosDeps keeps Benthos in the glue: the
// mapping, the protocol, the codec and the test double are usable (and
// testable) without it.
func TestLibraryPackagesHaveNoBenthosDeps(t *testing.T) {
	for _, pkg := range []string{"./mapping", "./ingest", "./grpczstd", "./greptimetest"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.Contains(dep, "github.com/redpanda-data/benthos") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
