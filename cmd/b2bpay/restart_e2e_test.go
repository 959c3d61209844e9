package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/producers"
	"github.com/b2bpay/b2bpay/rabbitmq/rabbitmqtest"
)

// stream publishes n valid requests as erp, retrying each until the broker
// confirms it (a retry may publish a request twice: intake is idempotent).
func stream(t *testing.T, e *env, prefix string, n int) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c, err := producers.Dial(ctx, producers.Config{URL: e.cfg.AMQPURL, UpstreamID: "erp", UserID: "guest"})
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		const batch = 20
		for i := 0; i < n; i += batch {
			var ids []string
			var bodies [][]byte
			for j := i; j < min(i+batch, n); j++ {
				r := request(fmt.Sprintf("%s-%04d", prefix, j))
				ids, bodies = append(ids, r.RequestID), append(bodies, body(t, r))
			}
			for ctx.Err() == nil {
				failed := 0
				for _, err := range c.PublishMany(ctx, ids, bodies) {
					if err != nil {
						failed++
					}
				}
				if failed == 0 {
					break
				}
				time.Sleep(100 * time.Millisecond) // the connection is coming back
			}
		}
		done <- ctx.Err()
	}()
	return done
}

// awaitAll waits until every request of the stream has a payment and an
// answer, and checks nothing was stored twice.
func awaitAll(t *testing.T, e *env, prefix string, n int) {
	answered := map[string]payment.Event{}
	require.Eventually(t, func() bool {
		for _, ev := range events(t, e.getAll("b2bpay.status.erp", 5000, 100*time.Millisecond)) {
			require.Equal(t, payment.EventAccepted, ev.Kind, ev.Reason)
			if prev, ok := answered[ev.RequestID]; ok {
				require.Equal(t, prev.PaymentID, ev.PaymentID, "a repeated answer names the same payment")
			}
			answered[ev.RequestID] = ev
		}
		return len(answered) == n
	}, 90*time.Second, 100*time.Millisecond, "answers")
	require.Equal(t, n, e.count(`SELECT count(*) FROM payments WHERE request_id LIKE $1`, prefix+"-%"))
	require.Equal(t, n, e.count(`SELECT count(DISTINCT request_id) FROM payments WHERE request_id LIKE $1`, prefix+"-%"))
	require.Equal(t, 2*n, e.count(`SELECT count(*) FROM payment_timeline t JOIN payments p ON p.id = t.payment_id WHERE p.request_id LIKE $1`, prefix+"-%"))
}

// TestWorkerRestartLosesNothing stops the worker in the middle of a stream
// and starts it again: every request is stored once and answered.
func TestWorkerRestartLosesNothing(t *testing.T) {
	e := newEnv(t)
	const n = 400
	done := stream(t, e, "restart", n)
	require.Eventually(t, func() bool {
		return e.count(`SELECT count(*) FROM payments`) >= n/4
	}, 60*time.Second, 10*time.Millisecond)
	e.halt()
	stoppedAt := e.count(`SELECT count(*) FROM payments`)
	require.Less(t, stoppedAt, n, "the worker must stop mid-stream for this test to mean anything")
	time.Sleep(200 * time.Millisecond)
	e.start()
	require.NoError(t, <-done)
	awaitAll(t, e, "restart", n)
}

// TestBrokerDropsConnections closes every connection of the vhost in the
// middle of a stream: the worker, the relay and the publisher reconnect
// and nothing is lost or stored twice.
func TestBrokerDropsConnections(t *testing.T) {
	e := newEnv(t)
	const n = 400
	done := stream(t, e, "drop", n)
	require.Eventually(t, func() bool {
		return e.count(`SELECT count(*) FROM payments`) >= n/4
	}, 60*time.Second, 10*time.Millisecond)
	vhost, err := rabbitmqtest.VhostOf(e.cfg.AMQPURL)
	require.NoError(t, err)
	gen := e.app.Conn.Generation()
	require.NoError(t, rabbitmqtest.CloseConnections(vhost, "test: broker drops connections"))
	require.NoError(t, <-done)
	awaitAll(t, e, "drop", n)
	require.Greater(t, e.app.Conn.Generation(), gen, "the connection was dropped and came back")
}
