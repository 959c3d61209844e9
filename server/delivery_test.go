package server

import "testing"

// TestSecurityPrefetchTimesMessageSize: each consumer's prefetch keeps
// consumers × prefetch × the broker's largest message within the delivery
// memory. With RabbitMQ's default max_message_size (128 MiB) and the
// default budget, a consumer holds 2 messages at most (three 100 MB
// decisions raised serve by 366 MB before); with the 1 MiB deploy/ sets,
// the usual prefetch is untouched.
func TestSecurityPrefetchTimesMessageSize(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		want, consumers int
		maxMessage      int64
		budget          int64
		prefetch        int
	}{
		{200, 2, 128 << 20, DefaultDeliveryMemory, 2},
		{200, 2, 1 << 20, DefaultDeliveryMemory, 200},
		{10000 * 10000, 2, 1 << 20, DefaultDeliveryMemory, 256},
		{200, 2, 0, 0, 200}, // the defaults: 1 MiB, 512 MiB
		{50, 2, 512 << 20, 64 << 20, 1},
		{0, 2, 1 << 20, 64 << 20, 1},
	} {
		got := deliveryPrefetch(c.want, c.consumers, c.maxMessage, c.budget)
		if got != c.prefetch {
			t.Errorf("deliveryPrefetch(%d, %d, %d, %d) = %d, want %d", c.want, c.consumers, c.maxMessage, c.budget, got, c.prefetch)
		}
		if c.maxMessage > 0 && c.budget >= int64(c.consumers)*c.maxMessage && int64(c.consumers*got)*c.maxMessage > c.budget {
			t.Errorf("%+v: %d deliveries of %d bytes pass the budget", c, got, c.maxMessage)
		}
	}
}
