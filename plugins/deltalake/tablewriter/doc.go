// Package tablewriter appends JSON messages to Delta Lake tables. It has no
// Benthos imports: the delta_lake output is a thin layer over it.
//
// A Writer keeps a bounded set of tables open (writer.go). Each table has
// one tableWriter (table_writer.go, table_open.go) that decodes the rows of
// concurrent Write calls into Arrow buffers per (schema generation,
// partition), merges them into one shared flush, and commits flushes in
// order from its own goroutine (flush.go): data files first, then one
// commit carrying the adds, the message offsets (exactly-once) and, after
// schema evolution, the new metaData. A commit that loses a race re-reads
// the winners' offsets and is rebuilt without rows already committed
// elsewhere. maintenance_schedule.go runs scheduled OPTIMIZE and VACUUM.
//
// A Write call returns once the commits holding its messages are durable;
// messages that cannot be written are reported one by one, with the reason.
package tablewriter
