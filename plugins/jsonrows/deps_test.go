package jsonrows

import (
	"os/exec"
	"strings"
	"testing"
)

// TestJSONRowsHasNoSinkDeps keeps the package sink-neutral: every sink may
// import it, so it must not pull in Benthos, a sink or a Parquet writer.
func TestJSONRowsHasNoSinkDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/redpanda-data/benthos", "/plugins/deltalake", "arrow-go/v18/parquet"} {
			if strings.Contains(dep, banned) {
				t.Errorf("jsonrows depends on %s", dep)
			}
		}
	}
}
