// Package deltalake registers the Benthos `delta_lake` output, glue over the
// Delta log library in plugins/deltalake/delta.
package deltalake
