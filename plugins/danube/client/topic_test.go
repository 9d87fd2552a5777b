package client

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateTopic(t *testing.T) {
	for _, tc := range []struct {
		topic string
		ok    bool
	}{
		{"/default/orders", true},
		{"/default/orders-part-0", true},
		{"/ns_1/t_2-x", true},
		{"/日本/トピック", true},
		{"/ns/", true}, // empty parts pass, as in the broker
		{"default/orders", false},
		{"/default/orders/extra", false},
		{"/default", false},
		{"", false},
		{"/default/or ders", false},
		{"/default/orders.v1", false},
		{"/default/orders!", false},
	} {
		err := ValidateTopic(tc.topic)
		if tc.ok {
			assert.NoError(t, err, tc.topic)
			continue
		}
		require.Error(t, err, tc.topic)
		assert.True(t, IsPermanent(err), tc.topic)
		assert.False(t, IsRetryable(err), tc.topic)
		assert.Contains(t, err.Error(), tc.topic)
	}
}

func TestFNV1a64MatchesReferenceVectors(t *testing.T) {
	// Reference values of 64-bit FNV-1a (offset basis 0xcbf29ce484222325,
	// prime 0x100000001b3).
	assert.Equal(t, uint64(0xcbf29ce484222325), fnv1a64(""))
	assert.Equal(t, uint64(0xaf63dc4c8601ec8c), fnv1a64("a"))
	assert.Equal(t, uint64(0x85944171f73967e8), fnv1a64("foobar"))
	assert.Equal(t, int(uint64(0x85944171f73967e8)%7), PartitionForKey("foobar", 7))
	assert.Equal(t, 0, PartitionForKey("anything", 1))
}

func TestOwnPartitionsFiltersPrefixMatches(t *testing.T) {
	got := ownPartitions("/default/orders", []string{
		"/default/orders-part-10", "/default/orders-part-2", "/default/orders2",
		"/default/orders-part-", "/default/orders-part-1x", "/default/orders-part-0",
	})
	sortPartitions(got)
	assert.Equal(t, []string{"/default/orders-part-0", "/default/orders-part-2", "/default/orders-part-10"}, got)
	assert.Equal(t, []string{"/default/t"}, ownPartitions("/default/t", []string{"/default/t", "/default/t2"}))
}

func TestBackoffDelayGrowsWithJitterAndCap(t *testing.T) {
	b := Backoff{Initial: 100, Max: 1000, MaxRetries: 3}.withDefaults()
	for attempt, want := range []int64{100, 200, 400, 800, 1000, 1000} {
		for range 50 {
			d := int64(b.delay(attempt))
			assert.GreaterOrEqual(t, d, want/2, "attempt %d", attempt)
			assert.LessOrEqual(t, d, want, "attempt %d", attempt)
		}
	}
}
