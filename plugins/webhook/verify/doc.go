// Package verify authenticates inbound webhook requests: HMAC signature
// schemes of common providers (GitHub, Stripe, Shopify, Slack, Standard
// Webhooks/Svix/Clerk, Twilio, GitLab, Linear, Paddle, Zoom and a generic
// scheme), JSON Web Tokens with static keys or a JWKS endpoint, and API keys.
//
// The package has no Benthos dependency. Every verifier is safe for
// concurrent use, compares secrets in constant time, decodes signatures
// strictly and never puts secrets, expected signatures or tokens into its
// error messages.
package verify
