package consumers

import (
	"crypto/rand"
	"testing"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/route"
)

func TestOriginalKey(t *testing.T) {
	t.Parallel()
	base := amqp.Delivery{
		MessageId: "msg-1",
		UserId:    "erp-user",
		Headers:   amqp.Table{route.HeaderUpstream: "erp"},
		Body:      []byte(`{"request_id":"req-1"}`),
	}
	key := original(base).Key
	require.Len(t, key, 64, "hex SHA-256")

	// A redelivery of the same message: same key, whatever the broker changed.
	redelivered := base
	redelivered.Redelivered = true
	redelivered.DeliveryTag = 42
	redelivered.Headers = amqp.Table{route.HeaderUpstream: "erp", "x-delivery-count": int64(3)}
	require.Equal(t, key, original(redelivered).Key)
	require.Equal(t, key, original(base).Key, "deterministic")

	differ := map[string]func(d *amqp.Delivery){
		"Body":            func(d *amqp.Delivery) { d.Body = []byte(`{"request_id":"req-2"}`) },
		"BodyAppended":    func(d *amqp.Delivery) { d.Body = append([]byte(`{"request_id":"req-1"}`), ' ') },
		"EmptyBody":       func(d *amqp.Delivery) { d.Body = nil },
		"MessageID":       func(d *amqp.Delivery) { d.MessageId = "msg-2" },
		"NoMessageID":     func(d *amqp.Delivery) { d.MessageId = "" },
		"UserID":          func(d *amqp.Delivery) { d.UserId = "mall-user" },
		"NoUserID":        func(d *amqp.Delivery) { d.UserId = "" },
		"IDsSwapped":      func(d *amqp.Delivery) { d.MessageId, d.UserId = d.UserId, d.MessageId },
		"IDSplitMoved":    func(d *amqp.Delivery) { d.MessageId, d.UserId = "msg-1erp", "-user" },
		"UserIDIntoBody":  func(d *amqp.Delivery) { d.UserId, d.Body = "", append([]byte("erp-user"), d.Body...) },
		"MessageIDIntoID": func(d *amqp.Delivery) { d.MessageId, d.UserId = "", "msg-1erp-user" },
	}
	seen := map[string]string{key: "base"}
	for name, change := range differ {
		d := base
		change(&d)
		k := original(d).Key
		require.NotContains(t, seen, k, "%s has the key of %s", name, seen[k])
		seen[k] = name
	}
}

func TestOriginal(t *testing.T) {
	t.Parallel()
	d := amqp.Delivery{
		MessageId: "msg-1",
		UserId:    "erp-user",
		Headers:   amqp.Table{route.HeaderUpstream: "erp", route.HeaderSignature: []byte("abc"), "x-count": int32(2)},
		Body:      []byte("{not json"),
	}
	o := original(d)
	require.Equal(t, "msg-1", o.MessageID)
	require.Equal(t, "erp-user", o.UserID)
	require.Equal(t, d.Body, o.Body)
	require.Equal(t, map[string]string{route.HeaderUpstream: "erp", route.HeaderSignature: "abc"}, o.Headers)
}

func TestStringHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   amqp.Table
		want map[string]string
	}{
		{"Nil", nil, map[string]string{}},
		{"Empty", amqp.Table{}, map[string]string{}},
		{
			name: "Mixed",
			in: amqp.Table{
				"s":       "text",
				"b":       []byte("bytes"),
				"empty":   "",
				"int":     int32(7),
				"int64":   int64(7),
				"bool":    true,
				"float":   1.5,
				"table":   amqp.Table{"nested": "x"},
				"list":    []any{"a"},
				"nil":     nil,
				"unclean": "a\x00b\xff",
			},
			want: map[string]string{"s": "text", "b": "bytes", "empty": "", "unclean": "a\x00b\xff"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, stringHeaders(tt.in))
		})
	}
}

func TestHeaderString(t *testing.T) {
	t.Parallel()
	h := amqp.Table{"s": "text", "b": []byte("bytes"), "n": int32(1)}
	require.Equal(t, "text", headerString(h, "s"))
	require.Equal(t, "bytes", headerString(h, "b"))
	require.Empty(t, headerString(h, "n"))
	require.Empty(t, headerString(h, "missing"))
	require.Empty(t, headerString(nil, "s"))
}

// TestIntakeUncleanMessageID: a message id is whatever the publisher set.
// One with a NUL and invalid UTF-8 must still end in the store (the answer
// and the ledger are jsonb, which refuses NUL), or the message would be
// retried until the broker dead-letters it, holding a worker all along.
func TestIntakeUncleanMessageID(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, err := postgres.New(testPool(t), postgres.Config{Seal: pgtest.Key, EventMessage: route.EventMessage, Logger: discard()})
	require.NoError(t, err)
	sfx := rand.Text()[:12]
	up := payment.Upstream{ID: "erp-" + sfx, Name: "ERP", AMQPUser: "erp-user-" + sfx, Active: true}
	require.NoError(t, store.UpstreamCreate(ctx, up, nil, 0))
	h := NewIntake(store, intake.NewAuthenticator(store, nil), discard())

	// Valid by the contract, refused by the store: the customer does not exist.
	request := []byte(`{"schema_version":1,"request_id":"req-` + sfx + `","order_ref":"PO-1","customer_id":"cust-1",
		"applicant":"appl-1","bank_id":"102100099996","debtor_account":"6222000011112222",
		"creditor":{"name":"上海华东机电设备有限公司","account":"31001520313050012345","bank_id":"105290036005"},
		"amount":"100.00","currency":"CNY","execution_date":"2099-01-05"}`)
	_, err = payment.Decode(request)
	require.NoError(t, err, "the request is valid")
	reqID := "req-" + sfx

	// Refused by the store: the answer, with the message id, is in the ledger.
	d := amqp.Delivery{MessageId: "m\x00sg\xff-1", UserId: up.AMQPUser, Body: request}
	require.NoError(t, h.Handle(ctx, d))
	require.NoError(t, h.Handle(ctx, d), "a redelivery is answered again")
	var code, answerMsgID string
	require.NoError(t, testPool(t).QueryRow(ctx, `SELECT code, answer->>'message_id' FROM intake_requests
		WHERE upstream_id = $1 AND request_id = $2`, up.ID, reqID).Scan(&code, &answerMsgID))
	require.Equal(t, string(payment.CodeUnknownCustomer), code)
	require.Equal(t, "msg\uFFFD-1", answerMsgID)

	// Rejected before it became a request: the answer is correlated by the
	// message id.
	d = amqp.Delivery{MessageId: "m\x00sg\xff-2", UserId: up.AMQPUser, Body: []byte("{not json")}
	require.NoError(t, h.Handle(ctx, d))
	require.NoError(t, h.Handle(ctx, d))
	rows, err := testPool(t).Query(ctx, `SELECT headers->>'x-b2bpay-correlation-id' FROM outbox
		WHERE exchange = $1 AND routing_key = $2 AND headers->>'x-b2bpay-correlation-id' <> $3 ORDER BY id`,
		route.EventsExchange, route.EventKey(up.ID, payment.EventRefused), reqID)
	require.NoError(t, err)
	corr, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"msg\uFFFD-2"}, corr, "answered once")
}
