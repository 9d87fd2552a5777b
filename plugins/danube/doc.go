// Package danube registers the Benthos `danube` input and output, thin glue
// over the Go client in plugins/danube/client.
package danube
