package danubetest

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

const (
	userV1 = `{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}},"required":["id"]}`
	// Same schema, different key order and whitespace: same fingerprint.
	userV1Reordered = `{ "required":["id"], "type":"object", "properties":{"name":{"type":"string"},"id":{"type":"integer"}} }`
	userV2          = `{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"},"email":{"type":"string"}},"required":["id"]}`
	userRemovedReq  = `{"type":"object","properties":{"name":{"type":"string"}}}`
	userOptToReq    = `{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}},"required":["id","name"]}`
	userTypeChanged = `{"type":"object","properties":{"id":{"type":"string"},"name":{"type":"string"}},"required":["id"]}`
	userNewRequired = `{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"},"age":{"type":"integer"}},"required":["id","age"]}`
)

func register(t *testing.T, c *rawClient, subject, typ, def string) (*pb.RegisterSchemaResponse, error) {
	t.Helper()
	return c.sr.RegisterSchema(testCtx(t), &pb.RegisterSchemaRequest{Subject: subject, SchemaType: typ, SchemaDefinition: []byte(def)})
}

func TestSchemaRegistryVersionsAndIDs(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	r1, err := register(t, c, "users", "json_schema", userV1)
	if err != nil || r1.SchemaId != 1 || r1.Version != 1 || !r1.IsNewVersion || !strings.HasPrefix(r1.Fingerprint, "sha256:") {
		t.Fatalf("first registration: %v %v", r1, err)
	}
	again, err := register(t, c, "users", "JSON", userV1Reordered)
	if err != nil || again.SchemaId != 1 || again.Version != 1 || again.IsNewVersion || again.Fingerprint != r1.Fingerprint {
		t.Fatalf("identical schema must dedup: %v %v", again, err)
	}
	r2, err := register(t, c, "users", "json_schema", userV2)
	if err != nil || r2.SchemaId != 1 || r2.Version != 2 || !r2.IsNewVersion {
		t.Fatalf("second version: %v %v", r2, err)
	}
	other, err := register(t, c, "events", "string", "")
	if err != nil || other.SchemaId != 2 || other.Fingerprint != "string" {
		t.Fatalf("second subject gets the next id: %v %v", other, err)
	}

	latest, err := c.sr.GetLatestSchema(testCtx(t), &pb.GetLatestSchemaRequest{Subject: "users"})
	if err != nil || latest.Version != 2 || latest.CompatibilityMode != "backward" || latest.SchemaType != "json_schema" {
		t.Fatalf("latest: %v %v", latest, err)
	}
	var env struct {
		JSONSchema struct {
			RawSchema   string `json:"raw_schema"`
			Fingerprint string `json:"fingerprint"`
		} `json:"JsonSchema"`
	}
	if err := json.Unmarshal(latest.SchemaDefinition, &env); err != nil || env.JSONSchema.RawSchema != userV2 || env.JSONSchema.Fingerprint != r2.Fingerprint {
		t.Fatalf("serde envelope: %s (%v)", latest.SchemaDefinition, err)
	}
	v1 := uint32(1)
	got, err := c.sr.GetSchema(testCtx(t), &pb.GetSchemaRequest{SchemaId: 1, Version: &v1})
	if err != nil || got.Version != 1 || got.Subject != "users" {
		t.Fatalf("get v1: %v %v", got, err)
	}
	str, _ := c.sr.GetSchema(testCtx(t), &pb.GetSchemaRequest{SchemaId: 2})
	if string(str.SchemaDefinition) != `"String"` {
		t.Fatalf("string envelope %s", str.SchemaDefinition)
	}
	vers, err := c.sr.ListVersions(testCtx(t), &pb.ListVersionsRequest{Subject: "users"})
	if err != nil || len(vers.Versions) != 2 {
		t.Fatalf("versions: %v %v", vers, err)
	}
	subs, err := c.sr.ListSubjects(testCtx(t), &pb.ListSubjectsRequest{})
	if err != nil || len(subs.Subjects) != 2 || subs.Subjects[0].Subject != "events" {
		t.Fatalf("subjects: %v %v", subs, err)
	}

	missing := uint32(9)
	for _, err := range []error{
		func() error { _, e := c.sr.GetSchema(testCtx(t), &pb.GetSchemaRequest{SchemaId: 99}); return e }(),
		func() error {
			_, e := c.sr.GetSchema(testCtx(t), &pb.GetSchemaRequest{SchemaId: 1, Version: &missing})
			return e
		}(),
		func() error {
			_, e := c.sr.GetLatestSchema(testCtx(t), &pb.GetLatestSchemaRequest{Subject: "nope"})
			return e
		}(),
		func() error {
			_, e := c.sr.ListVersions(testCtx(t), &pb.ListVersionsRequest{Subject: "nope"})
			return e
		}(),
	} {
		wantCode(t, err, codes.NotFound, "")
	}
	_, err = c.sr.SetCompatibilityMode(testCtx(t), &pb.SetCompatibilityModeRequest{Subject: "users", CompatibilityMode: "sideways"})
	wantCode(t, err, codes.InvalidArgument, "")
	_, err = register(t, c, "bad", "xml", "<a/>")
	wantCode(t, err, codes.Internal, "Unknown schema type: xml")
	_, err = c.sr.CheckCompatibility(testCtx(t), &pb.CheckCompatibilityRequest{Subject: "nope", SchemaType: "string"})
	wantCode(t, err, codes.Internal, "Schema metadata not found for subject: nope")
	_, err = c.sr.SetCompatibilityMode(testCtx(t), &pb.SetCompatibilityModeRequest{Subject: "nope", CompatibilityMode: "full"})
	wantCode(t, err, codes.Internal, "Schema metadata not found for subject: nope")
}

func TestSchemaCompatibility(t *testing.T) {
	cases := []struct {
		mode, next string
		ok         bool
	}{
		{"backward", userV2, true},
		{"backward", userRemovedReq, false},
		{"backward", userOptToReq, false},
		{"backward", userTypeChanged, false},
		{"backward", userNewRequired, true},
		{"forward", userNewRequired, false},
		{"forward", userTypeChanged, false},
		{"forward", userRemovedReq, true},
		{"full", userNewRequired, false},
		{"full", userRemovedReq, false},
		{"full", userV2, true},
		{"none", userTypeChanged, true},
	}
	for _, tc := range cases {
		b := Start(t)
		c := dial(t, b.URL())
		if _, err := register(t, c, "s", "json_schema", userV1); err != nil {
			t.Fatal(err)
		}
		if _, err := c.sr.SetCompatibilityMode(testCtx(t), &pb.SetCompatibilityModeRequest{Subject: "s", CompatibilityMode: tc.mode}); err != nil {
			t.Fatal(err)
		}
		chk, err := c.sr.CheckCompatibility(testCtx(t), &pb.CheckCompatibilityRequest{Subject: "s", SchemaType: "json_schema", NewSchemaDefinition: []byte(tc.next)})
		if err != nil || chk.IsCompatible != tc.ok {
			t.Errorf("%s %s: check = %v %v, want %v", tc.mode, tc.next, chk, err, tc.ok)
		}
		_, err = register(t, c, "s", "json_schema", tc.next)
		if tc.ok && err != nil {
			t.Errorf("%s: register: %v", tc.mode, err)
		}
		if !tc.ok {
			st := codes.OK
			if err != nil {
				st = statusCode(err)
			}
			if st != codes.Internal || !strings.Contains(err.Error(), "Schema is not compatible with subject 's' (mode: ") {
				t.Errorf("%s %s: incompatible registration = %v, want Internal", tc.mode, tc.next, err)
			}
		}
	}
	// A type change is always incompatible (except mode none).
	b := Start(t)
	c := dial(t, b.URL())
	register(t, c, "avro-s", "avro", `{"type":"record","name":"r","fields":[]}`)
	_, err := register(t, c, "avro-s", "json_schema", userV1)
	wantCode(t, err, codes.Internal, "Schema types must match (cannot change from Avro to JSON")
}

func TestProducerSchemaAndValidation(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	register(t, c, "users", "json_schema", userV1)
	register(t, c, "other", "string", "")
	ctx := testCtx(t)
	// The producer that auto-creates a topic does not assign its subject
	// (observed on danube-broker v0.15.1); later producers do.
	c.producer("/default/u", "creator", true)
	resp, err := c.prod.CreateProducer(ctx, &pb.ProducerRequest{ProducerName: "p", TopicName: "/default/u", DispatchStrategy: pb.DispatchStrategy_Reliable,
		SchemaRef: &pb.SchemaReference{Subject: "users", VersionRef: &pb.SchemaReference_UseLatest{UseLatest: true}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.prod.CreateProducer(ctx, &pb.ProducerRequest{ProducerName: "p2", TopicName: "/default/u", DispatchStrategy: pb.DispatchStrategy_Reliable,
		SchemaRef: &pb.SchemaReference{Subject: "other"}})
	wantCode(t, err, codes.FailedPrecondition, "Only admin can change topic schema")

	cfg, err := c.sr.GetTopicSchemaConfig(ctx, &pb.GetTopicSchemaConfigRequest{TopicName: "/default/u"})
	if err != nil || cfg.SchemaSubject != "users" || cfg.ValidationPolicy != "none" || cfg.SchemaId != 1 {
		t.Fatalf("topic schema config: %v %v", cfg, err)
	}
	if _, err := c.sr.ConfigureTopicSchema(ctx, &pb.ConfigureTopicSchemaRequest{TopicName: "/default/u", SchemaSubject: "users", ValidationPolicy: "enforce", EnablePayloadValidation: true}); err != nil {
		t.Fatal(err)
	}
	id, ver := uint64(1), uint32(1)
	send := func(payload string, schemaID *uint64) error {
		_, err := c.prod.SendMessage(ctx, &pb.StreamMessage{MsgId: &pb.MsgID{ProducerId: resp.ProducerId, TopicName: "/default/u"}, Payload: []byte(payload), SchemaId: schemaID, SchemaVersion: &ver})
		return err
	}
	if err := send(`{"id":1}`, &id); err != nil {
		t.Fatalf("valid payload: %v", err)
	}
	wantCode(t, send(`{"name":"x"}`, &id), codes.PermissionDenied, "Unable to publish the message")
	wantCode(t, send(`{"id":1}`, nil), codes.PermissionDenied, "Message missing schema_id for topic /default/u (expected subject: users)")
	_, err = c.sr.ConfigureTopicSchema(ctx, &pb.ConfigureTopicSchemaRequest{TopicName: "/default/none", SchemaSubject: "users"})
	wantCode(t, err, codes.NotFound, "")
}
