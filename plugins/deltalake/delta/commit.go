package delta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// Commit writes the transaction as the next version with put-if-absent,
// retrying on lost races after checking the winners for real conflicts
// (protocol, metadata, txn appIds, concurrently removed files). Blind appends
// always succeed eventually (bounded by MaxCommitAttempts and ctx); an
// ambiguous storage failure is retried and recognised by commitInfo.txnId, so
// a commit is never written twice. A Table that may have been idle for longer
// than delta.logRetentionDuration must Update first: log cleanup by other
// writers can leave its next version's slot empty although the table moved on,
// and Update then reports ErrBehindLogCleanup.
func (t *Table) Commit(ctx context.Context, tx *Transaction) (*CommitResult, error) {
	if err := tx.validate(); err != nil {
		return nil, err
	}
	t.commitMu.Lock()
	defer t.commitMu.Unlock()

	txnID := uuid.NewString()
	res := &CommitResult{}
	var winners []*CommitEntry
	t.mu.RLock()
	known := t.snap.version
	t.mu.RUnlock()
	if known > tx.readVersion {
		// Commits this Table made or read since the transaction started.
		ws, err := t.commitsBetween(ctx, tx.readVersion+1, known)
		if err != nil {
			return nil, fmt.Errorf("committing: reading intervening commits: %w", err)
		}
		if err := removeConflicts(tx, ws); err != nil {
			return nil, err
		}
		ws = othersOnly(ws)
		if err := t.checkWinners(tx, ws); err != nil {
			return nil, err
		}
		winners = append(winners, ws...)
	}
	var lastErr error
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		t.mu.RLock()
		snap := t.snap
		version := snap.version + 1
		actions, schemaChanged, err := t.buildActions(snap, tx, txnID)
		t.mu.RUnlock()
		if err != nil {
			return nil, err
		}
		data, err := EncodeActions(actions)
		if err != nil {
			return nil, err
		}
		err = t.store.PutIfAbsent(ctx, CommitKey(version), data)
		if err == nil {
			entry := &CommitEntry{Version: version, Actions: actions, own: true}
			t.mu.Lock()
			applyErr := t.snap.ApplyCommit(entry)
			t.remember(entry)
			t.mu.Unlock()
			if applyErr != nil {
				return nil, applyErr
			}
			res.Version, res.Winners, res.SchemaChanged = version, winners, schemaChanged
			t.maybeCheckpoint(version)
			return res, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("committing version %d: %w", version, ctx.Err())
		}
		if !errors.Is(err, objstore.ErrExists) {
			// Ambiguous failure (the object may exist now): retry; a later
			// ErrExists is matched against our txnId below.
			lastErr = fmt.Errorf("writing commit %d: %w", version, err)
		} else {
			lastErr = fmt.Errorf("commit %d was taken by another writer", version)
			ws, err := t.update(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil, fmt.Errorf("committing: reading winning commits: %w", err)
				}
				// Nothing of ours is written yet: a failed read is retried.
				lastErr = fmt.Errorf("reading winning commits: %w", err)
				ws = nil
			}
			for _, w := range ws {
				if ci := w.CommitInfo(); ci != nil && ci.TxnID == txnID {
					// An earlier attempt that reported an error had landed.
					t.mu.Lock()
					w.own = true
					t.mu.Unlock()
					res.Version, res.Winners = w.Version, winners
					res.SchemaChanged = hasMetadata(w)
					t.maybeCheckpoint(w.Version)
					return res, nil
				}
			}
			if err := removeConflicts(tx, ws); err != nil {
				return nil, err
			}
			if err := t.checkWinners(tx, ws); err != nil {
				return nil, err
			}
			winners = append(winners, ws...)
		}
		if attempt >= t.opts.MaxCommitAttempts {
			return nil, fmt.Errorf("committing after %d attempts: %w: %v", attempt, ErrTooManyCommitAttempts, lastErr)
		}
		if err := t.backoff(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

func hasMetadata(c *CommitEntry) bool {
	for i := range c.Actions {
		if c.Actions[i].Metadata != nil {
			return true
		}
	}
	return false
}

func (t *Table) backoff(ctx context.Context, attempt int) error {
	d := t.opts.RetryBackoff << min(attempt-1, 6)
	d = min(d, time.Second)
	d = d/2 + time.Duration(rand.Int64N(int64(d)))
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("committing: %w", ctx.Err())
	case <-timer.C:
		return nil
	}
}

// buildActions renders the commit against the current snapshot, re-validating
// everything that a concurrent commit could have invalidated.
func (t *Table) buildActions(snap *Snapshot, tx *Transaction, txnID string) ([]Action, bool, error) {
	if err := CheckWriteSupport(snap.protocol, snap.metadata); err != nil {
		return nil, false, fmt.Errorf("committing to %s: %w", t.store.URL(), err)
	}
	md := snap.metadata
	if md.ID != tx.readMetaID {
		return nil, false, &MetadataChangedError{Version: snap.version, Reason: fmt.Sprintf("table id changed from %s to %s (table replaced)", tx.readMetaID, md.ID)}
	}
	if strings.Join(md.PartitionColumns, "\x00") != strings.Join(tx.readParts, "\x00") {
		return nil, false, &MetadataChangedError{Version: snap.version, Reason: fmt.Sprintf("partition columns changed from %v to %v", tx.readParts, md.PartitionColumns)}
	}
	writeSchema := tx.schema
	if writeSchema == nil {
		writeSchema = tx.readSchema
	}
	merged, changed, err := MergeSchema(snap.schema, writeSchema)
	if err != nil {
		if tx.schema != nil && snap.version == tx.readVersion {
			return nil, false, fmt.Errorf("committing: evolving schema: %w", err)
		}
		return nil, false, &MetadataChangedError{Version: snap.version, Reason: "schema changed concurrently", Err: err}
	}
	for _, x := range tx.Txns {
		if cur, ok := snap.txns[x.AppID]; ok && cur.Version >= x.Version {
			return nil, false, &TransactionConflictError{AppID: x.AppID, Version: x.Version, TableVersion: cur.Version, CommitVersion: -1}
		}
	}
	dataRemoves := false
	for _, r := range tx.Removes {
		if _, ok := snap.files[FileKey(r.Path)]; !ok && !snap.withoutFiles {
			return nil, false, &ConcurrentDeleteError{Path: r.Path}
		}
		if r.DataChange {
			dataRemoves = true
		}
	}
	if dataRemoves && md.IsAppendOnly() {
		return nil, false, fmt.Errorf("committing: removing files: %w (delta.appendOnly=true)", ErrAppendOnly)
	}

	now := t.opts.Now().UnixMilli()
	rv := tx.readVersion
	blind := len(tx.Removes) == 0
	metrics := map[string]any{}
	var bytes int64
	for _, a := range tx.Adds {
		bytes += a.Size
	}
	metrics["numFiles"] = strconv.Itoa(len(tx.Adds))
	metrics["numOutputBytes"] = strconv.FormatInt(bytes, 10)
	if len(tx.Removes) > 0 {
		metrics["numRemovedFiles"] = strconv.Itoa(len(tx.Removes))
	}
	for k, val := range tx.OperationMetrics {
		metrics[k] = val
	}
	params := tx.OperationParameters
	if params == nil {
		params = map[string]any{}
		if tx.Operation == "WRITE" {
			partJSON, _ := json.Marshal(md.PartitionColumns)
			params = map[string]any{"mode": "Append", "partitionBy": string(partJSON)}
		}
	}
	ci := &CommitInfo{
		Timestamp: now, Operation: tx.Operation, OperationParameters: params,
		ReadVersion: &rv, IsBlindAppend: &blind, OperationMetrics: metrics,
		EngineInfo: t.opts.EngineInfo, TxnID: txnID,
	}
	if len(tx.CommitInfoExtra) > 0 {
		ci.Extra = make(map[string]json.RawMessage, len(tx.CommitInfoExtra))
		for k, val := range tx.CommitInfoExtra {
			b, err := json.Marshal(val)
			if err != nil {
				return nil, false, fmt.Errorf("committing: encoding commitInfo field %q: %w", k, err)
			}
			ci.Extra[k] = b
		}
	}
	actions := make([]Action, 0, 2+len(tx.Txns)+len(tx.Removes)+len(tx.Adds))
	actions = append(actions, Action{CommitInfo: ci})
	if changed {
		nm := *md
		nm.SchemaString = merged.String()
		actions = append(actions, Action{Metadata: &nm})
	}
	for _, x := range tx.Txns {
		x.LastUpdated = &now
		actions = append(actions, Action{Txn: &x})
	}
	for _, r := range tx.Removes {
		r := r
		if r.DeletionTimestamp == nil {
			r.DeletionTimestamp = &now
		}
		if r.PartitionValues == nil {
			r.PartitionValues = map[string]*string{}
		}
		actions = append(actions, Action{Remove: &r})
	}
	for _, a := range tx.Adds {
		a := a
		if a.PartitionValues == nil {
			a.PartitionValues = map[string]*string{}
		}
		actions = append(actions, Action{Add: &a})
	}
	return actions, changed, nil
}
