package server

import (
	"context"
	"errors"

	"github.com/b2bpay/b2bpay/ops"
	"github.com/b2bpay/b2bpay/payment"
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

// Depths reads the queues with passive declares.
func (q brokerQueues) Depths(ctx context.Context, names []string) ([]ops.QueueDepth, error) {
	if q.a.Conn == nil {
		return nil, errors.New("operations: not connected to RabbitMQ")
	}
	sts, err := q.a.Conn.Inspect(ctx, names...)
	if err != nil {
		return nil, err
	}
	out := make([]ops.QueueDepth, len(sts))
	for i, st := range sts {
		out[i] = ops.QueueDepth{Name: st.Name, Messages: st.Messages, Consumers: st.Consumers, Missing: st.Missing}
	}
	return out, nil
}
