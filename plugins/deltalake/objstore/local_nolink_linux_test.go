package objstore_test

import (
	"testing"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore/objstoretest"
)

// Without hard links the local store falls back to renameat2
// RENAME_NOREPLACE; the whole suite, the PutIfAbsent race included, must
// still pass.
func TestLocalWithoutHardLinksConformance(t *testing.T) {
	objstore.WithoutHardLinks(t)
	objstoretest.Conformance(t, func(t *testing.T) objstore.Store { return newLocal(t) })
}
