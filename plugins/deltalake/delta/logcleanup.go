package delta

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ConfigLogRetention is the table property bounding how long log files are kept.
const ConfigLogRetention = "delta.logRetentionDuration"

// CleanupOptions tune CleanupLog.
type CleanupOptions struct {
	// Retention overrides delta.logRetentionDuration (default 30 days).
	Retention time.Duration
	// MinRetention keeps files at least this long whatever the retention.
	MinRetention time.Duration
	// DryRun lists what would be deleted without deleting.
	DryRun bool
}

// CleanupLog deletes expired log files (PROTOCOL "Metadata Cleanup"): it
// finds the newest commit older than the retention period, then the newest
// classic checkpoint at or before it, and deletes every commit, checkpoint and
// checksum file of an older version. The table stays loadable from that
// checkpoint; time travel before it is no longer possible. Long-running
// streams committing every second need this to keep _delta_log small.
func (t *Table) CleanupLog(ctx context.Context, opts CleanupOptions) ([]string, error) {
	retention := opts.Retention
	if retention <= 0 {
		retention = 30 * 24 * time.Hour
		if v := t.Metadata().Configuration[ConfigLogRetention]; v != "" {
			d, err := ParseInterval(v)
			if err != nil {
				return nil, fmt.Errorf("cleaning up log: parsing %s: %w", ConfigLogRetention, err)
			}
			retention = d
		}
	}
	retention = max(retention, opts.MinRetention)
	cutoff := t.opts.Now().Add(-retention)
	objs, err := t.store.List(ctx, LogDir, "")
	if err != nil {
		return nil, fmt.Errorf("cleaning up log: listing %s: %w", LogDir, err)
	}
	type logFile struct {
		key     string
		version int64
	}
	var files []logFile
	cutoffCommit := int64(-1)
	checkpoints := map[int64]bool{}
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, LogDir)
		if strings.Contains(name, "/") || len(name) < 21 || name[20] != '.' {
			continue
		}
		v, err := strconv.ParseInt(name[:20], 10, 64)
		if err != nil {
			continue
		}
		suffix := name[20:]
		switch {
		case suffix == ".json":
			if !o.ModTime.After(cutoff) {
				cutoffCommit = max(cutoffCommit, v)
			}
		case suffix == ".checkpoint.parquet":
			checkpoints[v] = true
		case strings.HasPrefix(suffix, ".checkpoint.") || suffix == ".crc":
		default:
			continue
		}
		files = append(files, logFile{o.Key, v})
	}
	keepFrom := int64(-1)
	for v := range checkpoints {
		if v <= cutoffCommit {
			keepFrom = max(keepFrom, v)
		}
	}
	if keepFrom <= 0 {
		return nil, nil
	}
	var deleted []string
	for _, f := range files {
		if f.version >= keepFrom {
			continue
		}
		if !opts.DryRun {
			if err := t.store.Delete(ctx, f.key); err != nil {
				return deleted, fmt.Errorf("cleaning up log: deleting %s: %w", f.key, err)
			}
		}
		deleted = append(deleted, f.key)
	}
	return deleted, nil
}
