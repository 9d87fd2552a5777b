package objstore_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore/objstoretest"
)

// The SAS-token and connection-string ways of authenticating pass the same
// suite as the shared key.
func TestAzureSASAndConnectionString(t *testing.T) {
	loc, opts := objstoretest.NewAzureContainer(t)
	container := strings.TrimPrefix(loc, "az://")

	keyed, err := objstore.NewAzure(context.Background(), container, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	sasURL, err := keyed.Client().GetSASURL(sas.ContainerPermissions{
		Read: true, Add: true, Create: true, Write: true, Delete: true, List: true,
	}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(sasURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("SASToken", func(t *testing.T) {
		sasOpts := opts
		sasOpts.Azure.Key = ""
		sasOpts.Azure.SASToken = "?" + u.RawQuery
		objstoretest.Conformance(t, objstoretest.Prefixed(loc, sasOpts))
	})
	t.Run("ConnectionString", func(t *testing.T) {
		csOpts := objstore.Options{Azure: objstore.AzureOptions{ConnectionString: "DefaultEndpointsProtocol=http;AccountName=" +
			opts.Azure.Account + ";AccountKey=" + opts.Azure.Key + ";BlobEndpoint=" + opts.Azure.Endpoint + ";"}}
		objstoretest.Conformance(t, objstoretest.Prefixed(loc, csOpts))
	})
}
