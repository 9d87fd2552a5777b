package client

import (
	"context"
	"time"

	"github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

// SchemaType names the kind of a schema subject, as the registry spells it.
type SchemaType string

const (
	SchemaJSON     SchemaType = "json_schema"
	SchemaAvro     SchemaType = "avro"
	SchemaProtobuf SchemaType = "protobuf"
	SchemaBytes    SchemaType = "bytes"
	SchemaString   SchemaType = "string"
	SchemaNumber   SchemaType = "number"
)

// Compatibility modes of a subject.
const (
	CompatibilityNone     = "none"
	CompatibilityBackward = "backward"
	CompatibilityForward  = "forward"
	CompatibilityFull     = "full"
)

// SchemaDefinition is a schema to register.
type SchemaDefinition struct {
	Subject     string
	Type        SchemaType
	Definition  []byte
	Description string
	CreatedBy   string
	Tags        []string
}

// RegisterResult is the registry's answer to a registration. Registering an
// identical definition again returns the existing id and version with
// IsNewVersion false.
type RegisterResult struct {
	ID           uint64
	Version      uint32
	IsNewVersion bool
	Fingerprint  string
}

// SchemaInfo is one version of a subject. Definition is what the registry
// returns, which for danube-broker v0.15 is its JSON envelope of the
// registered text, not the registered bytes.
type SchemaInfo struct {
	ID                uint64
	Version           uint32
	Subject           string
	Type              SchemaType
	Definition        []byte
	Description       string
	CreatedAt         time.Time
	CreatedBy         string
	Tags              []string
	Fingerprint       string
	CompatibilityMode string
}

// SchemaVersion summarises one version of a subject.
type SchemaVersion struct {
	ID          uint64
	Version     uint32
	CreatedAt   time.Time
	CreatedBy   string
	Description string
	Fingerprint string
}

// SchemaRegistry is the client of the broker's schema registry.
type SchemaRegistry struct{ c *Client }

// Schemas returns the schema registry client.
func (c *Client) Schemas() *SchemaRegistry { return &SchemaRegistry{c: c} }

func (r *SchemaRegistry) rpc() (danubepb.SchemaRegistryClient, error) {
	cc, err := r.c.serviceConn()
	if err != nil {
		return nil, err
	}
	return danubepb.NewSchemaRegistryClient(cc), nil
}

// Register adds a schema version to a subject (creating the subject).
func (r *SchemaRegistry) Register(ctx context.Context, d SchemaDefinition) (RegisterResult, error) {
	rc, err := r.rpc()
	if err != nil {
		return RegisterResult{}, err
	}
	resp, err := rc.RegisterSchema(ctx, &danubepb.RegisterSchemaRequest{
		Subject: d.Subject, SchemaType: string(d.Type), SchemaDefinition: d.Definition,
		Description: d.Description, CreatedBy: d.CreatedBy, Tags: d.Tags,
	})
	if err != nil {
		return RegisterResult{}, wrapError("register schema "+d.Subject, "", err)
	}
	return RegisterResult{ID: resp.GetSchemaId(), Version: resp.GetVersion(),
		IsNewVersion: resp.GetIsNewVersion(), Fingerprint: resp.GetFingerprint()}, nil
}

// Get returns a schema by id; version 0 means its latest version.
func (r *SchemaRegistry) Get(ctx context.Context, id uint64, version uint32) (*SchemaInfo, error) {
	rc, err := r.rpc()
	if err != nil {
		return nil, err
	}
	req := &danubepb.GetSchemaRequest{SchemaId: id}
	if version > 0 {
		req.Version = &version
	}
	resp, err := rc.GetSchema(ctx, req)
	if err != nil {
		return nil, wrapError("get schema", "", err)
	}
	return schemaInfo(resp), nil
}

// Latest returns the latest version of a subject.
func (r *SchemaRegistry) Latest(ctx context.Context, subject string) (*SchemaInfo, error) {
	rc, err := r.rpc()
	if err != nil {
		return nil, err
	}
	resp, err := rc.GetLatestSchema(ctx, &danubepb.GetLatestSchemaRequest{Subject: subject})
	if err != nil {
		return nil, wrapError("get latest schema "+subject, "", err)
	}
	return schemaInfo(resp), nil
}

// ListVersions lists the versions of a subject.
func (r *SchemaRegistry) ListVersions(ctx context.Context, subject string) ([]SchemaVersion, error) {
	rc, err := r.rpc()
	if err != nil {
		return nil, err
	}
	resp, err := rc.ListVersions(ctx, &danubepb.ListVersionsRequest{Subject: subject})
	if err != nil {
		return nil, wrapError("list schema versions "+subject, "", err)
	}
	out := make([]SchemaVersion, 0, len(resp.GetVersions()))
	for _, v := range resp.GetVersions() {
		out = append(out, SchemaVersion{ID: v.GetSchemaId(), Version: v.GetVersion(),
			CreatedAt: msTime(v.GetCreatedAt()), CreatedBy: v.GetCreatedBy(),
			Description: v.GetDescription(), Fingerprint: v.GetFingerprint()})
	}
	return out, nil
}

// CheckCompatibility asks whether def could be registered on subject; mode
// "" uses the subject's own mode. It returns the registry's reasons when not.
func (r *SchemaRegistry) CheckCompatibility(ctx context.Context, subject string, typ SchemaType, def []byte, mode string) (bool, []string, error) {
	rc, err := r.rpc()
	if err != nil {
		return false, nil, err
	}
	req := &danubepb.CheckCompatibilityRequest{Subject: subject, NewSchemaDefinition: def, SchemaType: string(typ)}
	if mode != "" {
		req.CompatibilityMode = &mode
	}
	resp, err := rc.CheckCompatibility(ctx, req)
	if err != nil {
		return false, nil, wrapError("check schema compatibility "+subject, "", err)
	}
	return resp.GetIsCompatible(), resp.GetErrors(), nil
}

// SetCompatibilityMode sets a subject's mode (none, backward, forward, full).
func (r *SchemaRegistry) SetCompatibilityMode(ctx context.Context, subject, mode string) error {
	rc, err := r.rpc()
	if err != nil {
		return err
	}
	_, err = rc.SetCompatibilityMode(ctx, &danubepb.SetCompatibilityModeRequest{Subject: subject, CompatibilityMode: mode})
	return wrapError("set schema compatibility "+subject, "", err)
}

// DeleteVersion deletes one version of a subject.
func (r *SchemaRegistry) DeleteVersion(ctx context.Context, subject string, version uint32) error {
	rc, err := r.rpc()
	if err != nil {
		return err
	}
	_, err = rc.DeleteSchemaVersion(ctx, &danubepb.DeleteSchemaVersionRequest{Subject: subject, Version: version})
	return wrapError("delete schema version "+subject, "", err)
}

// ConfigureTopic binds a subject to a topic with a validation policy (none,
// warn, enforce).
func (r *SchemaRegistry) ConfigureTopic(ctx context.Context, topic, subject, policy string, validatePayload bool) error {
	rc, err := r.rpc()
	if err != nil {
		return err
	}
	_, err = rc.ConfigureTopicSchema(ctx, &danubepb.ConfigureTopicSchemaRequest{
		TopicName: topic, SchemaSubject: subject, ValidationPolicy: policy, EnablePayloadValidation: validatePayload,
	})
	return wrapError("configure topic schema", topic, err)
}

func schemaInfo(r *danubepb.GetSchemaResponse) *SchemaInfo {
	return &SchemaInfo{
		ID: r.GetSchemaId(), Version: r.GetVersion(), Subject: r.GetSubject(),
		Type: SchemaType(r.GetSchemaType()), Definition: r.GetSchemaDefinition(),
		Description: r.GetDescription(), CreatedAt: msTime(r.GetCreatedAt()), CreatedBy: r.GetCreatedBy(),
		Tags: r.GetTags(), Fingerprint: r.GetFingerprint(), CompatibilityMode: r.GetCompatibilityMode(),
	}
}

func msTime(ms uint64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(ms))
}
