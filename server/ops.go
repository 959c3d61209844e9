package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/b2bpay/b2bpay/ops"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
)

// Operations builds the read side of the console's operations pages over
// the store, the broker connection (queue depths; the Queues view fails
// while the app has none: OpenBroker) and the export's schedule and
// outbound directory.
func (a *App) Operations(ec ExportConfig) (*ops.Service, error) {
	if ec.schedule == nil {
		return nil, errors.New("operations: no cutoff schedule: load the export settings first (LoadExport)")
	}
	s := ops.New(a.Store, brokerQueues{a}, ec.schedule, nil)
	s.Outbound = ec.outbound
	return s, nil
}

// brokerQueues is ops.Queues over the app's broker connection.
type brokerQueues struct{ a *App }

// Names lists b2bpay's queues as route names them: the intake's and
// approval's, every registered upstream's status queue (of a valid id), every customer's
// task queues.
func (q brokerQueues) Names(ctx context.Context) ([]string, error) {
	var names []string
	for _, qu := range route.Static().Queues {
		names = append(names, qu.Name)
	}
	ups, err := q.a.Store.UpstreamIDs(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ups {
		if payment.ValidUpstreamID("upstream id", id) == nil { // Declare declares no other
			names = append(names, route.StatusQueue(id))
		}
	}
	customers, err := q.a.Store.CustomerIDs(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range customers {
		for _, st := range payment.Stages {
			names = append(names, route.TaskQueue(id, st))
		}
	}
	return names, nil
}

// Depth reads a queue with a passive declare.
func (q brokerQueues) Depth(ctx context.Context, name string) (int, int, error) {
	if q.a.Conn == nil {
		return 0, 0, errors.New("operations: not connected to RabbitMQ")
	}
	st, err := q.a.Conn.Inspect(ctx, name)
	if errors.Is(err, rabbitmq.ErrNoQueue) {
		return 0, 0, fmt.Errorf("%w: %s", ops.ErrNoQueue, name)
	}
	return st.Messages, st.Consumers, err
}
