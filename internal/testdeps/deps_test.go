package testdeps

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

const module = "github.com/danube-connect/danube-connect/"

func TestForbidReportsBannedDeps(t *testing.T) {
	r := &recorder{TB: t}
	Forbid(r, "../testmetrics", "github.com/redpanda-data/benthos", "/internal/testnet")
	assert.NotEmpty(t, r.errs, "testmetrics implements a Benthos metrics exporter")
	for _, e := range r.errs {
		assert.Contains(t, e, module+"internal/testmetrics depends on github.com/redpanda-data/benthos")
		assert.Contains(t, e, "(banned: github.com/redpanda-data/benthos)")
	}
}

func TestForbidPassesAllowedDeps(t *testing.T) {
	r := &recorder{TB: t}
	Forbid(r, "../testnet", "github.com/redpanda-data/benthos")
	assert.Empty(t, r.errs)
	deps := Deps(t, "../testnet")
	assert.Equal(t, module+"internal/testnet", deps[len(deps)-1], "pkg is listed last")
}
