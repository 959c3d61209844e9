package consumers

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
)

// batchFixture is a store with one upstream and requests that the store
// refuses (their customer is not registered), which is enough to see
// every request reach the ledger.
type batchFixture struct {
	store *postgres.Store
	up    payment.Upstream
	sfx   string
}

func newBatchFixture(t *testing.T) batchFixture {
	t.Helper()
	store, err := postgres.New(testPool(t), postgres.Config{Seal: pgtest.Key, EventMessage: route.EventMessage, Logger: discard()})
	require.NoError(t, err)
	sfx := rand.Text()[:12]
	up := payment.Upstream{ID: "erp-" + sfx, Name: "ERP", AMQPUser: "erp-user-" + sfx, Active: true}
	require.NoError(t, store.UpstreamCreate(t.Context(), up, nil, 0))
	return batchFixture{store: store, up: up, sfx: sfx}
}

func (f batchFixture) request(n int) amqp.Delivery {
	id := fmt.Sprintf("req-%s-%d", f.sfx, n)
	return amqp.Delivery{MessageId: "msg-" + id, UserId: f.up.AMQPUser, RoutingKey: "payment.request.v1",
		Body: []byte(`{"schema_version":1,"request_id":"` + id + `","order_ref":"PO-` + id + `","customer_id":"cust-1",
		"applicant":"appl-1","bank_id":"102100099996","debtor_account":"6222000011112222",
		"creditor":{"name":"上海华东机电设备有限公司","account":"31001520313050012345","bank_id":"105290036005"},
		"amount":"100.00","currency":"CNY","execution_date":"2099-01-05"}`)}
}

func (f batchFixture) ledger(t *testing.T) int {
	var n int
	require.NoError(t, testPool(t).QueryRow(t.Context(), `SELECT count(*) FROM intake_requests WHERE upstream_id = $1`, f.up.ID).Scan(&n))
	return n
}

func (f batchFixture) rejects(t *testing.T, key string) int {
	var n int
	require.NoError(t, testPool(t).QueryRow(t.Context(), `SELECT count(*) FROM intake_rejects WHERE message_key = $1`, key).Scan(&n))
	return n
}

// counting wraps a handler and counts its calls.
func counting(h Handler, n *atomic.Int32) Handler {
	return func(ctx context.Context, d amqp.Delivery) error { n.Add(1); return h(ctx, d) }
}

// A batch stores its requests together and sends everything else through
// the single path, in order; every delivery is acked once stored.
func TestIntakeBatchMixed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newBatchFixture(t)
	h := NewIntake(f.store, intake.NewAuthenticator(f.store, nil), discard())
	var singles atomic.Int32
	bh := h.Batch(counting(h.Handle, &singles))

	malformed := amqp.Delivery{MessageId: "bad-" + f.sfx, UserId: f.up.AMQPUser, Body: []byte("{not json")}
	forged := f.request(9)
	forged.UserId = "nobody-" + f.sfx
	cancel := amqp.Delivery{MessageId: "cancel-" + f.sfx, UserId: f.up.AMQPUser, RoutingKey: route.CancelKey,
		Body: []byte(`{"schema_version":1,"request_id":"req-` + f.sfx + `-1"}`)}
	ds := []amqp.Delivery{f.request(1), f.request(1), f.request(2), malformed, forged, cancel, f.request(3)}
	got := bh(ctx, ds)
	require.Equal(t, []rabbitmq.Disposition{rabbitmq.Ack, rabbitmq.Ack, rabbitmq.Ack, rabbitmq.Ack, rabbitmq.Ack, rabbitmq.Ack, rabbitmq.Ack}, got)
	require.Equal(t, int32(3), singles.Load(), "the malformed, the forged and the cancel went one at a time")
	require.Equal(t, 3, f.ledger(t), "three requests, one of them twice")
	require.Equal(t, 1, f.rejects(t, original(malformed).Key))
	require.Equal(t, 1, f.rejects(t, original(forged).Key))

	// The whole batch again (a redelivery): nothing new is stored.
	got = bh(ctx, ds)
	for i, d := range got {
		require.Equal(t, rabbitmq.Ack, d, "delivery %d", i)
	}
	require.Equal(t, 3, f.ledger(t))
	require.Equal(t, 1, f.rejects(t, original(malformed).Key))
}

// failMany fails every multi-request transaction, as a lost connection
// would: the batch's requests then go one at a time.
type failMany struct {
	*postgres.Store
	calls atomic.Int32
}

func (s *failMany) IntakeSubmitMany(ctx context.Context, subs []intake.Submission) ([]intake.Outcome, error) {
	if len(subs) > 1 {
		s.calls.Add(1)
		return nil, errors.New("injected: connection lost")
	}
	return s.Store.IntakeSubmitMany(ctx, subs)
}

func TestIntakeBatchFallsBackOneAtATime(t *testing.T) {
	t.Parallel()
	f := newBatchFixture(t)
	store := &failMany{Store: f.store}
	h := NewIntake(store, intake.NewAuthenticator(f.store, nil), discard())
	var singles atomic.Int32
	got := h.Batch(counting(h.Handle, &singles))(t.Context(), []amqp.Delivery{f.request(1), f.request(2), f.request(3)})
	require.Equal(t, []rabbitmq.Disposition{rabbitmq.Ack, rabbitmq.Ack, rabbitmq.Ack}, got)
	require.Equal(t, int32(1), store.calls.Load())
	require.Equal(t, int32(3), singles.Load())
	require.Equal(t, 3, f.ledger(t))
}

// A request whose single attempt fails too is requeued, never acked.
func TestIntakeBatchRequeuesWhatFails(t *testing.T) {
	t.Parallel()
	f := newBatchFixture(t)
	h := NewIntake(f.store, intake.NewAuthenticator(f.store, nil), discard())
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // every transaction fails
	got := h.Batch(h.Handle)(ctx, []amqp.Delivery{f.request(1), f.request(2)})
	require.Equal(t, []rabbitmq.Disposition{rabbitmq.Requeue, rabbitmq.Requeue}, got)
	require.Equal(t, 0, f.ledger(t))
}
