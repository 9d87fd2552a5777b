package delta

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// checkpointInterval resolves the effective interval (<= 0: disabled).
func (t *Table) checkpointInterval() int64 {
	if t.opts.CheckpointInterval < 0 {
		return 0
	}
	if t.opts.CheckpointInterval > 0 {
		return int64(t.opts.CheckpointInterval)
	}
	t.mu.RLock()
	s := t.snap.metadata.Configuration[ConfigCheckpointInterval]
	t.mu.RUnlock()
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return n
	}
	return DefaultCheckpointInterval
}

// CheckpointDue applies Spark's rule: v != 0 && v % interval == 0.
func CheckpointDue(version, interval int64) bool {
	return interval > 0 && version != 0 && version%interval == 0
}

// maybeCheckpoint schedules a background checkpoint when due. At most one
// runs at a time; if more become due meanwhile only the newest is written.
func (t *Table) maybeCheckpoint(version int64) {
	if !CheckpointDue(version, t.checkpointInterval()) {
		return
	}
	t.cpMu.Lock()
	defer t.cpMu.Unlock()
	if t.closed {
		return
	}
	t.cpNext = max(t.cpNext, version)
	if t.cpBusy {
		return
	}
	t.cpBusy = true
	t.bgWG.Add(1)
	go t.checkpointLoop()
}

func (t *Table) checkpointLoop() {
	defer t.bgWG.Done()
	for {
		t.cpMu.Lock()
		v := t.cpNext
		t.cpNext = -1
		if v < 0 || t.bgCtx.Err() != nil {
			t.cpBusy = false
			t.cpMu.Unlock()
			return
		}
		t.cpMu.Unlock()
		_, err := t.Checkpoint(t.bgCtx, v)
		if t.opts.OnCheckpoint != nil {
			t.opts.OnCheckpoint(v, err)
		}
		if err == nil {
			t.maybeCleanupLog()
		}
	}
}

// maybeCleanupLog runs CleanupLog after a background checkpoint when it is
// enabled and its interval has passed.
func (t *Table) maybeCleanupLog() {
	if t.opts.LogCleanupInterval <= 0 {
		return
	}
	now := t.opts.Now()
	if !t.lastLogCleanup.IsZero() && now.Sub(t.lastLogCleanup) < t.opts.LogCleanupInterval {
		return
	}
	t.mu.RLock()
	enabled := t.snap.metadata.Configuration[ConfigEnableExpiredLogCleanup]
	t.mu.RUnlock()
	if strings.EqualFold(enabled, "false") {
		return
	}
	t.lastLogCleanup = now
	deleted, err := t.CleanupLog(t.bgCtx, CleanupOptions{MinRetention: t.opts.MinLogRetention})
	if t.opts.OnLogCleanup != nil {
		t.opts.OnLogCleanup(deleted, err)
	}
}

// Checkpoint writes the classic checkpoint for a version (use the current
// version for the newest state) and updates _last_checkpoint. It can run
// concurrently with commits.
func (t *Table) Checkpoint(ctx context.Context, version int64) (*LastCheckpoint, error) {
	t.mu.RLock()
	withoutFiles := t.snap.withoutFiles
	var snap *Snapshot
	if t.snap.version == version && !withoutFiles {
		snap = t.snap.Clone()
	}
	t.mu.RUnlock()
	if withoutFiles {
		// Stream the previous checkpoint instead of loading every file.
		return checkpointFromLog(ctx, t.store, version, CheckpointOptions{Now: t.opts.Now})
	}
	if snap == nil {
		var err error
		if snap, err = LoadVersion(ctx, t.store, version); err != nil {
			return nil, fmt.Errorf("checkpointing version %d: %w", version, err)
		}
	}
	return WriteCheckpoint(ctx, t.store, snap, CheckpointOptions{Now: t.opts.Now})
}
