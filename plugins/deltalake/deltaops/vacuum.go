package deltaops

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
)

// VacuumOptions tune Vacuum.
type VacuumOptions struct {
	// Retention: only files unreferenced and older than this are deleted, and
	// tombstones younger than this keep their files. 0 uses the table's
	// delta.deletedFileRetentionDuration (default one week) unless
	// AllowShortRetention is set, in which case 0 means no retention.
	Retention time.Duration
	// AllowShortRetention permits a Retention below the table's configured
	// retention (which breaks time travel and can delete files of
	// long-running concurrent writers); without it that is an error.
	AllowShortRetention bool
	// DryRun lists what would be deleted without deleting.
	DryRun bool
}

// VacuumResult lists the deleted (or, with DryRun, deletable) files.
type VacuumResult struct {
	Files  []string // object keys relative to the table root
	Bytes  int64
	DryRun bool
}

// Vacuum deletes data files that the current snapshot does not reference,
// that no tombstone younger than the retention period references, and that
// are older than the retention period. It ignores everything under
// directories (or with names) beginning with "_" or "." — in particular it
// never touches _delta_log.
func Vacuum(ctx context.Context, t *delta.Table, opts VacuumOptions) (*VacuumResult, error) {
	if _, err := t.Update(ctx); err != nil {
		return nil, fmt.Errorf("vacuuming: %w", err)
	}
	snap, err := t.FullSnapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("vacuuming: %w", err)
	}
	configured, err := snap.DeletedFileRetention()
	if err != nil {
		return nil, fmt.Errorf("vacuuming: %w", err)
	}
	retention := opts.Retention
	if retention <= 0 && !opts.AllowShortRetention {
		retention = configured
	}
	if retention < configured && !opts.AllowShortRetention {
		return nil, fmt.Errorf("vacuuming: retention %s is shorter than the table's %s (%s); set AllowShortRetention to override", retention, delta.ConfigDeletedFileRetention, configured)
	}
	now := t.Now()
	cutoff := now.Add(-retention)
	keep := map[string]bool{}
	for _, f := range snap.Files() {
		keep[delta.FileKey(f.Path)] = true
	}
	for _, r := range snap.Tombstones() {
		if r.DeletionTimestamp == nil || *r.DeletionTimestamp > cutoff.UnixMilli() {
			keep[delta.FileKey(r.Path)] = true
		}
	}
	objs, err := t.Store().List(ctx, "", "")
	if err != nil {
		return nil, fmt.Errorf("vacuuming: listing %s: %w", t.Store().URL(), err)
	}
	res := &VacuumResult{DryRun: opts.DryRun}
	for _, o := range objs {
		if hiddenKey(o.Key) || keep[o.Key] || !o.ModTime.Before(cutoff) {
			continue
		}
		if !opts.DryRun {
			if err := t.Store().Delete(ctx, o.Key); err != nil {
				return res, fmt.Errorf("vacuuming: deleting %s: %w", o.Key, err)
			}
		}
		res.Files = append(res.Files, o.Key)
		res.Bytes += o.Size
	}
	return res, nil
}

func hiddenKey(key string) bool {
	for _, part := range strings.Split(key, "/") {
		if strings.HasPrefix(part, "_") || strings.HasPrefix(part, ".") {
			return true
		}
	}
	return false
}
