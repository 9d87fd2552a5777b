package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore/objstoretest"
)

func deltaSharedConfig(url, topic, table, writerID string, opts objstore.Options) string {
	return fmt.Sprintf(`
http:
  enabled: false
logger:
  level: info
input:
  danube:
    url: %s
    topics: [ %q ]
    subscription: delta-shared
    subscription_type: shared
    consumer_name: %s
output:
  delta_lake:
    path: %s
    flush_period: 50ms
    writer_id: %s
    storage:
      s3: { region: %q, endpoint: %q, access_key_id: %q, secret_access_key: %q, force_path_style: true }
    batching:
      count: 20
      period: 10ms
`, url, topic, writerID, table, writerID, opts.S3.Region, opts.S3.Endpoint, opts.S3.AccessKeyID, opts.S3.SecretAccessKey)
}

// runDeltaShared runs two danube-connect processes on one Shared
// subscription writing to one table. Writer A is killed with kill -9 after
// a few commits (its unacknowledged messages are redelivered, to B or to A
// once restarted). Every message must be in the table exactly once, and
// the table versions must be contiguous.
func runDeltaShared(t *testing.T, table string, opts objstore.Options) {
	broker := danubetest.Start(t)
	topic := "/default/delta-shared"
	require.NoError(t, broker.CreateTopic(topic, true))
	const total = 600

	a := startDeltaProcess(t, deltaSharedConfig(broker.URL(), topic, table, "writer-a", opts),
		"DANUBE_CONNECT_DELTA_CRASH_AT=after-commit", "DANUBE_CONNECT_DELTA_CRASH_AFTER=4")
	b := startDeltaProcess(t, deltaSharedConfig(broker.URL(), topic, table, "writer-b", opts))
	require.Eventually(t, func() bool {
		st, ok := broker.Stats(topic)
		return ok && st.Subscriptions["delta-shared"].Streaming >= 2
	}, 30*time.Second, 20*time.Millisecond, "both writers subscribe")
	produceDelta(t, broker.URL(), topic, 0, total)
	a.waitKilled(t, time.Minute)
	a2 := startDeltaProcess(t, deltaSharedConfig(broker.URL(), topic, table, "writer-a", opts))

	deadline := time.Now().Add(90 * time.Second)
	for {
		_, _, got := deltaTableIDsWith(t, table, opts)
		if len(got) >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	a2.stop(t)
	b.stop(t)

	version, _, got := deltaTableIDsWith(t, table, opts)
	want := make([]int64, total)
	for i := range want {
		want[i] = int64(i)
	}
	assert.Equal(t, want, got, "every message exactly once")

	ctx := context.Background()
	store, err := objstore.Open(ctx, table, opts)
	require.NoError(t, err)
	objs, err := store.List(ctx, "_delta_log/", "")
	require.NoError(t, err)
	var versions []int64
	for _, o := range objs {
		var v int64
		if n, _ := fmt.Sscanf(o.Key, "_delta_log/%020d.json", &v); n == 1 && len(o.Key) == len("_delta_log/")+25 {
			versions = append(versions, v)
		}
	}
	require.NotEmpty(t, versions)
	for i, v := range versions {
		require.Equal(t, int64(i), v, "versions are contiguous")
	}
	assert.Equal(t, version, versions[len(versions)-1])
	rows, rsVersion := deltaRSNumRows(t, table)
	assert.Equal(t, fmt.Sprint(total), rows, "delta-rs reads the same table")
	assert.Equal(t, fmt.Sprint(version), rsVersion)
}

func TestDeltaSharedSubscriptionTwoProcessesLocal(t *testing.T) {
	runDeltaShared(t, filepath.Join(t.TempDir(), "table"), objstore.Options{})
}

func TestDeltaSharedSubscriptionTwoProcessesS3(t *testing.T) {
	location, opts := objstoretest.NewS3Bucket(t)
	runDeltaShared(t, location+"/events", opts)
}
