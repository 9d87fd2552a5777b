package delta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// Protocol is the `protocol` action: the reader and writer versions (and, at
// reader 3 / writer 7, the named table features) a client needs to use the table.
type Protocol struct {
	MinReaderVersion int      `json:"minReaderVersion"`
	MinWriterVersion int      `json:"minWriterVersion"`
	ReaderFeatures   []string `json:"readerFeatures,omitempty"`
	WriterFeatures   []string `json:"writerFeatures,omitempty"`
}

// Format is the data file format of a table (always parquet).
type Format struct {
	Provider string            `json:"provider"`
	Options  map[string]string `json:"options"`
}

// Metadata is the `metaData` action. A later metaData completely replaces an
// earlier one, so every field is always re-emitted.
type Metadata struct {
	ID               string            `json:"id"`
	Name             string            `json:"name,omitempty"`
	Description      string            `json:"description,omitempty"`
	Format           Format            `json:"format"`
	SchemaString     string            `json:"schemaString"`
	PartitionColumns []string          `json:"partitionColumns"`
	Configuration    map[string]string `json:"configuration"`
	CreatedTime      *int64            `json:"createdTime,omitempty"`
}

// Schema parses SchemaString.
func (m *Metadata) Schema() (*StructType, error) {
	return ParseSchema([]byte(m.SchemaString))
}

// Add is the `add` action: a data file becoming part of the table.
//
// Path is the percent-encoded relative URI as it appears in the log; use
// EncodePath / Add.DecodedPath to convert from and to object keys.
// A nil value in PartitionValues is a null partition value (JSON null).
type Add struct {
	Path             string             `json:"path"`
	PartitionValues  map[string]*string `json:"partitionValues"`
	Size             int64              `json:"size"`
	ModificationTime int64              `json:"modificationTime"`
	DataChange       bool               `json:"dataChange"`
	Stats            string             `json:"stats,omitempty"`
	Tags             map[string]string  `json:"tags,omitempty"`
	// DeletionVector is only read, to refuse tables using deletion vectors.
	DeletionVector json.RawMessage `json:"deletionVector,omitempty"`
}

// DecodedPath returns the object key of the file relative to the table root.
func (a *Add) DecodedPath() (string, error) { return DecodePath(a.Path) }

// Remove is the `remove` action: a tombstone for a data file.
type Remove struct {
	Path                 string             `json:"path"`
	DeletionTimestamp    *int64             `json:"deletionTimestamp,omitempty"`
	DataChange           bool               `json:"dataChange"`
	ExtendedFileMetadata *bool              `json:"extendedFileMetadata,omitempty"`
	PartitionValues      map[string]*string `json:"partitionValues"` // {} when unknown, never null
	Size                 *int64             `json:"size,omitempty"`
	Stats                string             `json:"stats,omitempty"`
	Tags                 map[string]string  `json:"tags,omitempty"`
	DeletionVector       json.RawMessage    `json:"deletionVector,omitempty"`
}

// Txn is the `txn` action: the latest version an application (appId) has
// committed, written atomically with its data for exactly-once delivery.
type Txn struct {
	AppID       string `json:"appId"`
	Version     int64  `json:"version"`
	LastUpdated *int64 `json:"lastUpdated,omitempty"`
}

// DomainMetadata is the `domainMetadata` action, preserved for foreign tables.
type DomainMetadata struct {
	Domain        string `json:"domain"`
	Configuration string `json:"configuration"`
	Removed       bool   `json:"removed"`
}

// CommitInfo is the free-form `commitInfo` action. Known fields are exposed as
// struct fields; everything else (including caller-supplied extras such as
// source offsets) is kept in Extra and written back at the top level.
type CommitInfo struct {
	Timestamp           int64                      `json:"timestamp,omitempty"`
	Operation           string                     `json:"operation,omitempty"`
	OperationParameters map[string]any             `json:"operationParameters,omitempty"`
	ReadVersion         *int64                     `json:"readVersion,omitempty"`
	IsBlindAppend       *bool                      `json:"isBlindAppend,omitempty"`
	OperationMetrics    map[string]any             `json:"operationMetrics,omitempty"`
	EngineInfo          string                     `json:"engineInfo,omitempty"`
	TxnID               string                     `json:"txnId,omitempty"`
	Extra               map[string]json.RawMessage `json:"-"`
}

var commitInfoKnown = map[string]bool{
	"timestamp": true, "operation": true, "operationParameters": true, "readVersion": true,
	"isBlindAppend": true, "operationMetrics": true, "engineInfo": true, "txnId": true,
}

// MarshalJSON writes the known fields and the extras as one flat object.
func (c CommitInfo) MarshalJSON() ([]byte, error) {
	type plain CommitInfo
	base, err := json.Marshal(plain(c))
	if err != nil {
		return nil, err
	}
	if len(c.Extra) == 0 {
		return base, nil
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(base, &m); err != nil {
		return nil, err
	}
	for k, v := range c.Extra {
		if commitInfoKnown[k] {
			continue
		}
		m[k] = v
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads known fields leniently (foreign writers differ in
// types) and keeps the rest in Extra.
func (c *CommitInfo) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*c = CommitInfo{}
	for k, v := range m {
		switch k {
		case "timestamp":
			_ = json.Unmarshal(v, &c.Timestamp)
		case "operation":
			_ = json.Unmarshal(v, &c.Operation)
		case "operationParameters":
			_ = json.Unmarshal(v, &c.OperationParameters)
		case "readVersion":
			var rv int64
			if json.Unmarshal(v, &rv) == nil {
				c.ReadVersion = &rv
			}
		case "isBlindAppend":
			var b bool
			if json.Unmarshal(v, &b) == nil {
				c.IsBlindAppend = &b
			}
		case "operationMetrics":
			_ = json.Unmarshal(v, &c.OperationMetrics)
		case "engineInfo":
			_ = json.Unmarshal(v, &c.EngineInfo)
		case "txnId":
			_ = json.Unmarshal(v, &c.TxnID)
		default:
			if c.Extra == nil {
				c.Extra = map[string]json.RawMessage{}
			}
			c.Extra[k] = v
		}
	}
	return nil
}

// Action is one line of a commit file. Exactly one field is set; actions this
// package does not know (cdc, checkpointMetadata, sidecar, ...) are kept raw in
// Unknown so that decoding never fails on them.
type Action struct {
	Protocol       *Protocol       `json:"protocol,omitempty"`
	Metadata       *Metadata       `json:"metaData,omitempty"`
	Add            *Add            `json:"add,omitempty"`
	Remove         *Remove         `json:"remove,omitempty"`
	Txn            *Txn            `json:"txn,omitempty"`
	CommitInfo     *CommitInfo     `json:"commitInfo,omitempty"`
	DomainMetadata *DomainMetadata `json:"domainMetadata,omitempty"`
	// Unknown holds an action of another kind, keyed by its name.
	Unknown map[string]json.RawMessage `json:"-"`
}

// MarshalJSON writes the single set action.
func (a Action) MarshalJSON() ([]byte, error) {
	if len(a.Unknown) > 0 {
		return json.Marshal(a.Unknown)
	}
	type plain Action
	return json.Marshal(plain(a))
}

// UnmarshalJSON reads one action line, keeping unknown kinds raw.
func (a *Action) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*a = Action{}
	for k, v := range m {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue
		}
		var err error
		switch k {
		case "protocol":
			a.Protocol = new(Protocol)
			err = json.Unmarshal(v, a.Protocol)
		case "metaData":
			a.Metadata = new(Metadata)
			err = json.Unmarshal(v, a.Metadata)
		case "add":
			a.Add = new(Add)
			err = json.Unmarshal(v, a.Add)
		case "remove":
			a.Remove = new(Remove)
			err = json.Unmarshal(v, a.Remove)
		case "txn":
			a.Txn = new(Txn)
			err = json.Unmarshal(v, a.Txn)
		case "commitInfo":
			a.CommitInfo = new(CommitInfo)
			err = json.Unmarshal(v, a.CommitInfo)
		case "domainMetadata":
			a.DomainMetadata = new(DomainMetadata)
			err = json.Unmarshal(v, a.DomainMetadata)
		default:
			if a.Unknown == nil {
				a.Unknown = map[string]json.RawMessage{}
			}
			a.Unknown[k] = v
		}
		if err != nil {
			return fmt.Errorf("decoding %s action: %w", k, err)
		}
	}
	return nil
}

// EncodeActions renders actions as a commit file: one single-line JSON document
// per action, each followed by a newline.
func EncodeActions(actions []Action) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i, a := range actions {
		if err := enc.Encode(a); err != nil {
			return nil, fmt.Errorf("encoding action %d: %w", i, err)
		}
	}
	return buf.Bytes(), nil
}

// DecodeActions parses a commit file (newline-delimited JSON). Blank lines are
// ignored; unknown actions and fields are tolerated.
func DecodeActions(r io.Reader) ([]Action, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading actions: %w", err)
	}
	return ParseActions(data)
}

// ParseActions is DecodeActions over bytes already in memory.
func ParseActions(data []byte) ([]Action, error) {
	out := make([]Action, 0, bytes.Count(data, []byte{'\n'})+1)
	for line := 1; len(data) > 0; line++ {
		var b []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			b, data = data[:i], data[i+1:]
		} else {
			b, data = data, nil
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		var a Action
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, fmt.Errorf("decoding action on line %d: %w", line, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// EncodePath turns an object key relative to the table root (for example
// "date=2024-01-01/part-0.parquet") into the percent-encoded URI path written
// in add.path: every byte outside the RFC 3986 unreserved set and "/" is
// escaped, so a Hive-escaped directory "x=A%2FA" becomes "x=A%252FA".
func EncodePath(key string) string {
	var sb strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if isUnreserved(c) || c == '/' || c == '=' {
			sb.WriteByte(c)
			continue
		}
		fmt.Fprintf(&sb, "%%%02X", c)
	}
	return sb.String()
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// DecodePath turns an add/remove path from the log into an object key relative
// to the table root. Absolute URIs are returned unchanged (without decoding)
// with an error, since they point outside the table's store.
func DecodePath(p string) (string, error) {
	if strings.Contains(p, "://") {
		u, err := url.Parse(p)
		if err != nil {
			return "", fmt.Errorf("decoding file path %q: %w", p, err)
		}
		return "", fmt.Errorf("decoding file path %q: absolute %s URIs are not supported", p, u.Scheme)
	}
	key, err := url.PathUnescape(p)
	if err != nil {
		return "", fmt.Errorf("decoding file path %q: %w", p, err)
	}
	return key, nil
}
