package outbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/rabbitmq/rabbitmqtest"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/testkit"
	"github.com/b2bpay/b2bpay/testlog"
)

// The relay claims every due row of the outbox, so the tests of this
// package share one database and one vhost (opened by the first test that
// asks) but run one at a time, each leaving the outbox empty.
func TestMain(m *testing.M) { testkit.Main(m, testkit.Options{}) }

// logBuffer collects JSON log records; it is safe for concurrent use.
type logBuffer struct{ testlog.Buffer }

// records returns the records logged at level or above.
func (b *logBuffer) records(t *testing.T, level slog.Level) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range bytes.Lines(b.Bytes()) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(line, &rec), "log line %s", line)
		var l slog.Level
		require.NoError(t, l.UnmarshalText([]byte(rec["level"].(string))))
		if l >= level {
			out = append(out, rec)
		}
	}
	return out
}

// bundle is what a test works with: a store, a publisher, a relay logging
// to a buffer, and an exchange ex that routes key "dead" to queue q.
type bundle struct {
	store    *postgres.Store
	conn     *rabbitmq.Conn
	pub      *rabbitmq.Publisher
	logs     *logBuffer
	upstream string
	ex, q    string
	events   string // a queue bound to every event for upstream
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := t.Context()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := postgres.New(testkit.Pool(t), postgres.Config{Seal: pgtest.Key, EventMessage: route.EventMessage, Logger: quiet})
	require.NoError(t, err)
	var pending int
	require.NoError(t, testkit.Pool(t).QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&pending))
	require.Zero(t, pending, "the outbox starts empty")
	t.Cleanup(func() {
		_, err := testkit.Pool(t).Exec(context.Background(), `DELETE FROM outbox`)
		require.NoError(t, err)
	})

	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := rabbitmq.Dial(dctx, rabbitmq.Config{URL: testkit.AMQP(t), Name: "b2bpay-relay-test " + t.Name(),
		OpTimeout: 5 * time.Second, Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) })
	pub := rabbitmq.NewPublisher(conn, quiet)
	t.Cleanup(func() { require.NoError(t, pub.Close()) })

	b := &bundle{
		store: store, conn: conn, pub: pub, logs: &logBuffer{},
		upstream: "erp-" + testkit.RandomHex(4),
		ex:       rabbitmqtest.QueueName(t, "ex"),
		q:        rabbitmqtest.QueueName(t, "q"),
	}
	topo := route.UpstreamTopology(b.upstream)
	b.events = topo.Queues[0].Name
	topo.Exchanges = append(topo.Exchanges, rabbitmq.Exchange{Name: b.ex, Kind: "direct"})
	topo.Queues = append(topo.Queues, rabbitmq.Queue{Name: b.q, Args: amqp.Table{"x-queue-type": "quorum"}})
	topo.Bindings = append(topo.Bindings, rabbitmq.Binding{Queue: b.q, Exchange: b.ex, Key: "dead"})
	require.NoError(t, topo.Declare(ctx, conn))
	t.Cleanup(func() {
		ch, err := conn.Channel(context.Background())
		if err != nil {
			return
		}
		defer ch.Close()
		for _, q := range []string{b.events, b.q} {
			_, _ = ch.QueueDelete(q, false, false, false)
		}
	})
	return b
}

// relay builds a relay over the bundle's store and publisher.
func (b *bundle) relay(batch int, poll time.Duration) *outbox.Relay {
	log := slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return outbox.NewRelay(b.store, route.Publisher{AMQP: b.pub}, outbox.RelayConfig{Batch: batch, Poll: poll, Logger: log})
}

// reject records a rejected message of the bundle's upstream, writing its
// dead-letter copy (to exchange with key "dead") and, with answer, a
// refusal event to the outbox. It returns the rejection.
func (b *bundle) reject(t *testing.T, exchange string, answer bool) postgres.Rejection {
	t.Helper()
	key := testkit.RandomHex(16)
	refusal := payment.Errorf(payment.CodeMalformed, "body is not a JSON object")
	r := postgres.Rejection{
		Key: key, UpstreamID: b.upstream, Code: payment.CodeMalformed, Reason: refusal.Error(),
		DeadLetter: route.DeadLetter(route.Original{
			Key: key, MessageID: "msg-" + key, UserID: b.upstream + "-user",
			Headers: map[string]string{route.HeaderUpstream: b.upstream}, Body: []byte("{not json " + key),
		}, payment.CodeMalformed, refusal.Error()),
	}
	r.DeadLetter.Exchange, r.DeadLetter.RoutingKey = exchange, "dead"
	if answer {
		ev := payment.RefusedEvent(b.upstream+"/message/"+key, b.upstream, payment.Request{}, "msg-"+key, refusal, time.Now())
		r.Answer = &ev
	}
	first, err := b.store.IntakeReject(t.Context(), r)
	require.NoError(t, err)
	require.True(t, first)
	return r
}

// get takes the next message from queue, waiting up to 5 s for it.
func (b *bundle) get(t *testing.T, queue string) amqp.Delivery {
	t.Helper()
	ch, err := b.conn.Channel(t.Context())
	require.NoError(t, err)
	defer ch.Close()
	var d amqp.Delivery
	require.Eventually(t, func() bool {
		var ok bool
		d, ok, err = ch.Get(queue, true)
		require.NoError(t, err)
		return ok
	}, 5*time.Second, 10*time.Millisecond, "no message on %s", queue)
	return d
}

// depth returns the number of ready messages in queue.
func (b *bundle) depth(t *testing.T, queue string) int {
	t.Helper()
	ch, err := b.conn.Channel(t.Context())
	require.NoError(t, err)
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	require.NoError(t, err)
	return q.Messages
}

// row is an outbox row as the tests inspect it.
type row struct {
	SentAt      *time.Time
	AvailableAt time.Time
	Attempts    int
	LastError   string
}

// requireSent checks that the relay is done with a message: a dead-letter
// copy (message id "dead/…") stays, marked sent once, for the operations
// page; any other message is deleted once the broker confirmed it.
func requireSent(t *testing.T, messageID string) {
	t.Helper()
	var n int
	require.NoError(t, testkit.Pool(t).QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE message_id = $1`, messageID).Scan(&n))
	if !strings.HasPrefix(messageID, "dead/") {
		require.Zero(t, n, "message %s deleted once sent", messageID)
		return
	}
	require.Equal(t, 1, n, "dead-letter copy %s kept", messageID)
	r := outboxRow(t, messageID)
	require.NotNil(t, r.SentAt, "dead-letter copy %s marked sent", messageID)
	require.Equal(t, 1, r.Attempts)
	require.Empty(t, r.LastError)
}

func outboxRow(t *testing.T, messageID string) row {
	t.Helper()
	var r row
	require.NoError(t, testkit.Pool(t).QueryRow(t.Context(), `SELECT sent_at, available_at, attempts, last_error
		FROM outbox WHERE message_id = $1`, messageID).Scan(&r.SentAt, &r.AvailableAt, &r.Attempts, &r.LastError))
	return r
}
