package tablewriter

import (
	"context"
	"time"

	"github.com/danube-connect/danube-connect/plugins/deltalake/deltaops"
)

// startMaintenance runs optimize and vacuum on their schedules over every
// table open at the time of the run. Each run opens its own table handle (deltaops.*Store), so
// the writer's view of new commits (which feeds exactly-once) is untouched.
func (w *Writer) startMaintenance() {
	// ctx ends when the output closes, cancelling a running job.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-w.maintStop
		cancel()
	}()
	run := func(interval time.Duration, what string, fn func(context.Context, *tableWriter) error) {
		w.maintWG.Add(1)
		go func() {
			defer w.maintWG.Done()
			ticker := time.NewTicker(interval)
			defer ticker.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-ticker.C:
				}
				for _, tw := range w.openTables() {
					if err := fn(ctx, tw); err != nil && ctx.Err() == nil {
						w.log.Warnf("%s of table %s: %v", what, tw.path, err)
					}
				}
			}
		}()
	}
	if w.conf.Optimize.Enabled {
		run(w.conf.Optimize.Interval, "Optimize", func(ctx context.Context, tw *tableWriter) error {
			res, err := deltaops.OptimizeStore(ctx, tw.store, deltaops.OptimizeOptions{
				TargetSize:  w.conf.Optimize.TargetFileSize,
				MinFiles:    w.conf.Optimize.MinFiles,
				Compression: w.conf.Compression,
			})
			if err == nil && res.Version >= 0 {
				w.log.Infof("Optimized table %s: %d files compacted into %d (version %d)", tw.path, res.FilesRemoved, res.FilesAdded, res.Version)
			}
			return err
		})
	}
	if w.conf.Vacuum.Enabled {
		run(w.conf.Vacuum.Interval, "Vacuum", func(ctx context.Context, tw *tableWriter) error {
			res, err := deltaops.VacuumStore(ctx, tw.store, deltaops.VacuumOptions{Retention: w.conf.Vacuum.Retention, AllowShortRetention: true})
			if err == nil && len(res.Files) > 0 {
				w.log.Infof("Vacuumed table %s: %d files, %d bytes deleted", tw.path, len(res.Files), res.Bytes)
			}
			return err
		})
	}
}

// openTables lists the tables that are open and ready.
func (w *Writer) openTables() []*tableWriter {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*tableWriter
	for el := w.lru.Front(); el != nil; el = el.Next() {
		tw := el.Value.(*tableWriter)
		tw.openMu.Lock()
		ok := tw.opened
		tw.openMu.Unlock()
		if ok {
			out = append(out, tw)
		}
	}
	return out
}
