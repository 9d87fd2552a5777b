package deltalake

import (
	"context"
	"time"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
	"github.com/danube-connect/danube-connect/plugins/deltalake/deltaops"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// The optimize and vacuum jobs, run by the background scheduler
// (maintenance.go) and by `danube-connect delta optimize|vacuum`
// (commands.go), with the defaults both use.
const (
	dlDefaultOptimizeInterval   = "1h"
	dlDefaultOptimizeTargetSize = "256MiB"
	dlDefaultOptimizeMinFiles   = 10
	dlDefaultVacuumInterval     = "24h"
	dlDefaultVacuumRetention    = "168h"
)

// mustDuration parses one of the duration defaults above.
func mustDuration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

// maintenanceTableOptions open a table for one job: no background
// checkpoints, since the job's commit is one of many.
var maintenanceTableOptions = delta.TableOptions{EngineInfo: "danube-connect", CheckpointInterval: -1}

// optimizeTable compacts small files of the table in store (one OPTIMIZE
// commit; concurrent appends are never lost). The store must have passed
// the put-if-absent check (openTableStore).
func optimizeTable(ctx context.Context, store objstore.Store, opts deltaops.OptimizeOptions) (*deltaops.OptimizeResult, error) {
	t, err := delta.Open(ctx, store, maintenanceTableOptions)
	if err != nil {
		return nil, err
	}
	defer t.Close(context.Background())
	return deltaops.Optimize(ctx, t, opts)
}

// vacuumTable deletes unreferenced data files older than the retention.
func vacuumTable(ctx context.Context, store objstore.Store, opts deltaops.VacuumOptions) (*deltaops.VacuumResult, error) {
	t, err := delta.Open(ctx, store, maintenanceTableOptions)
	if err != nil {
		return nil, err
	}
	defer t.Close(context.Background())
	return deltaops.Vacuum(ctx, t, opts)
}
