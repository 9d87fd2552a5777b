package delta

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultProtocol is what new tables get: reader 1 / writer 2, no table
// features — the combination every reader in scope accepts.
func DefaultProtocol() Protocol { return Protocol{MinReaderVersion: 1, MinWriterVersion: 2} }

// ErrUnsupportedFeature is wrapped by *UnsupportedFeatureError.
var ErrUnsupportedFeature = errors.New("unsupported Delta table feature")

// UnsupportedFeatureError names a table feature (or protocol version) this
// writer does not implement, so it refuses to write to the table.
type UnsupportedFeatureError struct {
	Feature string
	Reason  string
}

func (e *UnsupportedFeatureError) Error() string {
	return fmt.Sprintf("table uses feature %q which this writer does not support: %s", e.Feature, e.Reason)
}

func (e *UnsupportedFeatureError) Unwrap() error { return ErrUnsupportedFeature }

// Configuration keys this package reads.
const (
	ConfigAppendOnly               = "delta.appendOnly"
	ConfigCheckpointInterval       = "delta.checkpointInterval"
	ConfigCheckpointStatsAsStruct  = "delta.checkpoint.writeStatsAsStruct"
	ConfigCheckpointStatsAsJSON    = "delta.checkpoint.writeStatsAsJson"
	ConfigDeletedFileRetention     = "delta.deletedFileRetentionDuration"
	ConfigEnableExpiredLogCleanup  = "delta.enableExpiredLogCleanup"
	ConfigColumnMappingMode        = "delta.columnMapping.mode"
	ConfigEnableDeletionVectors    = "delta.enableDeletionVectors"
	ConfigEnableRowTracking        = "delta.enableRowTracking"
	ConfigEnableInCommitTimestamps = "delta.enableInCommitTimestamps"
)

// Reader features whose presence does not stop us from reading the log,
// writing a V1 checkpoint or appending.
var supportedReaderFeatures = map[string]bool{
	"timestampNtz":        true,
	"vacuumProtocolCheck": true,
}

// Writer features we honour. Features only refused when in use (invariants,
// checkConstraints, generatedColumns, identityColumns) are checked separately.
var supportedWriterFeatures = map[string]bool{
	"appendOnly":          true,
	"invariants":          true,
	"checkConstraints":    true,
	"generatedColumns":    true,
	"identityColumns":     true,
	"changeDataFeed":      true,
	"timestampNtz":        true,
	"domainMetadata":      true,
	"vacuumProtocolCheck": true,
	"columnMapping":       true, // only with mode none, checked below
}

// CheckWriteSupport returns an *UnsupportedFeatureError when appending to a
// table with this protocol and metadata would need a feature we do not
// implement (deletion vectors, column mapping, row tracking, v2 checkpoints,
// in-use invariants/constraints/generated or identity columns, ...).
func CheckWriteSupport(p Protocol, m *Metadata) error {
	if p.MinReaderVersion > 3 {
		return &UnsupportedFeatureError{Feature: fmt.Sprintf("minReaderVersion=%d", p.MinReaderVersion), Reason: "reader versions above 3 are unknown"}
	}
	if p.MinWriterVersion > 7 {
		return &UnsupportedFeatureError{Feature: fmt.Sprintf("minWriterVersion=%d", p.MinWriterVersion), Reason: "writer versions above 7 are unknown"}
	}
	if p.MinReaderVersion == 3 {
		for _, f := range p.ReaderFeatures {
			if !supportedReaderFeatures[f] {
				return &UnsupportedFeatureError{Feature: f, Reason: "reader feature not implemented"}
			}
		}
	}
	if p.MinWriterVersion == 7 {
		for _, f := range p.WriterFeatures {
			if !supportedWriterFeatures[f] {
				return &UnsupportedFeatureError{Feature: f, Reason: "writer feature not implemented"}
			}
		}
	}
	if m == nil {
		return nil
	}
	conf := m.Configuration
	if mode := conf[ConfigColumnMappingMode]; mode != "" && mode != "none" && (p.MinWriterVersion >= 5 || p.MinReaderVersion >= 2) {
		return &UnsupportedFeatureError{Feature: "columnMapping", Reason: "column mapping mode " + mode}
	}
	if p.hasWriterFeature("deletionVectors") || strings.EqualFold(conf[ConfigEnableDeletionVectors], "true") && p.MinWriterVersion == 7 {
		return &UnsupportedFeatureError{Feature: "deletionVectors", Reason: "deletion vectors are not implemented"}
	}
	if p.MinWriterVersion >= 3 {
		for k := range conf {
			if strings.HasPrefix(k, "delta.constraints.") {
				return &UnsupportedFeatureError{Feature: "checkConstraints", Reason: "CHECK constraint " + strings.TrimPrefix(k, "delta.constraints.") + " would not be enforced"}
			}
		}
	}
	schema, err := m.Schema()
	if err != nil {
		return err
	}
	var found error
	walkFields(schema, "", func(path string, f *StructField) {
		if found != nil {
			return
		}
		switch {
		case f.Metadata["delta.invariants"] != nil:
			found = &UnsupportedFeatureError{Feature: "invariants", Reason: "column " + path + " has an invariant that would not be enforced"}
		case p.MinWriterVersion >= 4 && f.Metadata["delta.generationExpression"] != nil:
			found = &UnsupportedFeatureError{Feature: "generatedColumns", Reason: "column " + path + " is generated"}
		case p.MinWriterVersion >= 6 && (f.Metadata["delta.identity.start"] != nil || f.Metadata["delta.identity.step"] != nil):
			found = &UnsupportedFeatureError{Feature: "identityColumns", Reason: "column " + path + " is an identity column"}
		}
	})
	if found != nil {
		return found
	}
	if hasNTZ(schema) && !(p.hasReaderFeature("timestampNtz") && p.hasWriterFeature("timestampNtz")) {
		return &UnsupportedFeatureError{Feature: "timestampNtz", Reason: "schema has timestamp_ntz but the protocol does not list the feature"}
	}
	return nil
}

func (p Protocol) hasWriterFeature(f string) bool {
	for _, x := range p.WriterFeatures {
		if x == f {
			return true
		}
	}
	return false
}

func (p Protocol) hasReaderFeature(f string) bool {
	for _, x := range p.ReaderFeatures {
		if x == f {
			return true
		}
	}
	return false
}

func walkFields(t DataType, prefix string, fn func(path string, f *StructField)) {
	switch v := t.(type) {
	case *StructType:
		for _, f := range v.Fields {
			p := joinPath(prefix, f.Name)
			fn(p, f)
			walkFields(f.Type, p, fn)
		}
	case *ArrayType:
		walkFields(v.ElementType, prefix+".element", fn)
	case *MapType:
		walkFields(v.KeyType, prefix+".key", fn)
		walkFields(v.ValueType, prefix+".value", fn)
	}
}

func hasNTZ(t DataType) bool {
	switch v := t.(type) {
	case *PrimitiveType:
		return v.Name == TypeTimestampNTZ
	case *StructType:
		for _, f := range v.Fields {
			if hasNTZ(f.Type) {
				return true
			}
		}
	case *ArrayType:
		return hasNTZ(v.ElementType)
	case *MapType:
		return hasNTZ(v.KeyType) || hasNTZ(v.ValueType)
	}
	return false
}

// ProtocolForSchema returns the protocol a new table with this schema needs:
// (1,2) normally, (3,7) with the timestampNtz feature when the schema has a
// timestamp_ntz column.
func ProtocolForSchema(s *StructType) Protocol {
	if hasNTZ(s) {
		return Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{"timestampNtz"}, WriterFeatures: []string{"timestampNtz"}}
	}
	return DefaultProtocol()
}

// IsAppendOnly reports whether delta.appendOnly is set to true.
func (m *Metadata) IsAppendOnly() bool {
	return m != nil && strings.EqualFold(m.Configuration[ConfigAppendOnly], "true")
}
