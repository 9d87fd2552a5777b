package delta

import (
	"context"
	"fmt"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

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
