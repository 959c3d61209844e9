// Package schema holds b2bpay's published contracts and its database
// migrations: numbered .up.sql/.down.sql files embedded in the binary and
// applied by `b2bpay migrate`, and the JSON Schema of the request message.
package schema

import "embed"

// Migrations holds the SQL migrations, in the layout golang-migrate reads.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// RequestV1 is the JSON Schema of version 1 of the payment request.
//
//go:embed payment-request.v1.json
var RequestV1 []byte
