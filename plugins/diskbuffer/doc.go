// Package diskbuffer registers the Benthos `disk` buffer: buffer_disk.go is
// the thin glue (spec, config, message <-> record mapping with all metadata,
// ack mapping, metrics) over the durable queue in plugins/diskbuffer/diskqueue,
// which has no Benthos dependency.
package diskbuffer
