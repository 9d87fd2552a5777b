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

// Snapshot is the reconciled state of a table at one version. A Snapshot is
// not safe for concurrent mutation: Update and ApplyCommit must not run while
// other goroutines read it (Table handles that with copies and a lock).
type Snapshot struct {
	withoutFiles      bool // adds and removes are not kept (LoadMetadata)
	version           int64
	checkpointVersion int64
	protocol          Protocol
	metadata          *Metadata
	schema            *StructType
	files             map[string]*Add    // by decoded path
	tombstones        map[string]*Remove // by decoded path
	txns              map[string]Txn
	domains           map[string]DomainMetadata
	commitTimestamps  map[int64]int64 // ms, for commits replayed from JSON (not kept withoutFiles)
}

func newSnapshot() *Snapshot {
	return &Snapshot{
		version: -1, checkpointVersion: -1,
		files: map[string]*Add{}, tombstones: map[string]*Remove{},
		txns: map[string]Txn{}, domains: map[string]DomainMetadata{},
		commitTimestamps: map[int64]int64{},
	}
}

// Version is the table version this snapshot reflects.
func (s *Snapshot) Version() int64 { return s.version }

// CheckpointVersion is the version of the checkpoint the snapshot was loaded
// from, or -1.
func (s *Snapshot) CheckpointVersion() int64 { return s.checkpointVersion }

// Protocol is the latest protocol action.
func (s *Snapshot) Protocol() Protocol { return s.protocol }

// Metadata is the latest metaData action; treat it as read-only.
func (s *Snapshot) Metadata() *Metadata { return s.metadata }

// Schema is the parsed table schema; treat it as read-only.
func (s *Snapshot) Schema() *StructType { return s.schema }

// PartitionColumns returns the table's partition columns.
func (s *Snapshot) PartitionColumns() []string {
	if s.metadata == nil {
		return nil
	}
	return append([]string(nil), s.metadata.PartitionColumns...)
}

// TracksFiles reports whether the snapshot keeps data files and tombstones;
// snapshots from LoadMetadata (and tables opened with
// TableOptions.WithoutFiles) do not, to keep memory independent of table size.
func (s *Snapshot) TracksFiles() bool { return !s.withoutFiles }

// NumFiles is the number of live data files (0 when !TracksFiles()).
func (s *Snapshot) NumFiles() int { return len(s.files) }

// Files returns the live data files sorted by path; treat them as read-only.
func (s *Snapshot) Files() []*Add {
	out := make([]*Add, 0, len(s.files))
	for _, a := range s.files {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// File returns the live file with this object key (decoded path).
func (s *Snapshot) File(key string) (*Add, bool) {
	a, ok := s.files[key]
	return a, ok
}

// Tombstones returns the remove actions still in the log, sorted by path.
func (s *Snapshot) Tombstones() []*Remove {
	out := make([]*Remove, 0, len(s.tombstones))
	for _, r := range s.tombstones {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Txn returns the latest txn of an application.
func (s *Snapshot) Txn(appID string) (Txn, bool) {
	t, ok := s.txns[appID]
	return t, ok
}

// Txns returns a copy of the latest txn per appId.
func (s *Snapshot) Txns() map[string]Txn {
	out := make(map[string]Txn, len(s.txns))
	for k, v := range s.txns {
		out[k] = v
	}
	return out
}

// DomainMetadata returns the live (not removed) domain metadata.
func (s *Snapshot) DomainMetadata() []DomainMetadata {
	out := make([]DomainMetadata, 0, len(s.domains))
	for _, d := range s.domains {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Domain < out[j].Domain })
	return out
}

// CommitTimestamps returns commit time (ms since epoch, from commitInfo) per
// version, for the commits replayed from JSON since the checkpoint. It is
// empty for snapshots kept without files (TableOptions.WithoutFiles), whose
// memory must not grow with the number of commits.
func (s *Snapshot) CommitTimestamps() map[int64]int64 {
	out := make(map[int64]int64, len(s.commitTimestamps))
	for k, v := range s.commitTimestamps {
		out[k] = v
	}
	return out
}

// Clone returns an independent copy (file actions are shared, read-only).
func (s *Snapshot) Clone() *Snapshot {
	c := *s
	c.files = make(map[string]*Add, len(s.files))
	for k, v := range s.files {
		c.files[k] = v
	}
	c.tombstones = make(map[string]*Remove, len(s.tombstones))
	for k, v := range s.tombstones {
		c.tombstones[k] = v
	}
	c.txns = s.Txns()
	c.domains = make(map[string]DomainMetadata, len(s.domains))
	for k, v := range s.domains {
		c.domains[k] = v
	}
	c.commitTimestamps = s.CommitTimestamps()
	return &c
}

func fileKey(p string) string {
	if k, err := DecodePath(p); err == nil {
		return k
	}
	return p
}

// apply reconciles one action into the state (newest wins).
func (s *Snapshot) apply(a *Action) error {
	switch {
	case a.Protocol != nil:
		s.protocol = *a.Protocol
	case a.Metadata != nil:
		schema, err := a.Metadata.Schema()
		if err != nil {
			return err
		}
		s.metadata, s.schema = a.Metadata, schema
	case a.Add != nil:
		if s.withoutFiles {
			return nil
		}
		k := fileKey(a.Add.Path)
		s.files[k] = a.Add
		delete(s.tombstones, k)
	case a.Remove != nil:
		if s.withoutFiles {
			return nil
		}
		k := fileKey(a.Remove.Path)
		delete(s.files, k)
		s.tombstones[k] = a.Remove
	case a.Txn != nil:
		s.txns[a.Txn.AppID] = *a.Txn
	case a.DomainMetadata != nil:
		if a.DomainMetadata.Removed {
			delete(s.domains, a.DomainMetadata.Domain)
		} else {
			s.domains[a.DomainMetadata.Domain] = *a.DomainMetadata
		}
	}
	return nil
}

// ApplyCommit advances the snapshot by one commit, which must be the next
// version.
func (s *Snapshot) ApplyCommit(c *CommitEntry) error {
	if c.Version != s.version+1 {
		return fmt.Errorf("applying commit %d to snapshot at version %d: versions must be contiguous", c.Version, s.version)
	}
	for i := range c.Actions {
		if err := s.apply(&c.Actions[i]); err != nil {
			return fmt.Errorf("applying commit %d: %w", c.Version, err)
		}
	}
	// A long-lived WithoutFiles snapshot (an appender's) applies every
	// commit for as long as it runs: keeping a timestamp per version would
	// make its memory grow with the log.
	if ci := c.CommitInfo(); ci != nil && ci.Timestamp > 0 && !s.withoutFiles {
		s.commitTimestamps[c.Version] = ci.Timestamp
	}
	s.version = c.Version
	return nil
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

// Load reads the latest snapshot of the table.
func Load(ctx context.Context, store objstore.Store) (*Snapshot, error) {
	return loadSnapshot(ctx, store, -1, false)
}

// LoadMetadata reads the latest snapshot without data files and tombstones:
// version, protocol, metadata, schema, txns and domain metadata only. The
// checkpoint's add/remove columns are not even read, so memory does not grow
// with the number of files. Such a snapshot cannot drive a checkpoint.
func LoadMetadata(ctx context.Context, store objstore.Store) (*Snapshot, error) {
	return loadSnapshot(ctx, store, -1, true)
}

// LoadVersion reads the snapshot at a version (-1 = latest): the newest
// classic checkpoint at or before it (found via _last_checkpoint, falling back
// to listing), then the JSON commits after it.
func LoadVersion(ctx context.Context, store objstore.Store, version int64) (*Snapshot, error) {
	return loadSnapshot(ctx, store, version, false)
}

func loadSnapshot(ctx context.Context, store objstore.Store, version int64, withoutFiles bool) (*Snapshot, error) {
	hint, err := readLastCheckpoint(ctx, store)
	if err != nil {
		return nil, err
	}
	after := int64(-1)
	if hint != nil && (version < 0 || hint.Version <= version) {
		after = hint.Version
	}
	s, err := loadFrom(ctx, store, after, version, true, withoutFiles)
	if err != nil && after >= 0 && ctx.Err() == nil {
		// The hint may be stale or point at a deleted checkpoint: list everything.
		if s2, err2 := loadFrom(ctx, store, -1, version, true, withoutFiles); err2 == nil {
			return s2, nil
		}
	}
	return s, err
}

func loadFrom(ctx context.Context, store objstore.Store, after, target int64, useCheckpoint, withoutFiles bool) (*Snapshot, error) {
	l, err := listLog(ctx, store, after)
	if err != nil {
		return nil, err
	}
	cp := int64(-1)
	var cpRef checkpointRef
	if useCheckpoint {
		for _, c := range l.checkpoints {
			if target < 0 || c.version <= target {
				cp, cpRef = c.version, c
			}
		}
	}
	if after >= 0 && cp < 0 {
		return nil, fmt.Errorf("loading table %s: checkpoint %d from _last_checkpoint is missing", store.URL(), after)
	}
	end := l.maxCommit
	if target >= 0 {
		if end < target && cp < target {
			return nil, fmt.Errorf("loading table %s at version %d: latest version is %d", store.URL(), target, max(end, cp))
		}
		end = target
	}
	if cp < 0 && len(l.commits) == 0 {
		return nil, fmt.Errorf("loading table %s: %w", store.URL(), ErrTableNotFound)
	}
	for v := cp + 1; v <= end; v++ {
		if !l.commits[v] {
			if cp < 0 && v == 0 {
				return nil, fmt.Errorf("loading table %s: commit 0 is missing and there is no checkpoint", store.URL())
			}
			return nil, fmt.Errorf("loading table %s: commit %d is missing (log has a gap after version %d)", store.URL(), v, v-1)
		}
	}
	s := newSnapshot()
	s.withoutFiles = withoutFiles
	if cp >= 0 {
		if err := s.loadCheckpoint(ctx, store, cpRef); err != nil {
			if ctx.Err() == nil && l.commits[0] && useCheckpoint && after < 0 {
				// A corrupt checkpoint with the full log still present: replay the log.
				if s2, err2 := loadFrom(ctx, store, -1, target, false, withoutFiles); err2 == nil {
					return s2, nil
				}
			}
			return nil, err
		}
	}
	if err := readCommits(ctx, store, cp+1, end, s.ApplyCommit); err != nil {
		return nil, fmt.Errorf("loading table %s: %w", store.URL(), err)
	}
	if s.metadata == nil {
		return nil, fmt.Errorf("loading table %s: log has no metaData action", store.URL())
	}
	return s, nil
}

func (s *Snapshot) loadCheckpoint(ctx context.Context, store objstore.Store, ref checkpointRef) error {
	for _, key := range ref.keys() {
		err := readCheckpoint(ctx, store, key, !s.withoutFiles, func(a *Action) error { return s.apply(a) })
		if err != nil {
			return fmt.Errorf("reading checkpoint %d of %s (%s): %w", ref.version, store.URL(), key, err)
		}
	}
	s.version, s.checkpointVersion = ref.version, ref.version
	return nil
}

// Update advances the snapshot to the latest version by reading only the
// commits after it, and returns them. A newer checkpoint is not used (the
// JSON commits are kept at least as long as checkpoints make them redundant).
func (s *Snapshot) Update(ctx context.Context, store objstore.Store) ([]*CommitEntry, error) {
	l, err := listLog(ctx, store, s.version+1)
	if err != nil {
		return nil, err
	}
	var out []*CommitEntry
	for v := s.version + 1; v <= l.maxCommit; v++ {
		if !l.commits[v] {
			return nil, fmt.Errorf("updating table %s: commit %d is missing", store.URL(), v)
		}
	}
	err = readCommits(ctx, store, s.version+1, l.maxCommit, func(c *CommitEntry) error {
		out = append(out, c)
		return s.ApplyCommit(c)
	})
	return out, err
}
