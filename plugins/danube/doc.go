// Package danube registers the Benthos `danube` input and output, thin glue
// over the Go client in plugins/danube/client (which has no Benthos
// dependency):
//
//   - config_danube.go: fields shared by both (url, token, tls, backoff,
//     health_check_interval) and their translation into client.Options;
//   - output_danube.go: `danube` batch output; every message is one
//     SendMessage RPC, all messages of a batch in flight at once, acked to
//     Benthos only after the broker answered; producers cached per topic;
//   - input_danube.go: `danube` batch input over all partitions of the listed
//     topics; Benthos ack = broker Ack, nack = broker Nack with nack_delay;
//     for exclusive/failover subscriptions it reports the offsets a broker
//     skipped (client.GapDetector) and, with skipped_messages: stop, halts.
//
// Tests run against the in-process test broker plugins/danube/danubetest,
// or against a real broker when DANUBE_BROKER_URL is set.
package danube
