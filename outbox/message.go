// Package outbox carries messages from the database to the broker. Every
// message b2bpay sends is first written as a row in the transaction that
// decided it; the Relay reads pending rows, publishes them with publisher
// confirms and the mandatory flag, and marks them sent. A crash anywhere
// leaves the row pending, so the message is published again (at least
// once, with a stable message id receivers use to drop copies).
package outbox

// Message is one outgoing message, independent of the broker library.
type Message struct {
	// ID is the row id, set when the message is read back from the outbox.
	ID int64
	// MessageID is the AMQP message-id property: stable for the fact the
	// message reports, so a copy can be recognised.
	MessageID   string
	Exchange    string
	RoutingKey  string
	ContentType string
	Headers     map[string]string
	Body        []byte
	// DiscardUnroutable marks a message whose recipient may have gone (a
	// reply to a private queue): if the broker returns it as unroutable it
	// is dropped instead of kept pending. The fact it reports is in the
	// database either way.
	DiscardUnroutable bool
	// Attempts counts earlier publishes of this row (failed ones, as a
	// row that was published is not read back).
	Attempts int
}
