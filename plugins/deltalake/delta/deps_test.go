package delta

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/internal/testdeps"
)

const modulePrefix = "github.com/danube-connect/danube-connect/"

// logCoreAllowedDeps are the only packages of this module the log core may
// import: it reads and writes the transaction log on an object store and
// nothing else. The Parquet writer layer (data files), the operations on
// data files (deltaops), the table writer and Benthos all sit above it.
var logCoreAllowedDeps = map[string]bool{
	modulePrefix + "plugins/deltalake/delta":    true,
	modulePrefix + "plugins/deltalake/objstore": true,
}

// disallowed returns the deps that break the log core's boundary.
func disallowed(deps []string) []string {
	var bad []string
	for _, d := range deps {
		if strings.HasPrefix(d, modulePrefix) && !logCoreAllowedDeps[d] {
			bad = append(bad, d)
		}
		if strings.HasPrefix(d, "github.com/redpanda-data/benthos") {
			bad = append(bad, d)
		}
	}
	return bad
}

// TestDeltaLogCoreHasNoWriterDeps checks the dependency boundary of the log
// core with `go list -deps`: besides objstore it imports nothing of this
// module (no Parquet writer layer, no deltaops, no table writer) and no
// Benthos. Checkpoints are Parquet files, which the core encodes and decodes
// with arrow-go's parquet packages directly; only the checkpoint codec files
// may import those.
func TestDeltaLogCoreHasNoWriterDeps(t *testing.T) {
	deps := testdeps.Deps(t, ".")
	require.Contains(t, deps, modulePrefix+"plugins/deltalake/objstore", "go list returned the core's dependencies")
	assert.Empty(t, disallowed(deps), "the log core must not depend on these")

	// The check can fail: the operations package does depend on the writer layer.
	assert.NotEmpty(t, disallowed(testdeps.Deps(t, "../deltaops")), "deltaops merges data files with the Parquet writer")

	// Parquet in the core is the checkpoint codec and nothing else.
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	parquetUsers := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/apache/arrow-go/v18/parquet") {
				parquetUsers[f] = true
			}
		}
	}
	require.NotEmpty(t, parquetUsers)
	for f := range parquetUsers {
		assert.Contains(t, []string{"checkpoint_read.go", "checkpoint_encode.go"}, f, "only the checkpoint codec imports parquet")
	}
}
