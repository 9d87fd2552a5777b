package danubetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/xeipuuv/gojsonschema"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

// Canonical schema type names as the broker reports them.
const (
	schemaTypeBytes    = "bytes"
	schemaTypeString   = "string"
	schemaTypeNumber   = "number"
	schemaTypeAvro     = "avro"
	schemaTypeJSON     = "json_schema"
	schemaTypeProtobuf = "protobuf"
)

// canonicalSchemaType accepts the broker's names and aliases, case-insensitively.
func canonicalSchemaType(s string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "bytes":
		return schemaTypeBytes, true
	case "string":
		return schemaTypeString, true
	case "number", "int64", "int", "float", "double":
		return schemaTypeNumber, true
	case "avro":
		return schemaTypeAvro, true
	case "json_schema", "json":
		return schemaTypeJSON, true
	case "protobuf", "proto":
		return schemaTypeProtobuf, true
	}
	return "", false
}

// modeTitle renders a compatibility mode as the broker's Debug output does.
func modeTitle(m string) string {
	if m == "" {
		return m
	}
	return strings.ToUpper(m[:1]) + m[1:]
}

func typeTitle(t string) string {
	switch t {
	case schemaTypeJSON:
		return "JSON"
	case schemaTypeAvro:
		return "Avro"
	case schemaTypeProtobuf:
		return "Protobuf"
	}
	return modeTitle(t)
}

var compatibilityModes = map[string]bool{"none": true, "backward": true, "forward": true, "full": true}

var validationPolicies = map[string]bool{"none": true, "warn": true, "enforce": true}

// schemaRegistry is the cluster-wide schema registry.
type schemaRegistry struct {
	mu       sync.Mutex
	nextID   uint64
	subjects map[string]*schemaSubject
	byID     map[uint64]*schemaSubject
}

type schemaSubject struct {
	name     string
	id       uint64
	compat   string
	versions []*schemaVersion // ascending; deleted versions removed
	nextVer  uint32
}

type schemaVersion struct {
	version     uint32
	schemaType  string
	raw         []byte
	fingerprint string
	description string
	createdBy   string
	tags        []string
	createdAt   uint64
	validator   *gojsonschema.Schema // json_schema only
}

func newSchemaRegistry() *schemaRegistry {
	return &schemaRegistry{subjects: map[string]*schemaSubject{}, byID: map[uint64]*schemaSubject{}}
}

func (r *schemaRegistry) subjectExists(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.subjects[name]
	return s != nil && len(s.versions) > 0
}

func (r *schemaRegistry) latest(subject string) (*schemaSubject, *schemaVersion) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.subjects[subject]
	if s == nil || len(s.versions) == 0 {
		return nil, nil
	}
	return s, s.versions[len(s.versions)-1]
}

// fingerprint follows the broker: literal names for primitive types, sha256
// of the canonical JSON text for JSON Schema and Avro, of the trimmed text
// for Protobuf.
func fingerprint(schemaType string, raw []byte) (string, error) {
	switch schemaType {
	case schemaTypeBytes, schemaTypeString, schemaTypeNumber:
		return schemaType, nil
	case schemaTypeJSON, schemaTypeAvro:
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", fmt.Errorf("parsing %s schema: %w", schemaType, err)
		}
		canon, _ := json.Marshal(v) // map keys come out sorted
		sum := sha256.Sum256(canon)
		return "sha256:" + hex.EncodeToString(sum[:]), nil
	default:
		sum := sha256.Sum256([]byte(strings.TrimSpace(string(raw))))
		return "sha256:" + hex.EncodeToString(sum[:]), nil
	}
}

// compatibilityErrors checks next against prev under mode.
func compatibilityErrors(mode string, prev *schemaVersion, nextType string, nextRaw []byte) []string {
	if mode == "none" || prev == nil {
		return nil
	}
	if prev.schemaType != nextType {
		return []string{fmt.Sprintf("Schema types must match (cannot change from %s to %s)", typeTitle(prev.schemaType), typeTitle(nextType))}
	}
	if nextType != schemaTypeJSON {
		// Avro/Protobuf evolution rules are not modelled (type equality only).
		return nil
	}
	oldS, newS := parseJSONShape(prev.raw), parseJSONShape(nextRaw)
	var errs []string
	backward := mode == "backward" || mode == "full"
	forward := mode == "forward" || mode == "full"
	for name, ot := range oldS.types {
		if nt, ok := newS.types[name]; ok && ot != "" && nt != "" && ot != nt {
			errs = append(errs, fmt.Sprintf("field '%s' changed type from %s to %s", name, ot, nt))
		}
	}
	if backward {
		for name := range oldS.required {
			if _, ok := newS.types[name]; !ok {
				errs = append(errs, fmt.Sprintf("required field '%s' was removed", name))
			}
		}
		for name := range newS.required {
			if _, inOld := oldS.types[name]; inOld && !oldS.required[name] {
				errs = append(errs, fmt.Sprintf("field '%s' changed from optional to required", name))
			}
		}
	}
	if forward {
		for name := range newS.required {
			if _, inOld := oldS.types[name]; !inOld {
				errs = append(errs, fmt.Sprintf("new required field '%s' was added", name))
			}
		}
	}
	sort.Strings(errs)
	return errs
}

type jsonShape struct {
	types    map[string]string // property -> JSON "type" (as text)
	required map[string]bool
}

func parseJSONShape(raw []byte) jsonShape {
	var doc struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	_ = json.Unmarshal(raw, &doc)
	sh := jsonShape{types: map[string]string{}, required: map[string]bool{}}
	for name, p := range doc.Properties {
		var prop struct {
			Type json.RawMessage `json:"type"`
		}
		_ = json.Unmarshal(p, &prop)
		sh.types[name] = string(prop.Type)
	}
	for _, r := range doc.Required {
		sh.required[r] = true
	}
	return sh
}

// envelope renders the broker's serde-JSON of its internal schema enum.
func envelope(v *schemaVersion) []byte {
	var out any
	switch v.schemaType {
	case schemaTypeBytes:
		out = "Bytes"
	case schemaTypeString:
		out = "String"
	case schemaTypeNumber:
		out = "Number"
	case schemaTypeJSON:
		out = map[string]any{"JsonSchema": map[string]string{"raw_schema": string(v.raw), "fingerprint": v.fingerprint}}
	case schemaTypeAvro:
		out = map[string]any{"Avro": map[string]string{"raw_schema": string(v.raw), "fingerprint": v.fingerprint}}
	default:
		out = map[string]any{"Protobuf": map[string]string{"raw_schema": string(v.raw), "fingerprint": v.fingerprint}}
	}
	b, _ := json.Marshal(out)
	return b
}

func (r *schemaRegistry) register(req *pb.RegisterSchemaRequest) (*pb.RegisterSchemaResponse, error) {
	typ, ok := canonicalSchemaType(req.SchemaType)
	if !ok {
		return nil, status.Errorf(codes.Internal, "Failed to register schema: Unknown schema type: %s", req.SchemaType)
	}
	if req.Subject == "" {
		return nil, status.Error(codes.InvalidArgument, "Subject cannot be empty")
	}
	fp, err := fingerprint(typ, req.SchemaDefinition)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "Failed to register schema: %v", err)
	}
	var validator *gojsonschema.Schema
	if typ == schemaTypeJSON {
		validator, err = gojsonschema.NewSchema(gojsonschema.NewBytesLoader(req.SchemaDefinition))
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "Failed to register schema: invalid JSON schema: %v", err)
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.subjects[req.Subject]
	if s == nil {
		r.nextID++
		s = &schemaSubject{name: req.Subject, id: r.nextID, compat: "backward", nextVer: 1}
		r.subjects[s.name] = s
		r.byID[s.id] = s
	}
	for _, v := range s.versions {
		if v.fingerprint == fp && v.schemaType == typ {
			return &pb.RegisterSchemaResponse{SchemaId: s.id, Version: v.version, IsNewVersion: false, Fingerprint: fp}, nil
		}
	}
	var prev *schemaVersion
	if len(s.versions) > 0 {
		prev = s.versions[len(s.versions)-1]
	}
	if errs := compatibilityErrors(s.compat, prev, typ, req.SchemaDefinition); len(errs) > 0 {
		return nil, status.Errorf(codes.Internal, "Failed to register schema: Schema is not compatible with subject '%s' (mode: %s): %s", s.name, modeTitle(s.compat), strings.Join(errs, "; "))
	}
	v := &schemaVersion{version: s.nextVer, schemaType: typ, raw: append([]byte(nil), req.SchemaDefinition...), fingerprint: fp,
		description: req.Description, createdBy: req.CreatedBy, tags: req.Tags, createdAt: uint64(time.Now().Unix()), validator: validator}
	s.nextVer++
	s.versions = append(s.versions, v)
	return &pb.RegisterSchemaResponse{SchemaId: s.id, Version: v.version, IsNewVersion: true, Fingerprint: fp}, nil
}

func schemaResponse(s *schemaSubject, v *schemaVersion) *pb.GetSchemaResponse {
	return &pb.GetSchemaResponse{SchemaId: s.id, Version: v.version, Subject: s.name, SchemaType: v.schemaType,
		SchemaDefinition: envelope(v), Description: v.description, CreatedAt: v.createdAt, CreatedBy: v.createdBy,
		Tags: v.tags, Fingerprint: v.fingerprint, CompatibilityMode: s.compat}
}

// validatePayload applies a topic's validation policy to one message.
// It returns a non-nil error only when the policy is "enforce".
func (r *schemaRegistry) validatePayload(cfg topicSchemaConfig, m *pb.StreamMessage) error {
	if cfg.policy == "" || cfg.policy == "none" || cfg.subject == "" {
		return nil
	}
	s, latest := r.latest(cfg.subject)
	if s == nil {
		return nil
	}
	var problem string
	switch {
	case m.SchemaId == nil:
		problem = fmt.Sprintf("Message missing schema_id for topic %s (expected subject: %s)", m.GetMsgId().GetTopicName(), s.name)
	case *m.SchemaId != s.id:
		problem = fmt.Sprintf("Schema ID %d not found in registry", *m.SchemaId)
	case cfg.payloadValidation:
		v := latest
		if m.SchemaVersion != nil {
			r.mu.Lock()
			for _, cand := range s.versions {
				if cand.version == *m.SchemaVersion {
					v = cand
				}
			}
			r.mu.Unlock()
		}
		if v.validator != nil {
			res, err := v.validator.Validate(gojsonschema.NewBytesLoader(m.Payload))
			if err != nil {
				problem = fmt.Sprintf("payload is not JSON: %v", err)
			} else if !res.Valid() {
				problem = fmt.Sprintf("payload does not match schema: %v", res.Errors())
			}
		}
	}
	if problem == "" || cfg.policy != "enforce" {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "Unable to publish the message: %s", problem)
}

type topicSchemaConfig struct {
	subject           string
	policy            string
	payloadValidation bool
}

// schemaService implements danube_schema.SchemaRegistry.
type schemaService struct {
	pb.UnimplementedSchemaRegistryServer
	b *Broker
}

func (s *schemaService) reg() *schemaRegistry { return s.b.cluster.schemas }

func (s *schemaService) RegisterSchema(ctx context.Context, req *pb.RegisterSchemaRequest) (*pb.RegisterSchemaResponse, error) {
	return s.reg().register(req)
}

func (s *schemaService) GetSchema(ctx context.Context, req *pb.GetSchemaRequest) (*pb.GetSchemaResponse, error) {
	r := s.reg()
	r.mu.Lock()
	defer r.mu.Unlock()
	sub := r.byID[req.SchemaId]
	if sub == nil || len(sub.versions) == 0 {
		return nil, status.Errorf(codes.NotFound, "Schema not found for ID: %d", req.SchemaId)
	}
	if req.Version == nil {
		return schemaResponse(sub, sub.versions[len(sub.versions)-1]), nil
	}
	for _, v := range sub.versions {
		if v.version == *req.Version {
			return schemaResponse(sub, v), nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "Version %d of schema id %d not found", *req.Version, req.SchemaId)
}

func (s *schemaService) GetLatestSchema(ctx context.Context, req *pb.GetLatestSchemaRequest) (*pb.GetSchemaResponse, error) {
	r := s.reg()
	sub, v := r.latest(req.Subject)
	if sub == nil {
		return nil, status.Errorf(codes.NotFound, "Subject %s not found", req.Subject)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return schemaResponse(sub, v), nil
}

func (s *schemaService) ListVersions(ctx context.Context, req *pb.ListVersionsRequest) (*pb.ListVersionsResponse, error) {
	r := s.reg()
	r.mu.Lock()
	defer r.mu.Unlock()
	sub := r.subjects[req.Subject]
	if sub == nil || len(sub.versions) == 0 {
		return nil, status.Errorf(codes.NotFound, "Subject %s not found", req.Subject)
	}
	out := &pb.ListVersionsResponse{}
	for _, v := range sub.versions {
		out.Versions = append(out.Versions, &pb.SchemaVersionInfo{Version: v.version, CreatedAt: v.createdAt, CreatedBy: v.createdBy,
			Description: v.description, Fingerprint: v.fingerprint, SchemaId: sub.id})
	}
	return out, nil
}

func (s *schemaService) CheckCompatibility(ctx context.Context, req *pb.CheckCompatibilityRequest) (*pb.CheckCompatibilityResponse, error) {
	typ, ok := canonicalSchemaType(req.SchemaType)
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "Invalid schema type: %s", req.SchemaType)
	}
	if _, err := fingerprint(typ, req.NewSchemaDefinition); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "Invalid schema: %v", err)
	}
	r := s.reg()
	r.mu.Lock()
	defer r.mu.Unlock()
	sub := r.subjects[req.Subject]
	if sub == nil || len(sub.versions) == 0 {
		return nil, status.Errorf(codes.Internal, "Failed to check compatibility: Schema metadata not found for subject: %s", req.Subject)
	}
	mode := sub.compat
	if req.CompatibilityMode != nil {
		mode = strings.ToLower(*req.CompatibilityMode)
		if !compatibilityModes[mode] {
			return nil, status.Errorf(codes.InvalidArgument, "Invalid compatibility mode: %s", *req.CompatibilityMode)
		}
	}
	errs := compatibilityErrors(mode, sub.versions[len(sub.versions)-1], typ, req.NewSchemaDefinition)
	return &pb.CheckCompatibilityResponse{IsCompatible: len(errs) == 0, Errors: errs}, nil
}

func (s *schemaService) DeleteSchemaVersion(ctx context.Context, req *pb.DeleteSchemaVersionRequest) (*pb.DeleteSchemaVersionResponse, error) {
	r := s.reg()
	r.mu.Lock()
	defer r.mu.Unlock()
	sub := r.subjects[req.Subject]
	if sub != nil {
		for i, v := range sub.versions {
			if v.version == req.Version {
				sub.versions = append(sub.versions[:i], sub.versions[i+1:]...)
				return &pb.DeleteSchemaVersionResponse{Success: true, Message: fmt.Sprintf("Deleted version %d of %s", req.Version, req.Subject)}, nil
			}
		}
	}
	return nil, status.Errorf(codes.NotFound, "Version %d of subject %s not found", req.Version, req.Subject)
}

func (s *schemaService) SetCompatibilityMode(ctx context.Context, req *pb.SetCompatibilityModeRequest) (*pb.SetCompatibilityModeResponse, error) {
	mode := strings.ToLower(req.CompatibilityMode)
	if !compatibilityModes[mode] {
		return nil, status.Errorf(codes.InvalidArgument, "Invalid compatibility mode: %s", req.CompatibilityMode)
	}
	r := s.reg()
	r.mu.Lock()
	defer r.mu.Unlock()
	sub := r.subjects[req.Subject]
	if sub == nil {
		return nil, status.Errorf(codes.Internal, "Failed to set compatibility mode: Schema metadata not found for subject: %s", req.Subject)
	}
	sub.compat = mode
	return &pb.SetCompatibilityModeResponse{Success: true, Message: fmt.Sprintf("Compatibility mode of %s set to %s", req.Subject, mode)}, nil
}

func (s *schemaService) topicOrNotFound(name string) (*topic, error) {
	t := s.b.cluster.topic(name)
	if t == nil {
		return nil, status.Errorf(codes.NotFound, "Topic '%s' not found on this broker", name)
	}
	return t, nil
}

func (s *schemaService) ConfigureTopicSchema(ctx context.Context, req *pb.ConfigureTopicSchemaRequest) (*pb.ConfigureTopicSchemaResponse, error) {
	t, err := s.topicOrNotFound(req.TopicName)
	if err != nil {
		return nil, err
	}
	if !s.reg().subjectExists(req.SchemaSubject) {
		return nil, status.Errorf(codes.NotFound, "Subject %s not found", req.SchemaSubject)
	}
	policy := strings.ToLower(req.ValidationPolicy)
	if policy == "" {
		policy = "none"
	}
	if !validationPolicies[policy] {
		return nil, status.Errorf(codes.InvalidArgument, "Invalid validation policy: %s", req.ValidationPolicy)
	}
	t.mu.Lock()
	t.schemaSubject = req.SchemaSubject
	t.validation = topicSchemaConfig{subject: req.SchemaSubject, policy: policy, payloadValidation: req.EnablePayloadValidation}
	t.mu.Unlock()
	return &pb.ConfigureTopicSchemaResponse{Success: true, Message: "configured"}, nil
}

func (s *schemaService) UpdateTopicValidationPolicy(ctx context.Context, req *pb.UpdateTopicValidationPolicyRequest) (*pb.UpdateTopicValidationPolicyResponse, error) {
	t, err := s.topicOrNotFound(req.TopicName)
	if err != nil {
		return nil, err
	}
	policy := strings.ToLower(req.ValidationPolicy)
	if !validationPolicies[policy] {
		return nil, status.Errorf(codes.InvalidArgument, "Invalid validation policy: %s", req.ValidationPolicy)
	}
	t.mu.Lock()
	t.validation.subject = t.schemaSubject
	t.validation.policy = policy
	t.validation.payloadValidation = req.EnablePayloadValidation
	t.mu.Unlock()
	return &pb.UpdateTopicValidationPolicyResponse{Success: true, Message: "updated"}, nil
}

func (s *schemaService) GetTopicSchemaConfig(ctx context.Context, req *pb.GetTopicSchemaConfigRequest) (*pb.GetTopicSchemaConfigResponse, error) {
	t, err := s.topicOrNotFound(req.TopicName)
	if err != nil {
		return nil, err
	}
	t.mu.RLock()
	subject, cfg := t.schemaSubject, t.validation
	t.mu.RUnlock()
	policy := cfg.policy
	if policy == "" {
		policy = "none"
	}
	out := &pb.GetTopicSchemaConfigResponse{SchemaSubject: subject, ValidationPolicy: policy, EnablePayloadValidation: cfg.payloadValidation}
	if sub, _ := s.reg().latest(subject); sub != nil {
		out.SchemaId = sub.id
	}
	return out, nil
}

func (s *schemaService) ListSubjects(ctx context.Context, req *pb.ListSubjectsRequest) (*pb.ListSubjectsResponse, error) {
	r := s.reg()
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.subjects))
	for n, sub := range r.subjects {
		if len(sub.versions) > 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out := &pb.ListSubjectsResponse{}
	for _, n := range names {
		sub := r.subjects[n]
		v := sub.versions[len(sub.versions)-1]
		out.Subjects = append(out.Subjects, &pb.SubjectSummary{Subject: n, SchemaType: v.schemaType, LatestVersion: v.version,
			CompatibilityMode: sub.compat, SchemaId: sub.id, Tags: v.tags})
	}
	return out, nil
}
