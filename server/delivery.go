package server

// The memory serve's consumers may hold in deliveries: the broker sends a
// consumer up to its prefetch count of unacknowledged messages, each up to
// the broker's max_message_size, and amqp091-go holds each whole in memory
// before b2bpay sees its size. So serve keeps prefetch × message size ×
// consumers within a budget.
const (
	// DefaultMaxMessageBytes is the largest message serve assumes the broker
	// delivers: the max_message_size that deploy/README.md sets in
	// rabbitmq.conf (RabbitMQ's own default is 128 MiB). Requests are at
	// most 64 KiB and decisions 16 KiB.
	DefaultMaxMessageBytes = 1 << 20
	// DefaultDeliveryMemory is the budget of every consumer's deliveries.
	DefaultDeliveryMemory = 512 << 20
	// ConsumerCount is how many queues serve consumes (intake, decisions).
	ConsumerCount = 2
)

// deliveryPrefetch is one consumer's prefetch: want, lowered so that
// consumers × prefetch × maxMessage stays within budget, and at least 1.
// Zero maxMessage or budget take their defaults.
func deliveryPrefetch(want, consumers int, maxMessage, budget int64) int {
	if maxMessage <= 0 {
		maxMessage = DefaultMaxMessageBytes
	}
	if budget <= 0 {
		budget = DefaultDeliveryMemory
	}
	limit := budget / (int64(max(consumers, 1)) * maxMessage)
	return int(max(min(int64(want), limit), 1))
}
