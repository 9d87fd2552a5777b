package danubetest

import (
	"sync"

	pb "github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

// schemaRegistry is the cluster-wide schema registry.
type schemaRegistry struct {
	mu       sync.Mutex
	subjects map[string]*schemaSubject
}

type schemaSubject struct {
	name string
}

func newSchemaRegistry() *schemaRegistry {
	return &schemaRegistry{subjects: map[string]*schemaSubject{}}
}

func (r *schemaRegistry) subjectExists(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.subjects[name]
	return ok
}

// schemaService implements danube_schema.SchemaRegistry.
type schemaService struct {
	pb.UnimplementedSchemaRegistryServer
	b *Broker
}
