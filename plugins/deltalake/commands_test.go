package deltalake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore/objstoretest"
)

func runDeltaCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	app := &cli.App{Name: "danube-connect", Commands: Commands(), Writer: &out, ErrWriter: &out}
	err := app.Run(append([]string{"danube-connect"}, args...))
	return out.String(), err
}

func TestCommandsOptimizeAndVacuum(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "table")
	out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 1ms\n", dir))
	for i := 0; i < 5; i++ {
		require.NoError(t, out.WriteBatch(context.Background(), service.MessageBatch{msg(fmt.Sprintf(`{"id":%d}`, i))}))
	}
	require.NoError(t, out.Close(context.Background()))
	// An orphan, as a crash between file upload and commit leaves.
	orphan := filepath.Join(dir, "part-00000-orphan-c000.zstd.parquet")
	require.NoError(t, os.WriteFile(orphan, []byte("PAR1"), 0o600))
	old := time.Now().Add(-2 * time.Hour)
	require.NoError(t, os.Chtimes(orphan, old, old))

	text, err := runDeltaCLI(t, "delta", "optimize", "--json", "--min-files", "2", dir)
	require.NoError(t, err, text)
	var opt map[string]any
	require.NoError(t, json.Unmarshal([]byte(text), &opt), text)
	assert.EqualValues(t, 5, opt["FilesRemoved"])
	assert.EqualValues(t, 1, opt["FilesAdded"])

	text, err = runDeltaCLI(t, "delta", "vacuum", "--retention", "1h", "--allow-short-retention", "--dry-run", dir)
	require.NoError(t, err, text)
	assert.Contains(t, text, "would delete 1 files")
	assert.Contains(t, text, "part-00000-orphan-c000.zstd.parquet")
	_, err = os.Stat(orphan)
	require.NoError(t, err, "dry run deletes nothing")

	text, err = runDeltaCLI(t, "delta", "vacuum", "--retention", "1h", "--allow-short-retention", dir)
	require.NoError(t, err, text)
	assert.Contains(t, text, "deleted 1 files")
	_, err = os.Stat(orphan)
	assert.True(t, os.IsNotExist(err))

	_, rows := tableRows(t, dir)
	assert.Equal(t, seq(0, 4), ids(t, rows))

	_, err = runDeltaCLI(t, "delta", "vacuum", "--retention", "1h", dir)
	assert.ErrorContains(t, err, "--allow-short-retention")
	_, err = runDeltaCLI(t, "delta", "vacuum")
	assert.ErrorContains(t, err, "table location")
}

// The CLI's optimize and vacuum defaults are the output's.
func TestCLIDefaultsMatchConfig(t *testing.T) {
	pConf, err := dlSpec().ParseYAML("path: /tmp/x\n", nil)
	require.NoError(t, err)
	minFiles, err := pConf.FieldInt(dlFieldOptimize, dlFieldOptMinFiles)
	require.NoError(t, err)
	targetSize, err := pConf.FieldString(dlFieldOptimize, dlFieldTargetFileSize)
	require.NoError(t, err)
	retention, err := pConf.FieldDuration(dlFieldVacuum, dlFieldVacRetention)
	require.NoError(t, err)
	compression, err := pConf.FieldString(dlFieldCompression)
	require.NoError(t, err)

	flags := map[string]cli.Flag{}
	for _, sub := range Commands()[0].Subcommands {
		for _, f := range sub.Flags {
			flags[sub.Name+" "+f.Names()[0]] = f
		}
	}
	assert.Equal(t, 10, minFiles)
	assert.Equal(t, minFiles, flags["optimize min-files"].(*cli.IntFlag).Value)
	assert.Equal(t, targetSize, flags["optimize target-size"].(*cli.StringFlag).Value)
	assert.Equal(t, retention, flags["vacuum retention"].(*cli.DurationFlag).Value)
	assert.Equal(t, compression, flags["optimize compression"].(*cli.StringFlag).Value)
	for _, name := range []string{"s3-session-token", "s3-force-path-style", "azure-sas-token", "gcs-credentials-json"} {
		assert.Contains(t, flags, "optimize "+name)
		assert.Contains(t, flags, "vacuum "+name)
	}
}

// `vacuum --retention 0s` is refused with the reason unless short retention
// is allowed, when it deletes every unreferenced file.
func TestCLIVacuumZeroRetention(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "table")
	out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 1ms\n", dir))
	require.NoError(t, out.WriteBatch(context.Background(), service.MessageBatch{msg(`{"id":1}`)}))
	require.NoError(t, out.Close(context.Background()))
	orphan := filepath.Join(dir, "part-00000-orphan-c000.zstd.parquet")
	require.NoError(t, os.WriteFile(orphan, []byte("PAR1"), 0o600))
	old := time.Now().Add(-time.Minute)
	require.NoError(t, os.Chtimes(orphan, old, old))

	text, err := runDeltaCLI(t, "delta", "vacuum", "--retention", "0s", dir)
	require.Error(t, err, text)
	assert.Contains(t, err.Error(), "--retention 0s would delete every unreferenced file")
	assert.Contains(t, err.Error(), "pass --allow-short-retention")
	_, err = os.Stat(orphan)
	require.NoError(t, err, "nothing deleted")

	_, err = runDeltaCLI(t, "delta", "vacuum", "--retention", "-1h", dir)
	assert.ErrorContains(t, err, "--retention must not be negative")

	text, err = runDeltaCLI(t, "delta", "vacuum", "--retention", "0s", "--allow-short-retention", dir)
	require.NoError(t, err, text)
	assert.Contains(t, text, "deleted 1 files")
	_, err = os.Stat(orphan)
	assert.True(t, os.IsNotExist(err))
	_, rows := tableRows(t, dir)
	assert.Len(t, rows, 1)
}

// conditionStrippingProxy forwards to target but drops If-None-Match, as an
// object store that ignores conditional writes would.
func conditionStrippingProxy(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	director := rp.Director
	rp.Director = func(r *http.Request) {
		director(r)
		r.Header.Del("If-None-Match")
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL + u.Path
}

// `delta optimize` runs the put-if-absent check before committing, and the
// Azure SAS token flag reaches the store: through a proxy that drops
// If-None-Match the check refuses the store and nothing is committed; with
// the store itself the same flags compact the table.
func TestCLIOptimizeChecksPutIfAbsentOnAzureWithSAS(t *testing.T) {
	location, opts := objstoretest.NewAzureContainer(t)
	table := location + "/events"
	out := newTestOutput(t, fmt.Sprintf("path: %s\nflush_period: 1ms\n%s", table, storageYAML(opts)))
	for i := 0; i < 3; i++ {
		require.NoError(t, out.WriteBatch(context.Background(), service.MessageBatch{msg(fmt.Sprintf(`{"id":%d}`, i))}))
	}
	require.NoError(t, out.Close(context.Background()))
	before, _ := tableRowsWith(t, table, opts)

	cred, err := azblob.NewSharedKeyCredential(opts.Azure.Account, opts.Azure.Key)
	require.NoError(t, err)
	container := strings.TrimPrefix(location, "az://")
	perms := sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}
	qp, err := sas.BlobSignatureValues{
		Protocol: sas.ProtocolHTTPSandHTTP, ExpiryTime: time.Now().Add(time.Hour), Permissions: perms.String(), ContainerName: container,
	}.SignWithSharedKey(cred)
	require.NoError(t, err)
	for _, env := range []string{"AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN"} {
		t.Setenv(env, "")
	}
	args := func(endpoint string) []string {
		return []string{"delta", "optimize", "--json", "--min-files", "2", "--azure-account", opts.Azure.Account,
			"--azure-endpoint", endpoint, "--azure-sas-token", qp.Encode(), table}
	}

	text, err := runDeltaCLI(t, args(conditionStrippingProxy(t, opts.Azure.Endpoint))...)
	require.Error(t, err, text)
	assert.ErrorContains(t, err, objstore.ErrNoAtomicCreate.Error())
	after, _ := tableRowsWith(t, table, opts)
	assert.Equal(t, before.Version(), after.Version(), "nothing committed")

	text, err = runDeltaCLI(t, args(opts.Azure.Endpoint)...)
	require.NoError(t, err, text)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(text), &res), text)
	assert.EqualValues(t, 3, res["FilesRemoved"])
	snap, rows := tableRowsWith(t, table, opts)
	assert.Equal(t, before.Version()+1, snap.Version())
	assert.Equal(t, seq(0, 2), ids(t, rows))
}
