//go:build !lancedb

package lancedb

import (
	"context"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A binary built without the lancedb tag lists the output and refuses to
// start it, saying how to build with LanceDB support.
func TestWithoutNativeLibraryFailsAtStart(t *testing.T) {
	b := service.NewStreamBuilder()
	_, err := b.AddProducerFunc()
	require.NoError(t, err)
	require.NoError(t, b.AddOutputYAML(`lancedb: {uri: /tmp/x, table: t, vector: {dimension: 8}}`))
	stream, err := b.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = stream.Run(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "built without LanceDB support")
	assert.Contains(t, err.Error(), "make build-lancedb")
}
