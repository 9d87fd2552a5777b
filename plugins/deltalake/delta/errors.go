package delta

import (
	"errors"
	"fmt"
)

// Sentinel errors; the typed errors below wrap them so callers can use errors.Is.
var (
	// ErrTableExists is returned by Create when the location already holds a table.
	ErrTableExists = errors.New("Delta table already exists")
	// ErrDuplicateTransaction: the table already holds a txn for one of the
	// transaction's appIds with a version at or above the one being committed,
	// i.e. this data was committed before (by us earlier, or by another writer).
	ErrDuplicateTransaction = errors.New("transaction already committed for this appId and version")
	// ErrConcurrentTransaction: another writer committed a txn for the same
	// appId (with a lower version) after our read version — two writers share an appId.
	ErrConcurrentTransaction = errors.New("concurrent transaction with the same appId")
	// ErrMetadataChanged: a concurrent commit changed the table metadata in a
	// way the pending commit cannot be rebased on.
	ErrMetadataChanged = errors.New("table metadata changed concurrently")
	// ErrConcurrentDeleteDelete: a file this commit removes was removed by
	// another commit.
	ErrConcurrentDeleteDelete = errors.New("file removed concurrently")
	// ErrAppendOnly: the table sets delta.appendOnly=true and the commit removes data.
	ErrAppendOnly = errors.New("table is append-only")
	// ErrTooManyCommitAttempts: the commit lost the race too many times.
	ErrTooManyCommitAttempts = errors.New("too many commit attempts")
	// ErrBehindLogCleanup: log files this Table still needs to catch up were
	// deleted by log cleanup after newer checkpoints (it was idle longer than
	// delta.logRetentionDuration while others committed). Committing would
	// land in a cleaned-up slot no reader sees; reopen the table instead.
	ErrBehindLogCleanup = errors.New("table state is older than the cleaned-up log")
)

// TransactionConflictError reports a txn (appId) conflict found while
// committing. It wraps ErrDuplicateTransaction when the table's version for
// the appId is at or above ours, else ErrConcurrentTransaction.
type TransactionConflictError struct {
	AppID string
	// Version is the txn version this commit tried to write.
	Version int64
	// TableVersion is the txn version found in the table.
	TableVersion int64
	// CommitVersion is the table version of the commit holding that txn (-1 if
	// it came from a checkpoint or the read snapshot).
	CommitVersion int64
}

func (e *TransactionConflictError) Error() string {
	where := ""
	if e.CommitVersion >= 0 {
		where = fmt.Sprintf(" (commit %d)", e.CommitVersion)
	}
	if e.TableVersion >= e.Version {
		return fmt.Sprintf("txn appId %q: version %d already committed, table has %d%s", e.AppID, e.Version, e.TableVersion, where)
	}
	return fmt.Sprintf("txn appId %q: another writer committed version %d%s while we were committing %d", e.AppID, e.TableVersion, where, e.Version)
}

func (e *TransactionConflictError) Unwrap() error {
	if e.TableVersion >= e.Version {
		return ErrDuplicateTransaction
	}
	return ErrConcurrentTransaction
}

// MetadataChangedError reports an incompatible concurrent metaData change.
type MetadataChangedError struct {
	Version int64 // table version whose metadata we could not rebase on
	Reason  string
	Err     error // underlying cause, e.g. a *SchemaConflictError
}

func (e *MetadataChangedError) Error() string {
	s := fmt.Sprintf("table metadata at version %d is incompatible with this commit: %s", e.Version, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns ErrMetadataChanged and the cause.
func (e *MetadataChangedError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrMetadataChanged, e.Err}
	}
	return []error{ErrMetadataChanged}
}

// ConcurrentDeleteError names a file removed by someone else first.
type ConcurrentDeleteError struct {
	Path string
}

func (e *ConcurrentDeleteError) Error() string {
	return fmt.Sprintf("file %q is no longer in the table (removed by a concurrent commit)", e.Path)
}

func (e *ConcurrentDeleteError) Unwrap() error { return ErrConcurrentDeleteDelete }
