// Package testdeps lets tests hold a package to its dependency boundary,
// with `go list -deps`.
package testdeps

import (
	"os/exec"
	"strings"
	"testing"
)

// Deps lists the non-standard packages pkg depends on, pkg itself last (go
// list -deps lists a package after its dependencies). pkg is resolved from
// the test's directory, as go list resolves it.
func Deps(t testing.TB, pkg string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool must be on PATH to check package dependencies: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	return strings.Fields(string(out))
}

// Forbid fails t for every dependency of pkg whose import path contains one
// of banned, naming pkg, the dependency and the banned string it contains.
func Forbid(t testing.TB, pkg string, banned ...string) {
	t.Helper()
	deps := Deps(t, pkg)
	name := pkg
	if len(deps) > 0 {
		name = deps[len(deps)-1]
	}
	for _, dep := range deps {
		for _, b := range banned {
			if strings.Contains(dep, b) {
				t.Errorf("%s depends on %s (banned: %s)", name, dep, b)
			}
		}
	}
}
