package deltalake

import (
	"context"
	"time"

	"github.com/danube-connect/danube-connect/plugins/deltalake/deltaops"
)

// startMaintenance runs optimize and vacuum on their schedules over every
// table open at the time of the run. Each run opens its own delta.Table, so
// the writer's view of new commits (which feeds exactly-once) is untouched.
func (o *deltaLakeOutput) startMaintenance() {
	// ctx ends when the output closes, cancelling a running job.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-o.maintStop
		cancel()
	}()
	run := func(interval time.Duration, what string, fn func(context.Context, *tableWriter) error) {
		o.maintWG.Add(1)
		go func() {
			defer o.maintWG.Done()
			ticker := time.NewTicker(interval)
			defer ticker.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-ticker.C:
				}
				for _, tw := range o.openTables() {
					if err := fn(ctx, tw); err != nil && ctx.Err() == nil {
						o.log.Warnf("%s of table %s: %v", what, tw.path, err)
					}
				}
			}
		}()
	}
	if o.conf.optimize.enabled {
		run(o.conf.optimize.interval, "Optimize", func(ctx context.Context, tw *tableWriter) error {
			res, err := deltaops.OptimizeStore(ctx, tw.store, deltaops.OptimizeOptions{
				TargetSize:  o.conf.optimize.targetFileSize,
				MinFiles:    o.conf.optimize.minFiles,
				Compression: o.conf.compression,
			})
			if err == nil && res.Version >= 0 {
				o.log.Infof("Optimized table %s: %d files compacted into %d (version %d)", tw.path, res.FilesRemoved, res.FilesAdded, res.Version)
			}
			return err
		})
	}
	if o.conf.vacuum.enabled {
		run(o.conf.vacuum.interval, "Vacuum", func(ctx context.Context, tw *tableWriter) error {
			res, err := deltaops.VacuumStore(ctx, tw.store, deltaops.VacuumOptions{Retention: o.conf.vacuum.retention, AllowShortRetention: true})
			if err == nil && len(res.Files) > 0 {
				o.log.Infof("Vacuumed table %s: %d files, %d bytes deleted", tw.path, len(res.Files), res.Bytes)
			}
			return err
		})
	}
}

// openTables lists the tables that are open and ready.
func (o *deltaLakeOutput) openTables() []*tableWriter {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*tableWriter
	for el := o.lru.Front(); el != nil; el = el.Next() {
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
