package consumers

import (
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

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
