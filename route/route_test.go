package route_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
)

// queue returns the queue named name in t, failing the test when there is none.
func queue(t *testing.T, topo rabbitmq.Topology, name string) rabbitmq.Queue {
	t.Helper()
	for _, q := range topo.Queues {
		if q.Name == name {
			return q
		}
	}
	require.Failf(t, "queue not in topology", "queue %q", name)
	return rabbitmq.Queue{}
}

func TestTopology(t *testing.T) {
	t.Parallel()
	topo := route.Topology()
	require.NoError(t, topo.Validate())

	require.ElementsMatch(t, []rabbitmq.Exchange{
		{Name: "b2bpay.requests", Kind: "direct"},
		{Name: "b2bpay.events", Kind: "topic"},
		{Name: "b2bpay.dlx", Kind: "direct"},
	}, topo.Exchanges)

	intake := queue(t, topo, route.IntakeQueue)
	require.Equal(t, "b2bpay.intake", intake.Name)
	require.Equal(t, amqp.Table{
		"x-queue-type":              "quorum",
		"x-delivery-limit":          route.IntakeDeliveryLimit,
		"x-dead-letter-exchange":    "b2bpay.dlx",
		"x-dead-letter-routing-key": "intake",
		"x-dead-letter-strategy":    "at-least-once",
		"x-overflow":                "reject-publish",
	}, intake.Args)
	require.Positive(t, route.IntakeDeliveryLimit)

	dead := queue(t, topo, route.IntakeDeadQueue)
	require.Equal(t, "quorum", dead.Args["x-queue-type"])
	require.NotContains(t, dead.Args, "x-dead-letter-exchange", "the dead-letter queue keeps its messages")
	require.Len(t, topo.Queues, 2)

	require.ElementsMatch(t, []rabbitmq.Binding{
		{Queue: "b2bpay.intake", Exchange: "b2bpay.requests", Key: "payment.request.v1"},
		{Queue: "b2bpay.intake", Exchange: "b2bpay.requests", Key: "payment.cancel.v1"},
		{Queue: "b2bpay.intake.dead", Exchange: "b2bpay.dlx", Key: "intake"},
	}, topo.Bindings)
}

func TestUpstreamTopology(t *testing.T) {
	t.Parallel()
	topo := route.UpstreamTopology("erp-1")
	require.NoError(t, topo.Validate())
	require.Equal(t, "b2bpay.status.erp-1", route.StatusQueue("erp-1"))
	require.Equal(t, []rabbitmq.Queue{{Name: "b2bpay.status.erp-1", Args: amqp.Table{"x-queue-type": "quorum"}}}, topo.Queues)
	require.Equal(t, []rabbitmq.Binding{{Queue: "b2bpay.status.erp-1", Exchange: route.EventsExchange, Key: "payment.erp-1.*"}}, topo.Bindings)
	require.Equal(t, []rabbitmq.Binding{{Queue: "b2bpay.status.erp-1", Exchange: route.EventsExchange, Key: "payment.erp-1.#"}}, topo.Unbind)
	// Every event key of the upstream matches its binding; another upstream's does not.
	require.True(t, strings.HasPrefix(route.EventKey("erp-1", payment.EventAccepted), "payment.erp-1."))
	require.False(t, strings.HasPrefix(route.EventKey("erp-10", payment.EventAccepted), "payment.erp-1."))
}

// TestSecurityUpstreamPermissions: the permissions given to an upstream's
// broker user are anchored, so erp's do not cover erp-sh's queue (nor
// erp.sh's, had such an id been registered before ids were restricted).
func TestSecurityUpstreamPermissions(t *testing.T) {
	t.Parallel()
	p := route.UpstreamPermissions("erp")
	require.Equal(t, route.Permissions{Configure: "^$", Write: `^b2bpay\.requests$`, Read: `^b2bpay\.status\.erp$`}, p)
	read, write, configure := regexp.MustCompile(p.Read), regexp.MustCompile(p.Write), regexp.MustCompile(p.Configure)
	require.True(t, read.MatchString(route.StatusQueue("erp")))
	for _, q := range []string{"b2bpay.status.erp.sh", "b2bpay.status.erp-sh", "b2bpay.status.erpx", "xb2bpay.status.erp",
		"b2bpayxstatusxerp", route.EventsExchange, route.IntakeQueue, "amq.gen-abc"} {
		require.False(t, read.MatchString(q), q)
	}
	require.True(t, write.MatchString(route.RequestsExchange))
	for _, x := range []string{route.EventsExchange, route.StatusQueue("erp"), "b2bpay.requests.x", "amq.gen-abc", ""} {
		require.False(t, write.MatchString(x), x)
	}
	for _, x := range []string{route.StatusQueue("erp"), "amq.gen-abc", "b2bpay.requests"} {
		require.False(t, configure.MatchString(x), x)
	}
}

func TestDefinitions(t *testing.T) {
	t.Parallel()
	doc, err := route.Topology().Definitions("/")
	require.NoError(t, err)
	require.True(t, json.Valid(doc), "definitions are JSON")

	var defs struct {
		Exchanges []struct{ Name, Vhost, Type string } `json:"exchanges"`
		Queues    []struct {
			Name, Vhost string
			Durable     bool
			Arguments   map[string]any
		} `json:"queues"`
		Bindings []struct {
			Source, Vhost, Destination string
			DestinationType            string `json:"destination_type"`
			RoutingKey                 string `json:"routing_key"`
		} `json:"bindings"`
	}
	require.NoError(t, json.Unmarshal(doc, &defs))
	require.Len(t, defs.Exchanges, 3)
	require.Len(t, defs.Queues, 2)
	require.Len(t, defs.Bindings, 3)
	for _, q := range defs.Queues {
		require.Equal(t, "/", q.Vhost)
		require.True(t, q.Durable)
		if q.Name == route.IntakeQueue {
			require.EqualValues(t, route.IntakeDeliveryLimit, q.Arguments["x-delivery-limit"])
			require.Equal(t, "b2bpay.dlx", q.Arguments["x-dead-letter-exchange"])
			require.Equal(t, "at-least-once", q.Arguments["x-dead-letter-strategy"])
			require.Equal(t, "reject-publish", q.Arguments["x-overflow"])
		}
	}
	for _, b := range defs.Bindings {
		require.Equal(t, "queue", b.DestinationType)
	}
}

// TestDeployedDefinitions keeps deploy/rabbitmq-definitions.json equal to
// the code: regenerate it with `b2bpay topology --definitions` after a
// change to the topology.
func TestDeployedDefinitions(t *testing.T) {
	t.Parallel()
	deployed, err := os.ReadFile("../deploy/rabbitmq-definitions.json")
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("deploy/rabbitmq-definitions.json does not exist yet")
	}
	require.NoError(t, err)
	want, err := route.Static().Definitions("/")
	require.NoError(t, err)
	// `b2bpay topology --definitions` ends the document with a blank line:
	// only the document itself is compared.
	require.Equal(t, strings.TrimRight(string(want), "\n"), strings.TrimRight(string(deployed), "\n"),
		"deploy/rabbitmq-definitions.json differs from route.Static(); regenerate it with `b2bpay topology --definitions`")
}

func TestEventMessage(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		ev       payment.Event
		wantKey  string
		wantCorr string
	}{
		{
			name: "Accepted",
			ev: payment.Event{Schema: payment.EventSchema, ID: "erp-1/req-1/answer", Kind: payment.EventAccepted,
				UpstreamID: "erp-1", RequestID: "req-1", MessageID: "msg-1", PaymentID: "5f0c6a9e-4c1b-4d43-9d5e-1f7b2a3c4d5e",
				OrderRef: "PO-1", State: payment.StateAwaitingConfirmation, At: at},
			wantKey:  "payment.erp-1.accepted",
			wantCorr: "req-1",
		},
		{
			name: "RefusedWithoutRequestID",
			ev: payment.Event{Schema: payment.EventSchema, ID: "erp-1/message/abc", Kind: payment.EventRefused,
				UpstreamID: "erp-1", MessageID: "msg-2", Code: payment.CodeMalformed, Reason: "body is not JSON", At: at},
			wantKey:  "payment.erp-1.refused",
			wantCorr: "msg-2",
		},
		{
			name: "StateChanged",
			ev: payment.Event{Schema: payment.EventSchema, ID: "erp-2/req-9/state/3", Kind: payment.EventStateChanged,
				UpstreamID: "erp-2", RequestID: "req-9", State: payment.StateAuthorized, At: at},
			wantKey:  "payment.erp-2.state_changed",
			wantCorr: "req-9",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := route.EventMessage(tt.ev)
			require.NoError(t, err)
			require.Equal(t, tt.ev.ID, m.MessageID)
			require.Equal(t, route.EventsExchange, m.Exchange)
			require.Equal(t, tt.wantKey, m.RoutingKey)
			require.Equal(t, route.EventKey(tt.ev.UpstreamID, tt.ev.Kind), m.RoutingKey)
			require.Equal(t, "application/json", m.ContentType)
			require.Equal(t, map[string]string{"x-b2bpay-correlation-id": tt.wantCorr}, m.Headers)
			var back payment.Event
			require.NoError(t, json.Unmarshal(m.Body, &back))
			require.Equal(t, tt.ev, back)
		})
	}
}

// TestEventMessageCleanHeaders: the message id of a refused message is
// whatever its publisher set; the correlation header that carries it must
// still be text the outbox (jsonb) and AMQP take.
func TestEventMessageCleanHeaders(t *testing.T) {
	t.Parallel()
	ev := payment.Event{Schema: payment.EventSchema, ID: "erp-1/message/abc", Kind: payment.EventRefused,
		UpstreamID: "erp-1", MessageID: "m\x00sg\xff-3", Code: payment.CodeMalformed, Reason: "bad"}
	m, err := route.EventMessage(ev)
	require.NoError(t, err)
	corr := m.Headers["x-b2bpay-correlation-id"]
	require.Equal(t, "msg\uFFFD-3", corr)
	var back payment.Event
	require.NoError(t, json.Unmarshal(m.Body, &back))
	require.Equal(t, "m\x00sg\uFFFD-3", back.MessageID, "the body keeps the id as JSON can carry it")
}

func TestDeadLetter(t *testing.T) {
	t.Parallel()
	orig := route.Original{
		Key:       "0123abcd",
		MessageID: "msg-\x00-1\xff",
		UserID:    "erp-user",
		Headers: map[string]string{
			route.HeaderUpstream:       "erp-1",
			route.HeaderSignature:      "deadbeef",
			"x-custom":                 "a\x00b\xffc",
			"x-k\x00ey":                "v",
			route.HeaderReasonCode:     "spoofed",
			route.HeaderOriginalUserID: "spoofed",
		},
		Body: []byte("{not json\x00\xff"),
	}
	m := route.DeadLetter(orig, payment.CodeMalformed, "body is not a JSON object")
	require.Equal(t, "dead/0123abcd", m.MessageID)
	require.Equal(t, route.DeadLetterExchange, m.Exchange)
	require.Equal(t, route.IntakeDeadKey, m.RoutingKey)
	require.Equal(t, "application/octet-stream", m.ContentType)
	require.Equal(t, orig.Body, m.Body, "the body is kept byte for byte")
	require.Equal(t, map[string]string{
		route.HeaderUpstream:          "erp-1",
		route.HeaderSignature:         "deadbeef",
		"x-custom":                    "ab\uFFFDc",
		"x-key":                       "v",
		route.HeaderReasonCode:        "malformed_message",
		route.HeaderReason:            "body is not a JSON object",
		route.HeaderOriginalMessageID: "msg--1\uFFFD",
		route.HeaderOriginalUserID:    "erp-user",
	}, m.Headers)
	for k, v := range m.Headers {
		requireText(t, k)
		requireText(t, v)
	}
	// The original's headers are not changed.
	require.Equal(t, "a\x00b\xffc", orig.Headers["x-custom"])
}

func TestDeadLetterClipsReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		reason string
	}{
		// 3-byte runes: 512 is not a multiple of 3, so a plain cut would split one.
		{"Chinese", strings.Repeat("付款申请被拒绝：账户不存在。", 40)},
		{"ChineseOffByOne", "x" + strings.Repeat("账", 300)},
		{"ChineseOffByTwo", "xy" + strings.Repeat("账", 300)},
		// Invalid bytes become U+FFFD (3 bytes each): still no more than 512.
		{"InvalidBytes", strings.Repeat("a\xff", 300)},
		{"ShortInvalidBytes", strings.Repeat("a\xff", 200)},
		{"NUL", strings.Repeat("\x00账", 200)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := route.DeadLetter(route.Original{Key: "k"}, payment.CodeInvalidField, tt.reason)
			got := m.Headers[route.HeaderReason]
			requireText(t, got)
			require.LessOrEqual(t, len(got), 512)
			require.GreaterOrEqual(t, len(got), 500, "clipped, not emptied")
			require.True(t, strings.HasPrefix(payment.Text(tt.reason), got), "a prefix of the cleaned reason")
		})
	}

	short := route.DeadLetter(route.Original{Key: "k"}, payment.CodeInvalidField, "账户不存在")
	require.Equal(t, "账户不存在", short.Headers[route.HeaderReason])
	exact := strings.Repeat("a", 512)
	require.Equal(t, exact, route.DeadLetter(route.Original{Key: "k"}, payment.CodeInvalidField, exact).Headers[route.HeaderReason])
}

// requireText checks s is valid UTF-8 without NUL.
func requireText(t *testing.T, s string) {
	t.Helper()
	require.True(t, utf8.ValidString(s), "invalid UTF-8 in %q", s)
	require.NotContains(t, s, "\x00")
}
