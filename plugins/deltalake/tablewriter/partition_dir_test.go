package tablewriter

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPartitionDirEscaping(t *testing.T) {
	s := func(v string) *string { return &v }
	tests := []struct {
		cols []string
		vals []*string
		want string
	}{
		{nil, nil, ""},
		{[]string{"date"}, []*string{s("2024-01-01")}, "date=2024-01-01"},
		{[]string{"x"}, []*string{s("A/A")}, "x=A%2FA"},
		{[]string{"x"}, []*string{s("B B")}, "x=B%20B"},
		{[]string{"x"}, []*string{s("a=b%c")}, "x=a%3Db%25c"},
		{[]string{"x"}, []*string{s("é")}, "x=%C3%A9"},
		{[]string{"x"}, []*string{nil}, "x=__HIVE_DEFAULT_PARTITION__"},
		{[]string{"x"}, []*string{s("")}, "x=__HIVE_DEFAULT_PARTITION__"},
		{[]string{"a", "b c"}, []*string{s("1"), s("..")}, "a=1/b%20c=.."},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, partitionDir(tt.cols, tt.vals))
	}
	assert.NotEqual(t, partitionKey([]*string{nil}), partitionKey([]*string{s("")}))
	assert.NotEqual(t, partitionKey([]*string{s("a"), s("b")}), partitionKey([]*string{s("ab"), nil}))
}
