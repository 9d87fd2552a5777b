// Package benchbuild builds the danube-connect binary the benchmarks run,
// with the same linker settings as `make build`, so peak-memory figures match
// the shipped binary.
package benchbuild

import "os/exec"

// Command returns the `go build` of ./cmd/danube-connect into out, to run
// from the repository root. Internal linking keeps Pebble's cgo parts from
// making the linker pull the whole binary through gcc, which costs about
// 30 MB of resident file-backed pages (see the Makefile's LDFLAGS).
func Command(out string) *exec.Cmd {
	return exec.Command("go", "build", "-trimpath", "-ldflags=-linkmode=internal", "-o", out, "./cmd/danube-connect")
}
