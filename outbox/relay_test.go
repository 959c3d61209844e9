package outbox_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/rabbitmq/rabbitmqtest"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/testkit"
)

func TestRunOncePublishesPending(t *testing.T) {
	b := setup(t)
	ctx := t.Context()
	withAnswer := b.reject(t, b.ex, true)
	alone := b.reject(t, b.ex, false)

	r := b.relay(10, time.Hour)
	sent, failed, err := r.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, sent)
	require.Zero(t, failed)

	// The dead-letter copies, in the order they were written.
	for _, rej := range []postgres.Rejection{withAnswer, alone} {
		d := b.get(t, b.q)
		want := rej.DeadLetter
		require.Equal(t, want.MessageID, d.MessageId)
		require.Equal(t, b.ex, d.Exchange)
		require.Equal(t, "dead", d.RoutingKey)
		require.Equal(t, "application/octet-stream", d.ContentType)
		require.Equal(t, amqp.Persistent, d.DeliveryMode)
		require.Equal(t, want.Body, d.Body)
		require.False(t, d.Timestamp.IsZero())
		wantHeaders := amqp.Table{}
		for k, v := range want.Headers {
			wantHeaders[k] = v
		}
		require.Equal(t, wantHeaders, published(d.Headers))
		require.Equal(t, string(payment.CodeMalformed), d.Headers[route.HeaderReasonCode])
		require.Equal(t, "msg-"+rej.Key, d.Headers[route.HeaderOriginalMessageID])
	}

	// The answer to the upstream, correlated by the refused message's id.
	d := b.get(t, b.events)
	require.Equal(t, withAnswer.Answer.ID, d.MessageId)
	require.Equal(t, route.EventsExchange, d.Exchange)
	require.Equal(t, "payment."+b.upstream+".refused", d.RoutingKey)
	require.Equal(t, "msg-"+withAnswer.Key, d.CorrelationId)
	require.Equal(t, amqp.Table{"x-b2bpay-correlation-id": "msg-" + withAnswer.Key}, published(d.Headers))
	require.Equal(t, "application/json", d.ContentType)
	require.Equal(t, amqp.Persistent, d.DeliveryMode)
	var ev payment.Event
	require.NoError(t, json.Unmarshal(d.Body, &ev))
	require.Equal(t, payment.EventRefused, ev.Kind)
	require.Equal(t, payment.CodeMalformed, ev.Code)

	for _, id := range []string{withAnswer.DeadLetter.MessageID, alone.DeadLetter.MessageID, withAnswer.Answer.ID} {
		requireSent(t, id)
	}

	// Nothing is left: a second run publishes nothing.
	sent, failed, err = r.RunOnce(ctx)
	require.NoError(t, err)
	require.Zero(t, sent)
	require.Zero(t, failed)
	require.Zero(t, b.depth(t, b.q))
	require.Zero(t, b.depth(t, b.events))
	require.Empty(t, b.logs.records(t, slog.LevelWarn))
}

func TestRunOnceUnroutable(t *testing.T) {
	b := setup(t)
	ctx := t.Context()
	// An exchange nothing is bound to yet.
	lonely := rabbitmqtest.QueueName(t, "lonely")
	require.NoError(t, rabbitmq.Topology{Exchanges: []rabbitmq.Exchange{{Name: lonely, Kind: "direct"}}}.Declare(ctx, b.conn))
	t.Cleanup(func() {
		ch, err := b.conn.Channel(context.Background())
		if err == nil {
			_ = ch.ExchangeDelete(lonely, false, false)
			_ = ch.Close()
		}
	})
	stuck := b.reject(t, lonely, false)
	routable := b.reject(t, b.ex, false)

	r := b.relay(10, time.Hour)
	before := time.Now()
	sent, failed, err := r.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, sent, "the routable message goes out")
	require.Equal(t, 1, failed)
	require.Equal(t, routable.DeadLetter.MessageID, b.get(t, b.q).MessageId)

	row := outboxRow(t, stuck.DeadLetter.MessageID)
	require.Nil(t, row.SentAt, "an unroutable message stays pending")
	require.Equal(t, 1, row.Attempts)
	require.Contains(t, row.LastError, "unroutable")
	require.True(t, row.AvailableAt.After(before), "retried later: available_at %s, run at %s", row.AvailableAt, before)
	require.True(t, row.AvailableAt.Before(before.Add(postgres.OutboxLease)), "after a backoff, not the lease")

	alerts := b.logs.records(t, slog.LevelWarn)
	require.Len(t, alerts, 1)
	alert := alerts[0]
	require.Equal(t, "ERROR", alert["level"])
	require.Equal(t, "unroutable", alert["alert"])
	require.Equal(t, stuck.DeadLetter.MessageID, alert["message_id"])
	require.Equal(t, lonely, alert["exchange"])
	require.Equal(t, "dead", alert["routing_key"])
	require.EqualValues(t, 1, alert["attempts"])
	require.Contains(t, alert["error"], "unroutable")

	// Not due yet: nothing is claimed.
	sent, failed, err = r.RunOnce(ctx)
	require.NoError(t, err)
	require.Zero(t, sent+failed)

	// An operator binds a queue; once the message is due it goes out.
	q := rabbitmqtest.QueueName(t, "late")
	require.NoError(t, rabbitmq.Topology{
		Queues:   []rabbitmq.Queue{{Name: q, Args: amqp.Table{"x-queue-type": "quorum"}}},
		Bindings: []rabbitmq.Binding{{Queue: q, Exchange: lonely, Key: "dead"}},
	}.Declare(ctx, b.conn))
	t.Cleanup(func() {
		ch, err := b.conn.Channel(context.Background())
		if err == nil {
			_, _ = ch.QueueDelete(q, false, false, false)
			_ = ch.Close()
		}
	})
	_, err = testkit.Pool(t).Exec(ctx, `UPDATE outbox SET available_at = $2 WHERE message_id = $1`, stuck.DeadLetter.MessageID, time.Now())
	require.NoError(t, err)
	sent, failed, err = r.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, sent)
	require.Zero(t, failed)
	d := b.get(t, q)
	require.Equal(t, stuck.DeadLetter.MessageID, d.MessageId)
	require.Equal(t, stuck.DeadLetter.Body, d.Body)
	row = outboxRow(t, stuck.DeadLetter.MessageID)
	require.NotNil(t, row.SentAt)
	require.Equal(t, 2, row.Attempts)
	require.Len(t, b.logs.records(t, slog.LevelWarn), 1, "no further alert")
}

// TestAnswerToUncleanMessageID: the answer to a refused message whose id is
// not clean text (a NUL, invalid UTF-8) is stored and relayed; its
// correlation id is the id made clean.
func TestAnswerToUncleanMessageID(t *testing.T) {
	b := setup(t)
	ctx := t.Context()
	key := testkit.RandomHex(16)
	msgID := "m\x00sg\xff-" + key
	refusal := payment.Errorf(payment.CodeTooLarge, "body is %d bytes, the limit is %d", payment.MaxRequestBytes+1, payment.MaxRequestBytes)
	ev := payment.RefusedEvent(b.upstream+"/message/"+key, b.upstream, payment.Request{}, msgID, refusal, time.Now())
	dead := route.DeadLetter(route.Original{Key: key, MessageID: msgID, Body: []byte("x")}, refusal.Code, refusal.Error())
	dead.Exchange, dead.RoutingKey = b.ex, "dead"
	first, err := b.store.IntakeReject(ctx, postgres.Rejection{Key: key, UpstreamID: b.upstream, Code: refusal.Code,
		Reason: refusal.Error(), DeadLetter: dead, Answer: &ev})
	require.NoError(t, err)
	require.True(t, first)

	sent, failed, err := b.relay(10, time.Hour).RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, sent)
	require.Zero(t, failed)
	d := b.get(t, b.events)
	require.Equal(t, ev.ID, d.MessageId)
	require.Equal(t, "msg\uFFFD-"+key, d.CorrelationId)
	require.Equal(t, "msg\uFFFD-"+key, b.get(t, b.q).Headers[route.HeaderOriginalMessageID])
}

// published returns the headers as published, without the ones a quorum queue
// adds.
func published(h amqp.Table) amqp.Table {
	out := amqp.Table{}
	for k, v := range h {
		if k != "x-delivery-count" {
			out[k] = v
		}
	}
	return out
}

// start runs r.Start(ctx, wake) in the background; the returned stop
// cancels it and checks it returned nil promptly.
func start(t *testing.T, run func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("Start did not return after its context was cancelled")
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestStartWakes(t *testing.T) {
	b := setup(t)
	// Polling once an hour: only a wake makes the relay look again.
	r := b.relay(10, time.Hour)
	wake := make(chan struct{}, 1)
	first := b.reject(t, b.ex, false)
	stop := start(t, func(ctx context.Context) error { return r.Start(ctx, wake) })

	// Start looks at the outbox at once.
	require.Equal(t, first.DeadLetter.MessageID, b.get(t, b.q).MessageId)

	// A new row waits for a wake...
	second := b.reject(t, b.ex, false)
	time.Sleep(300 * time.Millisecond)
	require.Zero(t, b.depth(t, b.q), "published without a wake")
	require.Nil(t, outboxRow(t, second.DeadLetter.MessageID).SentAt)

	// ...and goes out promptly after one.
	wake <- struct{}{}
	begin := time.Now()
	require.Equal(t, second.DeadLetter.MessageID, b.get(t, b.q).MessageId)
	require.Less(t, time.Since(begin), 5*time.Second)
	require.Eventually(t, func() bool { return outboxRow(t, second.DeadLetter.MessageID).SentAt != nil },
		5*time.Second, 10*time.Millisecond)

	begin = time.Now()
	stop()
	require.Less(t, time.Since(begin), 5*time.Second, "Start returns promptly when cancelled")
}

// TestStartWokenByNotify: the store's LISTEN on the outbox channel wakes
// the relay when a row is inserted.
func TestStartWokenByNotify(t *testing.T) {
	b := setup(t)
	r := b.relay(10, time.Hour)
	wake := make(chan struct{}, 1)
	stopListen := start(t, func(ctx context.Context) error {
		b.store.Listen(ctx, postgres.OutboxChannel, wake)
		return nil
	})
	// Wait until the listener is listening.
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, testkit.Pool(t).QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN '||$1::text`, postgres.OutboxChannel).Scan(&n))
		return n == 1
	}, 5*time.Second, 10*time.Millisecond)
	stopRelay := start(t, func(ctx context.Context) error { return r.Start(ctx, wake) })
	time.Sleep(100 * time.Millisecond) // past the first look at the empty outbox

	for range 3 {
		rej := b.reject(t, b.ex, false)
		require.Equal(t, rej.DeadLetter.MessageID, b.get(t, b.q).MessageId)
	}
	stopRelay()
	stopListen()
}

// TestStartDrainsBacklog: a full batch is followed at once by the next,
// without waiting for a wake or the poll.
func TestStartDrainsBacklog(t *testing.T) {
	b := setup(t)
	r := b.relay(2, time.Hour)
	var want []string
	for range 7 {
		want = append(want, b.reject(t, b.ex, false).DeadLetter.MessageID)
	}
	stop := start(t, func(ctx context.Context) error { return r.Start(ctx, nil) })
	var got []string
	for range want {
		got = append(got, b.get(t, b.q).MessageId)
	}
	require.Equal(t, want, got, "published oldest first")
	stop()
	var pending int
	require.NoError(t, testkit.Pool(t).QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&pending))
	require.Zero(t, pending)
}

// insert writes an outbox row with raw SQL, as any writer of the outbox
// may, due now.
func insert(t *testing.T, messageID, exchange, key string, discardUnroutable bool) {
	t.Helper()
	_, err := testkit.Pool(t).Exec(t.Context(), `INSERT INTO outbox (message_id, exchange, routing_key, content_type, headers, body,
			created_at, available_at, discard_unroutable)
		VALUES ($1, $2, $3, 'application/json', '{"x-b2bpay-correlation-id": "corr-1"}', '{}', now(), now(), $4)`,
		messageID, exchange, key, discardUnroutable)
	require.NoError(t, err)
}

// TestRunOnceDiscardsUnroutableReply: a reply whose recipient has gone is
// dropped (marked sent, no alert); one that can be routed is delivered.
func TestRunOnceDiscardsUnroutableReply(t *testing.T) {
	b := setup(t)
	ctx := t.Context()
	gone := "reply-" + testkit.RandomHex(8)
	there := "reply-" + testkit.RandomHex(8)
	insert(t, gone, b.ex, "nobody-listens", true)
	insert(t, there, b.ex, "dead", true)

	sent, failed, err := b.relay(10, time.Hour).RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, sent)
	require.Zero(t, failed)

	d := b.get(t, b.q)
	require.Equal(t, there, d.MessageId)
	require.Equal(t, "corr-1", d.CorrelationId)
	require.Zero(t, b.depth(t, b.q))
	for _, id := range []string{gone, there} {
		requireSent(t, id)
	}
	require.Empty(t, b.logs.records(t, slog.LevelWarn), "no alert for a dropped reply")
	infos := b.logs.records(t, slog.LevelInfo)
	require.Len(t, infos, 1)
	require.Equal(t, gone, infos[0]["message_id"])
}
