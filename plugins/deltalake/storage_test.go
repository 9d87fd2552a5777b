package deltalake

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// ignoringConditionsStore stands for an S3-compatible server that silently
// overwrites on a conditional create; its URL is not a local path.
type ignoringConditionsStore struct{ objstore.Store }

func (s ignoringConditionsStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return s.Put(ctx, key, data)
}

func (ignoringConditionsStore) URL() string { return "s3://bucket/table" }

type cloudURLStore struct{ objstore.Store }

func (cloudURLStore) URL() string { return "s3://bucket/table" }

func TestCloudStoresAreProbedForPutIfAbsent(t *testing.T) {
	ctx := context.Background()
	local, err := objstore.NewLocal(t.TempDir())
	require.NoError(t, err)

	require.NoError(t, verifyCloudStore(ctx, local), "local disk is not probed")
	require.NoError(t, verifyCloudStore(ctx, cloudURLStore{local}), "a store enforcing the condition passes")

	err = verifyCloudStore(ctx, ignoringConditionsStore{local})
	require.True(t, errors.Is(err, objstore.ErrNoAtomicCreate), "got %v", err)

	objs, err := local.List(ctx, "", "")
	require.NoError(t, err)
	require.Empty(t, objs, "probe objects are deleted")
}

// parseStorageYAML parses a `storage` object with the output's field.
func parseStorageYAML(t *testing.T, yaml string) (storageConfig, error) {
	t.Helper()
	pConf, err := service.NewConfigSpec().Field(storageSpecField(dlFieldStorage)).ParseYAML(yaml, nil)
	require.NoError(t, err)
	return storageConfigFromParsed(pConf.Namespace(dlFieldStorage))
}

// storageFromFlags runs the CLI's storage flags over args.
func storageFromFlags(t *testing.T, args ...string) (storageConfig, error) {
	t.Helper()
	var got storageConfig
	var gotErr error
	app := &cli.App{Name: "test", Flags: storageFlags(), Action: func(c *cli.Context) error {
		got, gotErr = storageConfigFromFlags(c)
		return nil
	}}
	require.NoError(t, app.Run(append([]string{"test"}, args...)))
	return got, gotErr
}

// The config fields and the CLI flags are one contract: the same settings
// give the same store options, the new flags included.
func TestStorageConfigAndFlagsAgree(t *testing.T) {
	for _, tc := range []struct {
		name  string
		yaml  string
		flags []string
		check func(t *testing.T, o objstore.Options)
	}{{
		name: "s3 with session token, azure key, gcs json",
		yaml: `storage:
  s3: { region: r1, endpoint: "http://s3:1", access_key_id: AK, secret_access_key: SK, session_token: ST, force_path_style: true }
  azure: { account: acc, key: azkey, endpoint: "http://az:2" }
  gcs: { endpoint: "http://gcs:3", credentials_json: "{}" }
`,
		flags: []string{"--s3-region", "r1", "--s3-endpoint", "http://s3:1", "--s3-access-key-id", "AK", "--s3-secret-access-key", "SK",
			"--s3-session-token", "ST", "--s3-force-path-style", "--azure-account", "acc", "--azure-key", "azkey", "--azure-endpoint", "http://az:2",
			"--gcs-endpoint", "http://gcs:3", "--gcs-credentials-json", "{}"},
		check: func(t *testing.T, o objstore.Options) {
			assert.Equal(t, "ST", o.S3.SessionToken)
			assert.True(t, o.S3.ForcePathStyle)
			assert.Equal(t, "SK", o.S3.SecretAccessKey)
			assert.Equal(t, "{}", o.GCS.CredentialsJSON)
		},
	}, {
		name:  "azure sas token, gcs credentials file",
		yaml:  "storage:\n  azure: { account: acc, sas_token: 'sv=1&sig=x' }\n  gcs: { credentials_file: /etc/gcs.json }\n",
		flags: []string{"--azure-account", "acc", "--azure-sas-token", "sv=1&sig=x", "--gcs-credentials-file", "/etc/gcs.json"},
		check: func(t *testing.T, o objstore.Options) {
			assert.Equal(t, "sv=1&sig=x", o.Azure.SASToken)
			assert.Equal(t, "/etc/gcs.json", o.GCS.CredentialsFile)
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, env := range []string{"AWS_REGION", "S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
				"AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS"} {
				t.Setenv(env, "")
			}
			fromConfig, err := parseStorageYAML(t, tc.yaml)
			require.NoError(t, err)
			fromFlags, err := storageFromFlags(t, tc.flags...)
			require.NoError(t, err)
			assert.Equal(t, fromConfig.storeOptions(), fromFlags.storeOptions())
			tc.check(t, fromConfig.storeOptions())
			tc.check(t, fromFlags.storeOptions())
		})
	}
	// Every option is both a field and a flag.
	for _, o := range storageOptions {
		assert.Equal(t, o.cloud+"-"+strings.ReplaceAll(o.name, "_", "-"), o.flagName())
	}
	assert.Len(t, storageFlags(), len(storageOptions))
}

func TestStorageValidationNamesTheSetting(t *testing.T) {
	for _, env := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS"} {
		t.Setenv(env, "")
	}
	_, err := parseStorageYAML(t, "storage:\n  azure: { account: a, key: k, sas_token: s }\n")
	require.ErrorContains(t, err, "storage.azure.key and storage.azure.sas_token are both set")
	_, err = storageFromFlags(t, "--azure-key", "k", "--azure-sas-token", "s")
	require.ErrorContains(t, err, "--azure-key and --azure-sas-token are both set")

	_, err = storageFromFlags(t, "--gcs-credentials-json", "{}", "--gcs-credentials-file", "f")
	require.ErrorContains(t, err, "--gcs-credentials-json and --gcs-credentials-file are both set")
	_, err = parseStorageYAML(t, "storage:\n  gcs: { credentials_json: '{}', credentials_file: f }\n")
	require.ErrorContains(t, err, "storage.gcs.credentials_json and storage.gcs.credentials_file are both set")
}
