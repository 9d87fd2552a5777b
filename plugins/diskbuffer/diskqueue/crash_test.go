package diskqueue

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const crashChildEnv = "DISKQUEUE_CRASH_CHILD_DIR"

// TestCrashChild is the process TestKill9KeepsEveryCommittedEntry kills: it
// appends entries of varying size from several goroutines (10 waiting for
// their commit at most, each), acknowledges every other lease it reads, and
// prints the id of every entry once it is committed. It does nothing in a normal test run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		return
	}
	q, err := Open(Options{Dir: dir, MaxBytes: 1 << 30})
	require.NoError(t, err)
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	go func() { // an output acknowledging half of what it reads
		for i := 0; ; i++ {
			l, err := q.Read(context.Background(), 50, 1<<20)
			if err != nil {
				return
			}
			if i%2 == 0 {
				mu.Lock()
				for _, r := range l.Records {
					fmt.Fprintln(out, "ack", r.Meta[0].Value)
				}
				_ = out.Flush()
				mu.Unlock()
				go func() { _ = l.Ack(context.Background()) }()
			}
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			window := make(chan struct{}, 10) // as an input with 10 messages in flight
			for i := 0; ; i++ {
				window <- struct{}{}
				id := fmt.Sprintf("%d-%d", w, i)
				payload := make([]byte, 100+i%5000)
				copy(payload, id)
				err := q.Append(context.Background(), []Record{{Payload: payload, Meta: []Meta{{Key: "id", Value: id}}}}, func(err error) {
					<-window
					if err == nil {
						mu.Lock()
						fmt.Fprintln(out, id)
						_ = out.Flush()
						mu.Unlock()
					}
				})
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestKill9KeepsEveryCommittedEntry kills a process with SIGKILL in the
// middle of commits and checks that the queue opens, that every entry whose
// commit was reported is still there unless it was acknowledged, and that
// every stored entry decodes whole.
func TestKill9KeepsEveryCommittedEntry(t *testing.T) {
	for round := 0; round < 3; round++ {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		committed, acking := map[string]bool{}, map[string]bool{}
		note := func(line string) {
			if id, ok := strings.CutPrefix(line, "ack "); ok {
				acking[id] = true
			} else {
				committed[line] = true
			}
		}
		sc := bufio.NewScanner(stdout)
		deadline := time.Now().Add(30 * time.Second)
		for sc.Scan() && len(committed) < 500*(round+1) && time.Now().Before(deadline) {
			note(sc.Text())
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		for sc.Scan() { // what was printed before the kill
			note(sc.Text())
		}
		_ = cmd.Wait()
		require.NotEmpty(t, committed)

		q, err := Open(Options{Dir: dir, MaxBytes: 1 << 30})
		require.NoError(t, err, "the queue opens after kill -9")
		stored := map[string]bool{}
		for q.Stats().Entries > len(stored) {
			l, err := q.Read(context.Background(), 1000, 64<<20)
			require.NoError(t, err)
			for _, r := range l.Records {
				require.Len(t, r.Meta, 1)
				id := r.Meta[0].Value.(string)
				assert.Equal(t, id, string(r.Payload[:len(id)]), "an entry decodes whole")
				assert.False(t, stored[id], "entry %s stored twice", id)
				stored[id] = true
			}
		}
		// Every entry reported committed is stored unless the child
		// acknowledged (deleted) it; entries stored but never reported were
		// committed when the kill came before the report.
		var deleted int
		for id := range committed {
			if !stored[id] {
				require.True(t, acking[id], "entry %s was reported committed, never acknowledged, and is gone", id)
				deleted++
			}
		}
		t.Logf("round %d: %d entries reported committed, %d stored after the kill, %d of the reported ones deleted by acknowledgements",
			round, len(committed), len(stored), deleted)
		assert.Positive(t, len(stored))
		assert.Positive(t, deleted, "the child acknowledged some entries")
		assert.Less(t, deleted, len(committed))
		for id := range stored {
			_, _, ok := parseID(id)
			require.True(t, ok, id)
		}
		require.NoError(t, q.Close(context.Background()))
	}
}

func parseID(id string) (w, i int, ok bool) {
	for k := 0; k < len(id); k++ {
		if id[k] == '-' {
			a, err1 := strconv.Atoi(id[:k])
			b, err2 := strconv.Atoi(id[k+1:])
			return a, b, err1 == nil && err2 == nil
		}
	}
	return 0, 0, false
}
