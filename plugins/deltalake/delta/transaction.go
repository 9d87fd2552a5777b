package delta

import (
	"errors"
	"fmt"
)

// Transaction collects the actions of one commit. Build it with
// Table.NewTransaction, fill it, then call Table.Commit.
type Transaction struct {
	readVersion int64
	readSchema  *StructType
	readParts   []string
	readMetaID  string

	// Operation is commitInfo.operation (default "WRITE").
	Operation string
	// OperationParameters, OperationMetrics go into commitInfo as given.
	OperationParameters map[string]any
	OperationMetrics    map[string]any
	// CommitInfoExtra adds top-level fields to commitInfo (e.g. source
	// offsets); keys clashing with the standard fields are ignored.
	CommitInfoExtra map[string]any

	Adds    []Add
	Removes []Remove
	Txns    []Txn

	// OnConflict, if set, is called with the commits other writers made
	// between the read version and the version being attempted, each time
	// they are discovered (before the built-in conflict checks). Returning an
	// error aborts the commit with that error.
	OnConflict func(winners []*CommitEntry) error

	schema *StructType // pending schema (evolution), nil = read schema
}

// NewTransaction starts a transaction reading the table's current version.
func (t *Table) NewTransaction() *Transaction {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return newTransactionAt(t.snap)
}

// NewTransactionAt starts a transaction reading snapshot s of this table
// (for example one from FullSnapshot), so that every commit after s is
// checked for conflicts with it.
func (t *Table) NewTransactionAt(s *Snapshot) *Transaction { return newTransactionAt(s) }

// newTransactionAt starts a transaction reading snapshot s.
func newTransactionAt(s *Snapshot) *Transaction {
	return &Transaction{
		readVersion: s.version,
		readSchema:  s.schema,
		readParts:   append([]string(nil), s.metadata.PartitionColumns...),
		readMetaID:  s.metadata.ID,
		Operation:   "WRITE",
	}
}

// ReadVersion is the table version the transaction was started from.
func (tx *Transaction) ReadVersion() int64 { return tx.readVersion }

// SetSchema declares the schema the transaction's data files were written
// with, when it has columns the table lacks (schema evolution). At commit
// time it is merged into the then-current table schema (new nullable fields
// appended) and a metaData action is written if anything changed.
func (tx *Transaction) SetSchema(s *StructType) { tx.schema = s }

// SetTxn records (appId, version) atomically with the commit.
func (tx *Transaction) SetTxn(appID string, version int64) {
	for i := range tx.Txns {
		if tx.Txns[i].AppID == appID {
			tx.Txns[i].Version = version
			return
		}
	}
	tx.Txns = append(tx.Txns, Txn{AppID: appID, Version: version})
}

// CommitResult describes a successful commit.
type CommitResult struct {
	Version  int64
	Attempts int
	// Winners are the commits other writers made between the read version
	// and Version, oldest first.
	Winners []*CommitEntry
	// SchemaChanged is true when the commit carried a new metaData.
	SchemaChanged bool
}

func (tx *Transaction) validate() error {
	apps := map[string]bool{}
	for _, x := range tx.Txns {
		if x.AppID == "" {
			return errors.New("committing: txn with empty appId")
		}
		if apps[x.AppID] {
			return fmt.Errorf("committing: txn appId %q appears twice", x.AppID)
		}
		apps[x.AppID] = true
	}
	paths := map[string]bool{}
	for _, a := range tx.Adds {
		if a.Path == "" {
			return errors.New("committing: add action with empty path")
		}
		if paths[a.Path] {
			return fmt.Errorf("committing: file %q added twice", a.Path)
		}
		paths[a.Path] = true
	}
	rpaths := map[string]bool{}
	for _, r := range tx.Removes {
		if rpaths[r.Path] {
			return fmt.Errorf("committing: file %q removed twice", r.Path)
		}
		rpaths[r.Path] = true
	}
	return nil
}
