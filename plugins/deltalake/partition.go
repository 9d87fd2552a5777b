package deltalake

import (
	"strings"
)

// hiveDefaultPartition is the directory name Spark and Hive use for a null
// partition value (the log records a JSON null).
const hiveDefaultPartition = "__HIVE_DEFAULT_PARTITION__"

// escapePartitionValue makes a partition value safe as a directory name:
// every byte outside [A-Za-z0-9._-] becomes %XX. This covers everything Hive
// escapes ('/', '=', '%', ' ', ':' ...) and non-ASCII bytes, so a directory
// name never depends on the object store's handling of special characters.
// Readers take values from the log, never from directory names.
func escapePartitionValue(v string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// partitionDir is the Hive-style directory of one partition,
// "col1=v1/col2=v2", with nil values as __HIVE_DEFAULT_PARTITION__. It is
// empty for an unpartitioned table.
func partitionDir(cols []string, values []*string) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(escapePartitionValue(c))
		b.WriteByte('=')
		if values[i] == nil || *values[i] == "" {
			b.WriteString(hiveDefaultPartition)
		} else {
			b.WriteString(escapePartitionValue(*values[i]))
		}
	}
	return b.String()
}

// partitionKey identifies one partition inside a table buffer; nil and ""
// are distinct in the key but both serialise to a null partition value.
func partitionKey(values []*string) string {
	var b strings.Builder
	for _, v := range values {
		if v == nil {
			b.WriteString("\x00n")
		} else {
			b.WriteString("\x00v")
			b.WriteString(*v)
		}
	}
	return b.String()
}
