package objstore_test

import (
	"testing"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore/objstoretest"
)

func TestS3Conformance(t *testing.T) {
	loc, opts := objstoretest.NewS3Bucket(t)
	objstoretest.Conformance(t, objstoretest.Prefixed(loc, opts))
}

func TestAzureConformance(t *testing.T) {
	loc, opts := objstoretest.NewAzureContainer(t)
	objstoretest.Conformance(t, objstoretest.Prefixed(loc, opts))
}

// GCS runs against fake-gcs-server, an in-process emulator of the GCS JSON
// API; its memory backend checks ifGenerationMatch under a lock.
func TestGCSEmulatorConformance(t *testing.T) {
	_, loc, opts := objstoretest.StartGCSEmulator(t)
	objstoretest.Conformance(t, objstoretest.Prefixed(loc, opts))
}
