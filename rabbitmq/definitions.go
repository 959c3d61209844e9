package rabbitmq

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	amqp "github.com/rabbitmq/amqp091-go"
)

// definitions is the subset of a RabbitMQ definitions document that a Topology fills.
type definitions struct {
	Exchanges []defExchange `json:"exchanges"`
	Queues    []defQueue    `json:"queues"`
	Bindings  []defBinding  `json:"bindings"`
}

type defExchange struct {
	Name       string         `json:"name"`
	Vhost      string         `json:"vhost"`
	Type       string         `json:"type"`
	Durable    bool           `json:"durable"`
	AutoDelete bool           `json:"auto_delete"`
	Internal   bool           `json:"internal"`
	Arguments  map[string]any `json:"arguments"`
}

type defQueue struct {
	Name       string         `json:"name"`
	Vhost      string         `json:"vhost"`
	Durable    bool           `json:"durable"`
	AutoDelete bool           `json:"auto_delete"`
	Arguments  map[string]any `json:"arguments"`
}

type defBinding struct {
	Source          string         `json:"source"`
	Vhost           string         `json:"vhost"`
	Destination     string         `json:"destination"`
	DestinationType string         `json:"destination_type"`
	RoutingKey      string         `json:"routing_key"`
	Arguments       map[string]any `json:"arguments"`
}

// Definitions renders the topology as a RabbitMQ definitions JSON document for vhost, with
// "exchanges", "queues" and "bindings" arrays as `rabbitmqctl import_definitions` and the
// management API accept. The output is indented and deterministic: entries are sorted by name
// (bindings by source, destination and key) and argument keys are sorted.
func (t Topology) Definitions(vhost string) ([]byte, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("rabbitmq: definitions: %w", err)
	}
	d := definitions{
		Exchanges: []defExchange{},
		Queues:    []defQueue{},
		Bindings:  []defBinding{},
	}
	for _, e := range t.Exchanges {
		args, err := jsonArgs(e.Args)
		if err != nil {
			return nil, fmt.Errorf("rabbitmq: definitions: exchange %q: %w", e.Name, err)
		}
		d.Exchanges = append(d.Exchanges, defExchange{Name: e.Name, Vhost: vhost, Type: e.Kind,
			Durable: true, Arguments: args})
	}
	for _, q := range t.Queues {
		args, err := jsonArgs(q.Args)
		if err != nil {
			return nil, fmt.Errorf("rabbitmq: definitions: queue %q: %w", q.Name, err)
		}
		d.Queues = append(d.Queues, defQueue{Name: q.Name, Vhost: vhost, Durable: true, Arguments: args})
	}
	for _, b := range t.Bindings {
		d.Bindings = append(d.Bindings, defBinding{Source: b.Exchange, Vhost: vhost, Destination: b.Queue,
			DestinationType: "queue", RoutingKey: b.Key, Arguments: map[string]any{}})
	}
	slices.SortStableFunc(d.Exchanges, func(a, b defExchange) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortStableFunc(d.Queues, func(a, b defQueue) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortStableFunc(d.Bindings, func(a, b defBinding) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Destination, b.Destination),
			cmp.Compare(a.RoutingKey, b.RoutingKey))
	})
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: definitions: %w", err)
	}
	return append(out, '\n'), nil
}

// jsonArgs converts AMQP arguments to JSON values, refusing the types JSON cannot carry faithfully.
func jsonArgs(t amqp.Table) (map[string]any, error) {
	out := make(map[string]any, len(t))
	for k, v := range t {
		jv, err := jsonValue(v)
		if err != nil {
			return nil, fmt.Errorf("argument %q: %w", k, err)
		}
		out[k] = jv
	}
	return out, nil
}

// jsonValue converts one AMQP field value to a JSON value.
func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case nil, bool, string, int, int8, int16, int32, int64, uint8, uint16, uint32, float32, float64:
		return v, nil
	case amqp.Table:
		return jsonArgs(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			jv, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = jv
		}
		return out, nil
	default:
		return nil, fmt.Errorf("value of type %T has no JSON form", v)
	}
}
