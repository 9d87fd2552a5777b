// Package webhook registers the webhook verification processors
// (`webhook_signature`, `jwt_verify`, `api_key`) and the `webhook_server`
// input.
package webhook
