package delta

import (
	"fmt"
	"sort"
)

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

// FileKey is the object key (relative to the table root) of an add or remove
// path: the decoded URI, or the path as written when it does not decode.
func FileKey(p string) string {
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
		k := FileKey(a.Add.Path)
		s.files[k] = a.Add
		delete(s.tombstones, k)
	case a.Remove != nil:
		if s.withoutFiles {
			return nil
		}
		k := FileKey(a.Remove.Path)
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
