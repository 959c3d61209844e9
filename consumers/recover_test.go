package consumers

import (
	"context"
	"errors"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/rabbitmq"
)

func TestRecover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"String", "boom", "boom"},
		{"Error", errors.New("nil map write"), "nil map write"},
		{"Nil", nil, "nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, buf := newLogger()
			h := Recover(log)(func(context.Context, amqp.Delivery) error { panic(tt.value) })
			var err error
			require.NotPanics(t, func() { err = h(t.Context(), amqp.Delivery{MessageId: "m-1", Body: []byte("secret body")}) })
			require.Error(t, err)
			require.Contains(t, err.Error(), "panicked")
			require.Contains(t, err.Error(), tt.want)
			require.Equal(t, rabbitmq.Requeue, DispositionOf(err), "a panic is retried, never acked or dropped")

			recs := buf.records(t)
			require.Len(t, recs, 1)
			require.Equal(t, "ERROR", recs[0]["level"])
			require.Equal(t, "handler panicked", recs[0]["msg"])
			require.Equal(t, "m-1", recs[0]["message_id"])
			require.Contains(t, recs[0]["panic"], tt.want)
			stack, _ := recs[0]["stack"].(string)
			require.True(t, strings.Contains(stack, "recover_test.go"), "the stack names the panicking code")
			require.NotContains(t, buf.String(), "secret body")
		})
	}
}

func TestRecoverPassesResultsThrough(t *testing.T) {
	t.Parallel()
	log, buf := newLogger()
	for _, want := range []error{nil, ErrPoison, errors.New("transient")} {
		h := Recover(log)(func(context.Context, amqp.Delivery) error { return want })
		require.Equal(t, want, h(t.Context(), amqp.Delivery{}))
	}
	require.Empty(t, buf.records(t))
}

// TestRecoverInChain: a panic inside Retry's loop is retried like any
// failure, and the worker survives.
func TestRecoverInChain(t *testing.T) {
	t.Parallel()
	calls := 0
	h := Chain(func(context.Context, amqp.Delivery) error {
		calls++
		if calls < 3 {
			panic("flaky")
		}
		return nil
	}, Retry(fast, discard()), Recover(discard()))
	require.NoError(t, h(t.Context(), amqp.Delivery{}))
	require.Equal(t, 3, calls)
}
