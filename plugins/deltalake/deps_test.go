package deltalake

import (
	"os/exec"
	"strings"
	"testing"
)

// TestTableWriterHasNoBenthosDeps keeps the table writer a library: the
// Benthos glue is output_delta_lake.go alone.
func TestTableWriterHasNoBenthosDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./tablewriter").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./tablewriter: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "github.com/redpanda-data/benthos") {
			t.Errorf("tablewriter depends on %s", dep)
		}
	}
}
