package delta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// LogDir is the directory of the transaction log under the table root.
const LogDir = "_delta_log/"

// LastCheckpointKey is the key of the checkpoint hint file.
const LastCheckpointKey = LogDir + "_last_checkpoint"

// ErrTableNotFound is returned when a location holds no Delta log.
var ErrTableNotFound = errors.New("no Delta table at this location")

// CommitKey returns the key of the commit file for a version.
func CommitKey(version int64) string { return fmt.Sprintf("%s%020d.json", LogDir, version) }

// CheckpointKey returns the key of the classic single-file checkpoint for a version.
func CheckpointKey(version int64) string {
	return fmt.Sprintf("%s%020d.checkpoint.parquet", LogDir, version)
}

// LastCheckpoint is the content of _delta_log/_last_checkpoint.
type LastCheckpoint struct {
	Version       int64  `json:"version"`
	Size          int64  `json:"size"`
	Parts         *int64 `json:"parts,omitempty"`
	SizeInBytes   int64  `json:"sizeInBytes,omitempty"`
	NumOfAddFiles int64  `json:"numOfAddFiles,omitempty"`
}

// CommitEntry is one decoded commit file.
type CommitEntry struct {
	Version int64
	Actions []Action
	own     bool // made by this process's Table
}

// CommitInfo returns the commit's commitInfo action, or nil.
func (c *CommitEntry) CommitInfo() *CommitInfo {
	for i := range c.Actions {
		if c.Actions[i].CommitInfo != nil {
			return c.Actions[i].CommitInfo
		}
	}
	return nil
}

// Txns returns the txn actions of the commit.
func (c *CommitEntry) Txns() []Txn {
	var out []Txn
	for i := range c.Actions {
		if c.Actions[i].Txn != nil {
			out = append(out, *c.Actions[i].Txn)
		}
	}
	return out
}

// ReadCommit reads and decodes one commit file.
func ReadCommit(ctx context.Context, store objstore.Store, version int64) (*CommitEntry, error) {
	data, err := store.Get(ctx, CommitKey(version))
	if err != nil {
		return nil, fmt.Errorf("reading commit %d: %w", version, err)
	}
	actions, err := ParseActions(data)
	if err != nil {
		return nil, fmt.Errorf("reading commit %d: %w", version, err)
	}
	return &CommitEntry{Version: version, Actions: actions}, nil
}

// readCommits fetches commits [from, to] with bounded parallelism and hands
// them to fn in version order.
func readCommits(ctx context.Context, store objstore.Store, from, to int64, fn func(*CommitEntry) error) error {
	const window = 8
	for start := from; start <= to; start += window {
		end := min(start+window-1, to)
		entries := make([]*CommitEntry, end-start+1)
		g, gctx := errgroup.WithContext(ctx)
		for v := start; v <= end; v++ {
			g.Go(func() error {
				e, err := ReadCommit(gctx, store, v)
				entries[v-start] = e
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		for _, e := range entries {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkpointRef names a complete checkpoint: classic single-file (parts 0)
// or the deprecated multi-part form written by older Spark versions (read only).
type checkpointRef struct {
	version int64
	parts   int
}

func (c checkpointRef) keys() []string {
	if c.parts == 0 {
		return []string{CheckpointKey(c.version)}
	}
	out := make([]string, c.parts)
	for i := range out {
		out[i] = fmt.Sprintf("%s%020d.checkpoint.%010d.%010d.parquet", LogDir, c.version, i+1, c.parts)
	}
	return out
}

// logListing is what a listing of _delta_log/ tells about versions.
type logListing struct {
	commits     map[int64]bool
	checkpoints []checkpointRef // complete ones, ascending by version
	maxCommit   int64
}

func listLog(ctx context.Context, store objstore.Store, afterVersion int64) (*logListing, error) {
	startAfter := ""
	if afterVersion >= 0 {
		// Keys of version v all start with the 20-digit number, so every
		// file of version >= v sorts after this prefix.
		startAfter = fmt.Sprintf("%s%020d", LogDir, afterVersion)
	}
	objs, err := store.List(ctx, LogDir, startAfter)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", LogDir, err)
	}
	l := &logListing{commits: map[int64]bool{}, maxCommit: -1}
	classic := map[int64]bool{}
	multi := map[[2]int64]int{} // (version, total parts) -> parts seen
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, LogDir)
		if strings.Contains(name, "/") || len(name) < 21 || name[20] != '.' {
			continue
		}
		v, err := strconv.ParseInt(name[:20], 10, 64)
		if err != nil {
			continue
		}
		switch suffix := name[20:]; {
		case suffix == ".json":
			l.commits[v] = true
			l.maxCommit = max(l.maxCommit, v)
		case suffix == ".checkpoint.parquet":
			classic[v] = true
		case len(suffix) == len(".checkpoint.0000000001.0000000002.parquet") &&
			strings.HasPrefix(suffix, ".checkpoint.") && strings.HasSuffix(suffix, ".parquet"):
			part, err1 := strconv.ParseInt(suffix[12:22], 10, 64)
			total, err2 := strconv.ParseInt(suffix[23:33], 10, 64)
			if err1 == nil && err2 == nil && part >= 1 && part <= total {
				multi[[2]int64{v, total}]++
			}
		}
	}
	for v := range classic {
		l.checkpoints = append(l.checkpoints, checkpointRef{version: v})
	}
	for k, seen := range multi {
		if int64(seen) == k[1] && !classic[k[0]] {
			l.checkpoints = append(l.checkpoints, checkpointRef{version: k[0], parts: int(k[1])})
		}
	}
	sort.Slice(l.checkpoints, func(i, j int) bool {
		a, b := l.checkpoints[i], l.checkpoints[j]
		return a.version < b.version || a.version == b.version && a.parts < b.parts
	})
	return l, nil
}

// readLastCheckpoint returns the hint, or nil when it is missing or corrupt
// (the caller then falls back to listing).
func readLastCheckpoint(ctx context.Context, store objstore.Store) (*LastCheckpoint, error) {
	data, err := store.Get(ctx, LastCheckpointKey)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, nil
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(data, &raw) != nil || raw["version"] == nil || raw["size"] == nil {
		return nil, nil
	}
	var lc LastCheckpoint
	if json.Unmarshal(data, &lc) != nil || lc.Version < 0 {
		return nil, nil
	}
	return &lc, nil
}
