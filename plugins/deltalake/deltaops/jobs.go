package deltaops

import (
	"context"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// jobTableOptions open the table handle of one job: no background
// checkpoints, since the job makes at most one commit among many.
var jobTableOptions = delta.TableOptions{EngineInfo: "danube-connect", CheckpointInterval: -1}

// OptimizeStore runs Optimize on the table at store with a table handle of
// its own, so that a writer's handle (and what it tracks of the log) is
// untouched. Commit only to a store that enforces put-if-absent
// (objstore.VerifyPutIfAbsent).
func OptimizeStore(ctx context.Context, store objstore.Store, opts OptimizeOptions) (*OptimizeResult, error) {
	t, err := delta.Open(ctx, store, jobTableOptions)
	if err != nil {
		return nil, err
	}
	defer t.Close(context.Background())
	return Optimize(ctx, t, opts)
}

// VacuumStore runs Vacuum on the table at store with a table handle of its
// own.
func VacuumStore(ctx context.Context, store objstore.Store, opts VacuumOptions) (*VacuumResult, error) {
	t, err := delta.Open(ctx, store, jobTableOptions)
	if err != nil {
		return nil, err
	}
	defer t.Close(context.Background())
	return Vacuum(ctx, t, opts)
}
