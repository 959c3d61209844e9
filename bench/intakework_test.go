package bench

import (
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/testkit"
)

// TestIntakeWork runs baseline/intake-work on 137 requests (not a multiple
// of its batch of 50): every table holds its rows (6 a request in all),
// every answer and task was routed to its queue, and the requests' queue
// is empty.
func TestIntakeWork(t *testing.T) {
	pool := testkit.OwnPool(t, 8)
	conn, err := amqp.Dial(testkit.OwnVhost(t))
	require.NoError(t, err)
	defer conn.Close()
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	const n = 137
	r, err := IntakeWork(t.Context(), conn, BaselineConfig{Pool: pool, Count: n, Window: 100, Prefetch: 200, Workers: 4,
		Body: func(i int) []byte { return RequestBody("iw", i, loc) }})
	require.NoError(t, err)
	require.Equal(t, "baseline/intake-work", r.Name)
	require.Equal(t, n, r.Count)
	require.Positive(t, r.PerSecond)
	require.Positive(t, r.P50ms)

	total := 0
	for table := range IntakeWorkTables {
		var rows int
		require.NoError(t, pool.QueryRow(t.Context(), `SELECT count(*) FROM `+table).Scan(&rows))
		total += rows
	}
	require.Equal(t, n*IntakeWorkRows, total, "rows written = messages × rows per message")
	var linked int
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT count(*) FROM bench_iw_requests r
		JOIN bench_iw_payments p ON p.id = r.payment_id AND p.request_id = r.request_id
		WHERE (SELECT count(*) FROM bench_iw_timeline t WHERE t.payment_id = p.id) = 2`).Scan(&linked))
	require.Equal(t, n, linked, "each ledger row names its payment, which has two timeline entries")

	ch, err := conn.Channel()
	require.NoError(t, err)
	defer ch.Close()
	for q, want := range map[string]int{iwQueue: 0, iwExchange + ".event": n, iwExchange + ".task": n} {
		require.Eventually(t, func() bool {
			st, err := ch.QueueDeclarePassive(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
			return err == nil && st.Messages == want
		}, 10*time.Second, 50*time.Millisecond, fmt.Sprintf("%s holds %d messages", q, want))
	}
}
