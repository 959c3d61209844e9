package rabbitmq_test

import (
	"encoding/json"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/rabbitmq/rabbitmqtest"
	"github.com/b2bpay/b2bpay/testkit"
)

func TestQuorumQueueArgs(t *testing.T) {
	t.Parallel()
	q := rabbitmq.QuorumQueue("payments", 3, "payments.dlx", "")
	require.Equal(t, amqp.Table{
		"x-queue-type":           "quorum",
		"x-delivery-limit":       3,
		"x-dead-letter-exchange": "payments.dlx",
		"x-dead-letter-strategy": "at-least-once",
		"x-overflow":             "reject-publish",
	}, q.Args)
	q = rabbitmq.QuorumQueue("payments", 3, "payments.dlx", "dead")
	require.Equal(t, "dead", q.Args["x-dead-letter-routing-key"])
}

func TestDeclareIsIdempotent(t *testing.T) {
	t.Parallel()
	c := dial(t, testkit.AMQP(t))
	f := setup(t, c, 4)
	require.NoError(t, f.topology.Declare(t.Context(), c), "second declare")

	changed := f.topology
	changed.Queues = []rabbitmq.Queue{rabbitmq.QuorumQueue(f.queue, 9, f.dlx, "dead")}
	require.Error(t, changed.Declare(t.Context(), c), "a queue cannot change its arguments")
	require.NoError(t, f.topology.Declare(t.Context(), c), "the connection survives a failed declare")

	require.Error(t, rabbitmq.Topology{Exchanges: []rabbitmq.Exchange{{Name: "no-kind"}}}.Declare(t.Context(), c))
}

func TestDefinitions(t *testing.T) {
	t.Parallel()
	c := dial(t, testkit.AMQP(t))
	vhost, err := rabbitmqtest.VhostOf(testkit.AMQP(t))
	require.NoError(t, err)
	f := &fixture{
		ex:    rabbitmqtest.QueueName(t, "ex"),
		queue: rabbitmqtest.QueueName(t, "q"),
		dlx:   rabbitmqtest.QueueName(t, "dlx"),
		dlq:   rabbitmqtest.QueueName(t, "dlq"),
	}
	topo := rabbitmq.Topology{
		Exchanges: []rabbitmq.Exchange{{Name: f.ex, Kind: "topic"}, {Name: f.dlx, Kind: "direct"}},
		Queues: []rabbitmq.Queue{
			rabbitmq.QuorumQueue(f.queue, 3, f.dlx, "dead"),
			{Name: f.dlq, Args: amqp.Table{"x-queue-type": "quorum"}},
		},
		Bindings: []rabbitmq.Binding{
			{Queue: f.queue, Exchange: f.ex, Key: "payment.#"},
			{Queue: f.dlq, Exchange: f.dlx, Key: "dead"},
		},
	}
	doc, err := topo.Definitions(vhost)
	require.NoError(t, err)
	again, err := topo.Definitions(vhost)
	require.NoError(t, err)
	require.Equal(t, string(doc), string(again), "deterministic")

	var parsed struct {
		Exchanges []map[string]any `json:"exchanges"`
		Queues    []struct {
			Name      string         `json:"name"`
			Vhost     string         `json:"vhost"`
			Durable   bool           `json:"durable"`
			Arguments map[string]any `json:"arguments"`
		} `json:"queues"`
		Bindings []map[string]any `json:"bindings"`
	}
	require.NoError(t, json.Unmarshal(doc, &parsed))
	require.Len(t, parsed.Exchanges, 2)
	require.Len(t, parsed.Bindings, 2)
	require.Len(t, parsed.Queues, 2)
	byName := map[string]map[string]any{}
	for _, q := range parsed.Queues {
		require.Equal(t, vhost, q.Vhost)
		require.True(t, q.Durable)
		byName[q.Name] = q.Arguments
	}
	require.Equal(t, map[string]any{
		"x-queue-type":              "quorum",
		"x-delivery-limit":          float64(3),
		"x-dead-letter-exchange":    f.dlx,
		"x-dead-letter-routing-key": "dead",
		"x-dead-letter-strategy":    "at-least-once",
		"x-overflow":                "reject-publish",
	}, byName[f.queue])

	// The broker accepts the document, and what it creates is what Declare declares.
	require.NoError(t, rabbitmqtest.ImportDefinitions(doc))
	require.Zero(t, depth(t, c, f.queue), "the import created the queue")
	require.NoError(t, topo.Declare(t.Context(), c), "same arguments as imported")
	changed := topo
	changed.Queues = []rabbitmq.Queue{rabbitmq.QuorumQueue(f.queue, 4, f.dlx, "dead")}
	require.Error(t, changed.Declare(t.Context(), c), "the imported queue has the declared arguments")

	_, err = rabbitmq.Topology{Queues: []rabbitmq.Queue{{Name: "bad", Args: amqp.Table{"x": []byte("b")}}}}.Definitions(vhost)
	require.Error(t, err)
}
