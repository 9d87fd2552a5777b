//go:build deltacrash

package tablewriter

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
)

// crashHookEnv, in binaries built with the deltacrash tag only (the kill -9
// integration tests build one): when set to "after-parquet" or
// "after-commit", the process kills itself with SIGKILL right after the data
// files of a flush are written (before the commit), or right after a commit
// is durable (before any message is acknowledged).
const crashHookEnv = "DANUBE_CONNECT_DELTA_CRASH_AT"

// crashHookAfterEnv delays the crash until the given number of flushes has
// reached the crash point (default 1), so a test can let some commits
// through first.
const crashHookAfterEnv = "DANUBE_CONNECT_DELTA_CRASH_AFTER"

var (
	crashAt    = os.Getenv(crashHookEnv)
	crashAfter = int64(1)
	crashCount atomic.Int64
)

func init() {
	switch crashAt {
	case "", "after-parquet", "after-commit":
	default:
		panic(fmt.Sprintf("%s=%q: want after-parquet or after-commit", crashHookEnv, crashAt))
	}
	if s := os.Getenv(crashHookAfterEnv); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			panic(fmt.Sprintf("%s=%q: want a positive integer", crashHookAfterEnv, s))
		}
		crashAfter = n
	}
}

func crashPoint(point string) {
	if crashAt != point || crashCount.Add(1) < crashAfter {
		return
	}
	fmt.Fprintf(os.Stderr, "%s=%s: killing the process (test hook)\n", crashHookEnv, point)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is delivered asynchronously; never continue
}
