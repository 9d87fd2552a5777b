package objstore_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

func TestOpenDispatch(t *testing.T) {
	dir := t.TempDir()
	azurite := objstore.AzureOptions{Account: "devstoreaccount1", Key: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="}
	cases := []struct {
		location string
		opts     objstore.Options
		wantType string
		wantURL  string
	}{
		{filepath.Join(dir, "plain"), objstore.Options{}, "*objstore.Local", "file://" + filepath.Join(dir, "plain")},
		{"file://" + filepath.Join(dir, "url"), objstore.Options{}, "*objstore.Local", "file://" + filepath.Join(dir, "url")},
		{"s3://bucket/tables/events/", objstore.Options{S3: objstore.S3Options{Region: "eu-west-1"}}, "*objstore.S3", "s3://bucket/tables/events"},
		{"s3a://bucket", objstore.Options{S3: objstore.S3Options{Endpoint: "http://127.0.0.1:1"}}, "*objstore.S3", "s3://bucket"},
		{"az://container/t", objstore.Options{Azure: azurite}, "*objstore.Azure", "az://container/t"},
		{"abfss://container@devstoreaccount1.dfs.core.windows.net/a/b", objstore.Options{Azure: objstore.AzureOptions{Key: azurite.Key}}, "*objstore.Azure", "az://container/a/b"},
		{"az://container/entra", objstore.Options{Azure: objstore.AzureOptions{Account: "acct"}}, "*objstore.Azure", "az://container/entra"},
		{"gs://bucket/t", objstore.Options{GCS: objstore.GCSOptions{Endpoint: "http://127.0.0.1:1"}}, "*objstore.GCS", "gs://bucket/t"},
	}
	for _, c := range cases {
		st, err := objstore.Open(context.Background(), c.location, c.opts)
		if err != nil {
			t.Errorf("Open(%q): %v", c.location, err)
			continue
		}
		if got := typeName(st); got != c.wantType {
			t.Errorf("Open(%q): got a %s, want %s", c.location, got, c.wantType)
		}
		if got := st.URL(); got != c.wantURL {
			t.Errorf("Open(%q).URL() = %q, want %q", c.location, got, c.wantURL)
		}
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *objstore.Local:
		return "*objstore.Local"
	case *objstore.S3:
		return "*objstore.S3"
	case *objstore.Azure:
		return "*objstore.Azure"
	case *objstore.GCS:
		return "*objstore.GCS"
	}
	return "other"
}

func TestOpenErrors(t *testing.T) {
	cases := []struct {
		location string
		opts     objstore.Options
		want     string
	}{
		{"", objstore.Options{}, "empty location"},
		{"ftp://host/x", objstore.Options{}, `unsupported scheme "ftp"`},
		{"file://otherhost/x", objstore.Options{}, "must not name a host"},
		{"s3:///prefix", objstore.Options{S3: objstore.S3Options{Region: "us-east-1"}}, "empty bucket name"},
		{"az://container/x", objstore.Options{}, "no storage account configured"},
		{"abfss://acct.dfs.core.windows.net/x", objstore.Options{}, "abfss://container@account"},
		{"gs://bucket/x", objstore.Options{GCS: objstore.GCSOptions{CredentialsJSON: `{"type":"weird"}`}}, `unsupported credentials type "weird"`},
	}
	for _, c := range cases {
		_, err := objstore.Open(context.Background(), c.location, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q): got %v, want an error containing %q", c.location, err, c.want)
		}
	}
}
