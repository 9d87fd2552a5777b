package delta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// CreateOptions describe a new table.
type CreateOptions struct {
	Schema           *StructType
	PartitionColumns []string
	Configuration    map[string]string
	Name             string
	Description      string
}

func (c *CreateOptions) validate() error {
	if c.Schema == nil || len(c.Schema.Fields) == 0 {
		return errors.New("creating table: schema has no columns")
	}
	seen := map[string]bool{}
	for _, f := range c.Schema.Fields {
		k := strings.ToLower(f.Name)
		if seen[k] {
			return fmt.Errorf("creating table: column %q appears twice (Delta column names are case-insensitive)", f.Name)
		}
		seen[k] = true
	}
	for _, p := range c.PartitionColumns {
		f := c.Schema.Field(p)
		if f == nil || f.Name != p {
			return fmt.Errorf("creating table: partition column %q is not a top-level column of the schema", p)
		}
		if _, ok := f.Type.(*StructType); ok {
			return fmt.Errorf("creating table: partition column %q must have a primitive type, not %s", p, FormatType(f.Type))
		}
		if _, ok := f.Type.(*ArrayType); ok {
			return fmt.Errorf("creating table: partition column %q must have a primitive type, not %s", p, FormatType(f.Type))
		}
		if _, ok := f.Type.(*MapType); ok {
			return fmt.Errorf("creating table: partition column %q must have a primitive type, not %s", p, FormatType(f.Type))
		}
	}
	return nil
}

// Create writes version 0 of a new table (protocol, metaData, commitInfo
// "CREATE TABLE"). If the location already holds a table the error wraps
// ErrTableExists.
func Create(ctx context.Context, store objstore.Store, c CreateOptions, opts TableOptions) (*Table, error) {
	t, created, err := create(ctx, store, c, opts)
	if err != nil {
		return nil, err
	}
	if !created {
		return nil, fmt.Errorf("creating table at %s: %w", store.URL(), ErrTableExists)
	}
	return t, nil
}

// OpenOrCreate opens the table, creating it if the location holds none. When
// it exists (including when another writer created it concurrently) its
// partition columns must equal c.PartitionColumns and its schema must merge
// with c.Schema without type conflicts; the caller evolves the schema with
// Transaction.SetSchema if c.Schema has extra columns. created reports
// whether this call wrote version 0.
func OpenOrCreate(ctx context.Context, store objstore.Store, c CreateOptions, opts TableOptions) (t *Table, created bool, err error) {
	return create(ctx, store, c, opts)
}

func create(ctx context.Context, store objstore.Store, c CreateOptions, opts TableOptions) (*Table, bool, error) {
	if err := c.validate(); err != nil {
		return nil, false, err
	}
	opts.defaults()
	existing, err := loadSnapshot(ctx, store, -1, opts.WithoutFiles)
	if err == nil {
		return openExisting(store, existing, c, opts)
	}
	if !errors.Is(err, ErrTableNotFound) {
		return nil, false, err
	}
	now := opts.Now().UnixMilli()
	conf := c.Configuration
	if conf == nil {
		conf = map[string]string{}
	}
	parts := c.PartitionColumns
	if parts == nil {
		parts = []string{}
	}
	proto := ProtocolForSchema(c.Schema)
	md := &Metadata{
		ID: uuid.NewString(), Name: c.Name, Description: c.Description,
		Format:       Format{Provider: "parquet", Options: map[string]string{}},
		SchemaString: c.Schema.String(), PartitionColumns: parts, Configuration: conf, CreatedTime: &now,
	}
	if err := CheckWriteSupport(proto, md); err != nil {
		return nil, false, fmt.Errorf("creating table: %w", err)
	}
	partJSON, _ := json.Marshal(parts)
	blind := false
	actions := []Action{
		// No readVersion: there is none, and delta-rs rejects -1 (it parses an unsigned integer).
		{CommitInfo: &CommitInfo{
			Timestamp: now, Operation: "CREATE TABLE",
			OperationParameters: map[string]any{"mode": "ErrorIfExists", "partitionBy": string(partJSON), "location": store.URL()},
			IsBlindAppend:       &blind, EngineInfo: opts.EngineInfo, TxnID: uuid.NewString(),
		}},
		{Protocol: &proto},
		{Metadata: md},
	}
	data, err := EncodeActions(actions)
	if err != nil {
		return nil, false, err
	}
	if err := store.PutIfAbsent(ctx, CommitKey(0), data); err != nil {
		if !errors.Is(err, objstore.ErrExists) {
			return nil, false, fmt.Errorf("creating table at %s: writing commit 0: %w", store.URL(), err)
		}
		// Lost the creation race: open the winner's table if it is compatible.
		existing, err := loadSnapshot(ctx, store, -1, opts.WithoutFiles)
		if err != nil {
			return nil, false, err
		}
		return openExisting(store, existing, c, opts)
	}
	snap := newSnapshot()
	snap.withoutFiles = opts.WithoutFiles
	entry := &CommitEntry{Version: 0, Actions: actions}
	if err := snap.ApplyCommit(entry); err != nil {
		return nil, false, err
	}
	t := newTable(store, snap, opts)
	t.remember(entry)
	return t, true, nil
}

func openExisting(store objstore.Store, s *Snapshot, c CreateOptions, opts TableOptions) (*Table, bool, error) {
	want, have := c.PartitionColumns, s.metadata.PartitionColumns
	if strings.Join(want, "\x00") != strings.Join(have, "\x00") {
		return nil, false, fmt.Errorf("opening table at %s: it is partitioned by %v, configured %v: %w", store.URL(), have, want, ErrTableExists)
	}
	if _, _, err := MergeSchema(s.schema, c.Schema); err != nil {
		return nil, false, fmt.Errorf("opening table at %s: existing schema is incompatible: %w", store.URL(), err)
	}
	return newTable(store, s, opts), false, nil
}
