// Package benchbuild builds the danube-connect binary the benchmarks run,
// through the Makefile's targets, so peak-memory figures are those of the
// shipped binary (its tags, linker and flags are defined there only).
package benchbuild

import "os/exec"

// Command returns `make build` of danube-connect into out, to run from the
// repository root.
func Command(out string) *exec.Cmd {
	return exec.Command("make", "--no-print-directory", "build", "BIN="+out)
}

// LanceDBCommand is Command for `make build-lancedb` (the lancedb output
// linked in; builds the native library first when it is not cached).
func LanceDBCommand(out string) *exec.Cmd {
	return exec.Command("make", "--no-print-directory", "build-lancedb", "BIN="+out)
}
