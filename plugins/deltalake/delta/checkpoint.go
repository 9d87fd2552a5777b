package delta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// checkpointBatchRows bounds the rows held in Arrow builders at a time while
// reading or writing a checkpoint, so memory stays proportional to the batch,
// not to the number of files in the table.
const checkpointBatchRows = 4096

// ErrCheckpointSkipped is wrapped when a checkpoint is deliberately not written.
var ErrCheckpointSkipped = errors.New("checkpoint skipped")

// CheckpointOptions tune Table.Checkpoint / WriteCheckpoint.
type CheckpointOptions struct {
	// Now is the clock used to expire tombstones (default time.Now).
	Now func() time.Time
}

// WriteCheckpoint writes the classic V1 single-file checkpoint of the snapshot
// (protocol, metaData, txns, live adds, unexpired tombstones, live domain
// metadata; stats as JSON strings) at its version, streaming record batches,
// then updates _last_checkpoint. It returns a wrapped ErrCheckpointSkipped
// when the table asks for struct stats (delta.checkpoint.writeStatsAsStruct),
// which this writer does not produce.
func WriteCheckpoint(ctx context.Context, store objstore.Store, s *Snapshot, opts CheckpointOptions) (*LastCheckpoint, error) {
	if s.metadata == nil || s.version < 0 {
		return nil, errors.New("writing checkpoint: empty snapshot")
	}
	if s.withoutFiles {
		return nil, errors.New("writing checkpoint: snapshot was loaded without files")
	}
	minDeletion, err := checkpointable(s, opts)
	if err != nil {
		return nil, err
	}
	return publishCheckpoint(ctx, store, s.version, func(w *countingWriter) (*LastCheckpoint, error) {
		return writeCheckpointTo(w, s, minDeletion)
	})
}

// checkpointable refuses tables whose checkpoints we cannot write and
// returns the tombstone expiry threshold (ms).
func checkpointable(s *Snapshot, opts CheckpointOptions) (int64, error) {
	if strings.EqualFold(s.metadata.Configuration[ConfigCheckpointStatsAsStruct], "true") {
		return 0, fmt.Errorf("writing checkpoint %d: %w: table sets %s=true and struct stats are not implemented",
			s.version, ErrCheckpointSkipped, ConfigCheckpointStatsAsStruct)
	}
	if s.protocol.hasReaderFeature("v2Checkpoint") {
		return 0, fmt.Errorf("writing checkpoint %d: %w: table requires v2 checkpoints", s.version, ErrCheckpointSkipped)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	retention, err := s.DeletedFileRetention()
	if err != nil {
		return 0, err
	}
	return now().Add(-retention).UnixMilli(), nil
}

// publishCheckpoint streams the checkpoint file for version through fill,
// makes it visible, then points _last_checkpoint at it (never backwards).
func publishCheckpoint(ctx context.Context, store objstore.Store, version int64, fill func(*countingWriter) (*LastCheckpoint, error)) (*LastCheckpoint, error) {
	ow, err := store.Create(ctx, CheckpointKey(version))
	if err != nil {
		return nil, fmt.Errorf("writing checkpoint %d: %w", version, err)
	}
	cw := &countingWriter{w: ow}
	lc, err := fill(cw)
	if err != nil {
		_ = ow.Abort()
		return nil, fmt.Errorf("writing checkpoint %d: %w", version, err)
	}
	if err := ow.Close(); err != nil {
		return nil, fmt.Errorf("writing checkpoint %d: %w", version, err)
	}
	lc.SizeInBytes = cw.n
	hint, _ := json.Marshal(lc)
	if cur, _ := readLastCheckpoint(ctx, store); cur != nil && cur.Version > lc.Version {
		return lc, nil
	}
	if err := store.Put(ctx, LastCheckpointKey, hint); err != nil {
		return nil, fmt.Errorf("writing %s: %w", LastCheckpointKey, err)
	}
	return lc, nil
}

type countingWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func writeCheckpointTo(w *countingWriter, s *Snapshot, minDeletion int64) (*LastCheckpoint, error) {
	cw, err := newCheckpointWriter(w, len(s.domains) > 0, minDeletion)
	if err != nil {
		return nil, err
	}
	err = cw.header(s)
	for _, a := range s.Files() {
		if err != nil {
			break
		}
		err = cw.add(a)
	}
	for _, r := range s.Tombstones() {
		if err != nil {
			break
		}
		err = cw.remove(r)
	}
	if err != nil {
		cw.abort()
		return nil, err
	}
	if err := cw.close(); err != nil {
		return nil, err
	}
	return &LastCheckpoint{Version: s.version, Size: cw.actions, NumOfAddFiles: cw.adds}, nil
}
