package console

import (
	"context"

	"github.com/b2bpay/b2bpay/ops"
)

// Operations is the operations area's read side; *ops.Service implements
// it.
type Operations interface {
	Cutoffs(ctx context.Context) (ops.CutoffsView, error)
	Batches(ctx context.Context, n int) ([]ops.BatchView, error)
	BatchFile(ctx context.Context, id string) (name string, body, manifest []byte, err error)
	Reports(ctx context.Context, n int) ([]ops.ReportView, error)
	DeadLetters(ctx context.Context, n int) ([]ops.DeadLetterView, error)
	Queues(ctx context.Context) ([]ops.QueueDepth, error)
	Outbox(ctx context.Context) (ops.OutboxView, error)
}

var _ Operations = (*ops.Service)(nil)

// routesOps serves the operations area (to be built).
func (c *Console) routesOps() {}
