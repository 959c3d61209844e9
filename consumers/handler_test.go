package consumers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/testlog"
)

func TestDispositionOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want rabbitmq.Disposition
	}{
		{"Nil", nil, rabbitmq.Ack},
		{"Poison", ErrPoison, rabbitmq.Reject},
		{"WrappedPoison", fmt.Errorf("decode message m-1: %w", ErrPoison), rabbitmq.Reject},
		{"JoinedPoison", errors.Join(errors.New("first"), ErrPoison), rabbitmq.Reject},
		{"Transient", errors.New("connection reset by peer"), rabbitmq.Requeue},
		{"Canceled", context.Canceled, rabbitmq.Requeue},
		{"WrappedCanceled", fmt.Errorf("submit: %w", context.Canceled), rabbitmq.Requeue},
		{"DeadlineExceeded", context.DeadlineExceeded, rabbitmq.Requeue},
		// A refusal reaching DispositionOf was not recorded: retry, never drop it.
		{"Refusal", payment.Errorf(payment.CodeMalformed, "bad"), rabbitmq.Requeue},
		{"PoisonLookalike", errors.New(ErrPoison.Error()), rabbitmq.Requeue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, DispositionOf(tt.err))
		})
	}
}

// recorder records the order in which handlers and middleware run.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recorder) middleware(name string) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, d amqp.Delivery) error {
			r.add(name + " before")
			err := next(ctx, d)
			r.add(name + " after")
			return err
		}
	}
}

func TestChain(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	want := errors.New("handled")
	h := Chain(func(context.Context, amqp.Delivery) error {
		rec.add("handler")
		return want
	}, rec.middleware("first"), rec.middleware("second"), rec.middleware("third"))
	require.ErrorIs(t, h(t.Context(), amqp.Delivery{}), want)
	require.Equal(t, []string{
		"first before", "second before", "third before",
		"handler",
		"third after", "second after", "first after",
	}, rec.calls)

	// No middleware: the handler itself.
	rec2 := &recorder{}
	bare := Chain(func(context.Context, amqp.Delivery) error { rec2.add("handler"); return nil })
	require.NoError(t, bare(t.Context(), amqp.Delivery{}))
	require.Equal(t, []string{"handler"}, rec2.calls)
}

func TestBatch(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	results := map[string]error{
		"ok":        nil,
		"poison":    fmt.Errorf("wrapped: %w", ErrPoison),
		"transient": errors.New("database restarting"),
	}
	single := func(_ context.Context, d amqp.Delivery) error {
		rec.add(d.MessageId)
		return results[string(d.Body)]
	}
	// Nothing reads for a batch: every delivery goes through single.
	bh := func(ctx context.Context, ds []amqp.Delivery) []rabbitmq.Disposition {
		return inOrder(ctx, discard(), ds, single, func(amqp.Delivery) (string, bool) { return "", false },
			func([]string) ([]int, error) { panic("nothing was read") })
	}
	kinds := []string{"transient", "ok", "poison", "ok", "transient", "poison", "ok"}
	ds := make([]amqp.Delivery, len(kinds))
	for i, k := range kinds {
		ds[i] = amqp.Delivery{MessageId: fmt.Sprintf("m-%d", i), Body: []byte(k)}
	}
	got := bh(t.Context(), ds)
	require.Equal(t, []rabbitmq.Disposition{
		rabbitmq.Requeue, rabbitmq.Ack, rabbitmq.Reject, rabbitmq.Ack, rabbitmq.Requeue, rabbitmq.Reject, rabbitmq.Ack,
	}, got)
	require.Equal(t, []string{"m-0", "m-1", "m-2", "m-3", "m-4", "m-5", "m-6"}, rec.calls, "handled in order")

	require.Empty(t, bh(t.Context(), nil))
}

// Runs of deliveries that read go to many together; what many leaves, a
// failed or panicking run, and what does not read go through single, in
// the order the deliveries came.
func TestInOrderRuns(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	single := func(_ context.Context, d amqp.Delivery) error { rec.add("single " + d.MessageId); return nil }
	var runs [][]string
	many := func(ids []string) ([]int, error) {
		runs = append(runs, append([]string(nil), ids...))
		rec.add("many")
		switch ids[0] {
		case "m-0":
			return []int{1}, nil // m-1 is left
		case "m-3":
			return nil, errors.New("connection lost")
		default:
			panic("store bug")
		}
	}
	read := func(d amqp.Delivery) (string, bool) { return d.MessageId, string(d.Body) == "batch" }
	kinds := []string{"batch", "batch", "alone", "batch", "batch", "alone", "batch"}
	ds := make([]amqp.Delivery, len(kinds))
	for i, k := range kinds {
		ds[i] = amqp.Delivery{MessageId: fmt.Sprintf("m-%d", i), Body: []byte(k)}
	}
	got := inOrder(t.Context(), discard(), ds, single, read, many)
	for i, d := range got {
		require.Equal(t, rabbitmq.Ack, d, "delivery %d", i)
	}
	require.Equal(t, [][]string{{"m-0", "m-1"}, {"m-3", "m-4"}, {"m-6"}}, runs)
	require.Equal(t, []string{"many", "single m-1", "single m-2", "many", "single m-3", "single m-4", "single m-5", "many", "single m-6"},
		rec.calls, "leftovers right after their run, everything in order")
}

// logBuffer collects JSON log records; it is safe for concurrent use.
type logBuffer struct{ testlog.Buffer }

// records returns the logged records, decoded.
func (b *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range bytes.Lines(b.Bytes()) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(line, &rec), "log line %s", line)
		out = append(out, rec)
	}
	return out
}

// newLogger returns a logger at Debug that writes JSON to the returned buffer.
func newLogger() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestLog(t *testing.T) {
	t.Parallel()
	log, buf := newLogger()
	fail := errors.New("database restarting")
	h := Log(log, "b2bpay.intake")(func(_ context.Context, d amqp.Delivery) error {
		if d.MessageId == "bad" {
			return fail
		}
		return nil
	})
	secretBody := []byte(`{"creditor":{"account":"31001520313050012345"}}`)
	require.NoError(t, h(t.Context(), amqp.Delivery{MessageId: "good", CorrelationId: "req-1", Body: secretBody}))
	require.ErrorIs(t, h(t.Context(), amqp.Delivery{MessageId: "bad", CorrelationId: "req-2", Redelivered: true, Body: secretBody}), fail)

	recs := buf.records(t)
	require.Len(t, recs, 2)
	require.Equal(t, "DEBUG", recs[0]["level"])
	require.Equal(t, "good", recs[0]["message_id"])
	require.Equal(t, "req-1", recs[0]["correlation_id"])
	require.Equal(t, "ack", recs[0]["decision"])
	require.Equal(t, "b2bpay.intake", recs[0]["queue"])
	require.Equal(t, "WARN", recs[1]["level"])
	require.Equal(t, "bad", recs[1]["message_id"])
	require.Equal(t, "requeue", recs[1]["decision"])
	require.Equal(t, true, recs[1]["redelivered"])
	require.Equal(t, fail.Error(), recs[1]["error"])
	require.NotContains(t, buf.String(), "31001520313050012345", "bodies are never logged")
}
