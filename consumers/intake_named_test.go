package consumers

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
)

// withField returns a delivery's body with one member set to a JSON value.
func withField(t *testing.T, d amqp.Delivery, key, value string) amqp.Delivery {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(d.Body, &m))
	m[key] = json.RawMessage(value)
	b, err := json.Marshal(m)
	require.NoError(t, err)
	d.Body = b
	return d
}

// sentAnswers are the answers in the outbox for a request: event id,
// correlation header and the event itself.
type sentAnswer struct {
	id, correlation string
	ev              payment.Event
}

func (f batchFixture) answers(t *testing.T, requestID string) []sentAnswer {
	t.Helper()
	rows, err := testPool(t).Query(t.Context(), `SELECT message_id, coalesce(headers->>'x-b2bpay-correlation-id', ''), body
		FROM outbox WHERE exchange = $1 AND routing_key LIKE $2 AND convert_from(body, 'UTF8')::jsonb->>'request_id' = $3 ORDER BY id`,
		route.EventsExchange, "payment."+f.up.ID+".%", requestID)
	require.NoError(t, err)
	defer rows.Close()
	var out []sentAnswer
	for rows.Next() {
		var a sentAnswer
		var body []byte
		require.NoError(t, rows.Scan(&a.id, &a.correlation, &body))
		require.NoError(t, json.Unmarshal(body, &a.ev))
		out = append(out, a)
	}
	require.NoError(t, rows.Err())
	return out
}

func (f batchFixture) deadLetters(t *testing.T, d amqp.Delivery) int {
	var n int
	require.NoError(t, testPool(t).QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE message_id = $1`,
		"dead/"+original(d).Key).Scan(&n))
	return n
}

// TestIntakeAnswersTheRequestItRefuses (issue 10, point 4): a request
// refused for a field rule, published without a message id, is answered
// as that request (request id, correlation id, order reference, event id
// <upstream>/<request id>/answer), recorded in the intake ledger under its
// request id, so a redelivery gets the same answer and the same id with
// other content is an idempotency conflict; it is dead-lettered once.
func TestIntakeAnswersTheRequestItRefuses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newBatchFixture(t)
	h := NewIntake(f.store, intake.NewAuthenticator(f.store, nil), discard())

	tests := []struct {
		name, key, value string
		code             payment.Code
	}{
		{"NegativeAmount", "amount", `"-1"`, payment.CodeInvalidAmount},
		{"AmountTooLarge", "amount", `"10000000000000.00"`, payment.CodeInvalidAmount},
		{"UnknownCurrency", "currency", `"XYZ"`, payment.CodeInvalidCurrency},
		{"DateNotYYYYMMDD", "execution_date", `"06.12.2026"`, payment.CodeInvalidDate},
		{"DateYear0001", "execution_date", `"0001-01-01"`, payment.CodeInvalidDate},
		{"AmountAsNumber", "amount", `100`, payment.CodeMalformed},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := withField(t, f.request(100+i), tt.key, tt.value)
			d.MessageId = "" // as amqp-publish sends it
			var req struct {
				RequestID string `json:"request_id"`
				OrderRef  string `json:"order_ref"`
			}
			require.NoError(t, json.Unmarshal(d.Body, &req))

			require.NoError(t, h.Handle(ctx, d))
			require.NoError(t, h.Handle(ctx, d), "a redelivery")

			got := f.answers(t, req.RequestID)
			require.Len(t, got, 2, "answered, and answered again on redelivery")
			for _, a := range got {
				require.Equal(t, f.up.ID+"/"+req.RequestID+"/answer", a.id)
				require.Equal(t, a.id, a.ev.ID)
				require.Equal(t, req.RequestID, a.correlation)
				require.Equal(t, payment.EventRefused, a.ev.Kind)
				require.Equal(t, tt.code, a.ev.Code, a.ev.Reason)
				require.Equal(t, req.RequestID, a.ev.RequestID)
				require.Equal(t, req.OrderRef, a.ev.OrderRef)
			}
			require.Equal(t, got[0].ev, got[1].ev, "the same answer")

			var outcome, code string
			require.NoError(t, testPool(t).QueryRow(ctx, `SELECT outcome, code FROM intake_requests
				WHERE upstream_id = $1 AND request_id = $2`, f.up.ID, req.RequestID).Scan(&outcome, &code))
			require.Equal(t, "refused", outcome)
			require.Equal(t, string(tt.code), code)
			require.Equal(t, 0, f.rejects(t, original(d).Key), "a request, not a message")
			require.Equal(t, 1, f.deadLetters(t, d), "dead-lettered once")

			// The same request id with other content: the first answer stands.
			fixed := f.request(100 + i)
			fixed.MessageId = ""
			require.NoError(t, h.Handle(ctx, fixed))
			got = f.answers(t, req.RequestID)
			require.Len(t, got, 3)
			require.Equal(t, payment.CodeIdempotencyConflict, got[2].ev.Code)
		})
	}

	t.Run("UnreadableStaysAMessage", func(t *testing.T) {
		for _, body := range []string{`{"schema_version":1,"request_id":`, `{"schema_version":2,"request_id":"x-1","amount":"-1"}`,
			`{"schema_version":1,"request_id":"not an id","amount":"-1"}`} {
			d := amqp.Delivery{UserId: f.up.AMQPUser, RoutingKey: "payment.request.v1", Body: []byte(body)}
			require.NoError(t, h.Handle(ctx, d))
			require.Equal(t, 1, f.rejects(t, original(d).Key), body)
		}
	})
}

// A request refused for a field rule is stored with the batch it came in.
func TestIntakeBatchNamesRefusedRequests(t *testing.T) {
	t.Parallel()
	f := newBatchFixture(t)
	h := NewIntake(f.store, intake.NewAuthenticator(f.store, nil), discard())
	var singles atomic.Int32
	bh := h.Batch(counting(h.Handle, &singles))

	neg := withField(t, f.request(2), "amount", `"-1"`)
	got := bh(t.Context(), []amqp.Delivery{f.request(1), neg, f.request(3)})
	require.Equal(t, []rabbitmq.Disposition{rabbitmq.Ack, rabbitmq.Ack, rabbitmq.Ack}, got)
	require.Zero(t, singles.Load(), "all three in the batch")
	require.Equal(t, 3, f.ledger(t))
	a := f.answers(t, "req-"+f.sfx+"-2")
	require.Len(t, a, 1)
	require.Equal(t, payment.CodeInvalidAmount, a[0].ev.Code)
	require.True(t, strings.HasPrefix(a[0].ev.Reason, "invalid_amount: amount:"), a[0].ev.Reason)
}

// TestIntakeCancelRefusalNamesTheRequest: a cancel whose body breaks a rule
// (no reason) but names its request is answered as that request's, so the
// upstream can correlate it; it stays a rejected message (dead-lettered
// once, answered once).
func TestIntakeCancelRefusalNamesTheRequest(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newBatchFixture(t)
	h := NewIntake(f.store, intake.NewAuthenticator(f.store, nil), discard())
	id := "req-" + f.sfx + "-7"
	d := amqp.Delivery{UserId: f.up.AMQPUser, RoutingKey: route.CancelKey,
		Body: []byte(`{"schema_version":1,"request_id":"` + id + `","reason":""}`)}
	require.NoError(t, h.Handle(ctx, d))
	require.NoError(t, h.Handle(ctx, d))
	got := f.answers(t, id)
	require.Len(t, got, 1, "answered once")
	require.Equal(t, id, got[0].correlation)
	require.Equal(t, id, got[0].ev.RequestID)
	require.Equal(t, payment.CodeInvalidField, got[0].ev.Code, got[0].ev.Reason)
	require.Equal(t, f.up.ID+"/message/"+original(d).Key, got[0].id)
	require.Equal(t, 1, f.rejects(t, original(d).Key))
}
