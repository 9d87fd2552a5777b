// Package benchbuild builds the danube-connect binary the benchmarks run,
// through the Makefile's targets, so peak-memory figures are those of the
// shipped binary (its tags, linker and flags are defined there only).
package benchbuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build runs `make build` of danube-connect into out, from the module's
// root wherever the bench runs; make's output goes to stderr.
func Build(out string) error {
	return inRoot(exec.Command("make", "--no-print-directory", "build", "BIN="+out))
}

// BuildLanceDB is Build for `make build-lancedb` (the lancedb output linked
// in; builds the native library first when it is not cached).
func BuildLanceDB(out string) error {
	return inRoot(exec.Command("make", "--no-print-directory", "build-lancedb", "BIN="+out))
}

func inRoot(cmd *exec.Cmd) error {
	mod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("locating the module: %w", err)
	}
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(mod)))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building danube-connect (%s): %w", strings.Join(cmd.Args, " "), err)
	}
	return nil
}
