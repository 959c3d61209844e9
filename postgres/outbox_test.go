package postgres_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/route"
)

// rejection is a rejected message of the bundle's upstream.
func (b *bundle) rejection(withAnswer bool) postgres.Rejection {
	key := b.upstream.ID + "/msg-" + randomHex(6)
	r := postgres.Rejection{
		Key:        key,
		UpstreamID: b.upstream.ID,
		Code:       payment.CodeMalformed,
		Reason:     "body is not a JSON object",
		DeadLetter: route.DeadLetter(route.Original{Key: key, MessageID: key, UserID: b.upstream.AMQPUser, Body: []byte("{not json")},
			payment.CodeMalformed, "body is not a JSON object"),
	}
	if withAnswer {
		ev := payment.Event{Schema: payment.EventSchema, ID: key + "/answer", Kind: payment.EventRefused,
			UpstreamID: b.upstream.ID, MessageID: key, Code: r.Code, Reason: r.Reason, At: b.clock.Now()}
		r.Answer = &ev
	}
	return r
}

func TestIntakeReject(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	rej := b.rejection(true)
	first, err := b.store.IntakeReject(ctx, rej)
	require.NoError(t, err)
	require.True(t, first)
	rows := b.outboxRows(t)
	require.Len(t, rows, 2)
	require.Equal(t, rej.DeadLetter.MessageID, rows[0].MessageID)
	require.Equal(t, "b2bpay.dlx", rows[0].Exchange)
	require.Equal(t, rej.DeadLetter.Body, rows[0].Body)
	require.Equal(t, rej.DeadLetter.Headers, rows[0].Headers)
	require.Equal(t, rej.Answer.ID, rows[1].MessageID)
	require.Equal(t, "payment."+b.upstream.ID+".refused", rows[1].RoutingKey)

	var code, reason string
	var upstreamID *string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT upstream_id, code, reason FROM intake_rejects WHERE message_key = $1`, rej.Key).
		Scan(&upstreamID, &code, &reason))
	require.Equal(t, b.upstream.ID, *upstreamID)
	require.Equal(t, string(payment.CodeMalformed), code)
	require.Equal(t, rej.Reason, reason)

	// A redelivery of the same message changes nothing.
	b.clock.Advance(time.Minute)
	again, err := b.store.IntakeReject(ctx, rej)
	require.NoError(t, err)
	require.False(t, again)
	require.Len(t, b.outboxRows(t), 2)

	// From an unknown sender, without an answer: only the dead-letter copy.
	anon := b.rejection(false)
	anon.UpstreamID = ""
	anon.Code = payment.CodeUnauthenticated
	first, err = b.store.IntakeReject(ctx, anon)
	require.NoError(t, err)
	require.True(t, first)
	rows = b.outboxRows(t)
	require.Len(t, rows, 3)
	require.Equal(t, anon.DeadLetter.MessageID, rows[2].MessageID)
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT upstream_id FROM intake_rejects WHERE message_key = $1`, anon.Key).Scan(&upstreamID))
	require.Nil(t, upstreamID)
	first, err = b.store.IntakeReject(ctx, anon)
	require.NoError(t, err)
	require.False(t, first)
	require.Len(t, b.outboxRows(t), 3)
}

func ids(msgs []outbox.Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

// TestOutbox is not parallel: OutboxClaim takes due messages of every test.
// Its clock is set years before the other tests' clocks, so the messages
// they write are never due for it, and it runs before the parallel tests
// start, so OutboxStats only changes by what it does.
func TestOutbox(t *testing.T) {
	b := setupAt(t, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx := t.Context()
	pending0, _, stuck0, err := b.store.OutboxStats(ctx)
	require.NoError(t, err)

	// Nothing of this era is due yet.
	msgs, err := b.store.OutboxClaim(ctx, 100)
	require.NoError(t, err)
	require.Empty(t, msgs)

	var rejs []postgres.Rejection
	for range 3 {
		r := b.rejection(false)
		_, err := b.store.IntakeReject(ctx, r)
		require.NoError(t, err)
		rejs = append(rejs, r)
		b.clock.Advance(time.Second)
	}
	pending, oldest, _, err := b.store.OutboxStats(ctx)
	require.NoError(t, err)
	require.Equal(t, pending0+3, pending)
	require.GreaterOrEqual(t, oldest, 3*time.Second)

	// Claimed in id order with their content, then leased.
	msgs, err = b.store.OutboxClaim(ctx, 100)
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	require.True(t, slices.IsSorted(ids(msgs)))
	for i, m := range msgs {
		require.Equal(t, rejs[i].DeadLetter.MessageID, m.MessageID)
		require.Equal(t, "b2bpay.dlx", m.Exchange)
		require.Equal(t, route.IntakeDeadKey, m.RoutingKey)
		require.Equal(t, "application/octet-stream", m.ContentType)
		require.Equal(t, rejs[i].DeadLetter.Headers, m.Headers)
		require.Equal(t, rejs[i].DeadLetter.Body, m.Body)
		require.Zero(t, m.Attempts)
	}
	again, err := b.store.OutboxClaim(ctx, 100)
	require.NoError(t, err)
	require.Empty(t, again, "claimed messages are leased")

	// First sent, second failed, third never marked (its relay died).
	require.NoError(t, b.store.OutboxMark(ctx, msgs[:2], []error{nil, errors.New("broker unreachable")}))
	rows := b.outboxRows(t)
	require.Len(t, rows, 3)
	require.NotNil(t, rows[0].SentAt)
	requireTime(t, b.clock.Now(), *rows[0].SentAt)
	require.Nil(t, rows[1].SentAt)
	require.Equal(t, 1, rows[1].Attempts)
	require.Equal(t, "broker unreachable", rows[1].LastError)
	requireTime(t, b.clock.Now().Add(time.Second), rows[1].AvailableAt) // first backoff: 1 s
	require.Nil(t, rows[2].SentAt)
	requireTime(t, b.clock.Now().Add(postgres.OutboxLease), rows[2].AvailableAt)

	pending, _, stuck, err := b.store.OutboxStats(ctx)
	require.NoError(t, err)
	require.Equal(t, pending0+2, pending)
	require.Equal(t, stuck0+1, stuck)

	// After the backoff only the failed one is due; it fails again and
	// backs off twice as long.
	b.clock.Advance(2 * time.Second)
	msgs, err = b.store.OutboxClaim(ctx, 100)
	require.NoError(t, err)
	require.Equal(t, []int64{rows[1].ID}, ids(msgs))
	require.Equal(t, 1, msgs[0].Attempts)
	require.NoError(t, b.store.OutboxMark(ctx, msgs, []error{errors.New("still unreachable")}))
	rows = b.outboxRows(t)
	require.Equal(t, 2, rows[1].Attempts)
	require.Equal(t, "still unreachable", rows[1].LastError)
	requireTime(t, b.clock.Now().Add(2*time.Second), rows[1].AvailableAt)

	// Once the lease has passed, the unmarked message is claimed again,
	// with the failed one, in id order; the sent one never comes back.
	b.clock.Advance(postgres.OutboxLease + time.Second)
	msgs, err = b.store.OutboxClaim(ctx, 100)
	require.NoError(t, err)
	require.Equal(t, []int64{rows[1].ID, rows[2].ID}, ids(msgs))
	require.NoError(t, b.store.OutboxMark(ctx, msgs, []error{nil, nil}))

	b.clock.Advance(time.Hour)
	msgs, err = b.store.OutboxClaim(ctx, 100)
	require.NoError(t, err)
	require.Empty(t, msgs)
	pending, _, stuck, err = b.store.OutboxStats(ctx)
	require.NoError(t, err)
	require.Equal(t, pending0, pending)
	require.Equal(t, stuck0, stuck)
	for _, r := range b.outboxRows(t) {
		require.NotNil(t, r.SentAt)
	}

	// The limit takes the oldest first.
	var keys []string
	for range 5 {
		r := b.rejection(false)
		_, err := b.store.IntakeReject(ctx, r)
		require.NoError(t, err)
		keys = append(keys, r.DeadLetter.MessageID)
	}
	msgs, err = b.store.OutboxClaim(ctx, 2)
	require.NoError(t, err)
	require.Len(t, msgs, 2)
	require.Equal(t, keys[0], msgs[0].MessageID)
	require.Equal(t, keys[1], msgs[1].MessageID)
	require.NoError(t, b.store.OutboxMark(ctx, msgs, []error{nil, nil}))

	// Relays claiming at the same time never get the same message.
	for range 17 {
		_, err := b.store.IntakeReject(ctx, b.rejection(false))
		require.NoError(t, err)
	}
	const relays = 4
	claimed := make([][]outbox.Message, relays)
	errs := make([]error, relays)
	var wg sync.WaitGroup
	for i := range relays {
		wg.Go(func() { claimed[i], errs[i] = b.store.OutboxClaim(ctx, 5) })
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i := range relays {
		require.NoError(t, errs[i])
		for _, m := range claimed[i] {
			require.False(t, seen[m.ID], "message %d claimed twice", m.ID)
			seen[m.ID] = true
		}
	}
	rest, err := b.store.OutboxClaim(ctx, 100)
	require.NoError(t, err)
	for _, m := range rest {
		require.False(t, seen[m.ID], "message %d claimed twice", m.ID)
		seen[m.ID] = true
	}
	require.Len(t, seen, 20)
	for _, batch := range append(claimed, rest) {
		require.NoError(t, b.store.OutboxMark(ctx, batch, make([]error, len(batch))))
	}
	pending, _, _, err = b.store.OutboxStats(ctx)
	require.NoError(t, err)
	require.Equal(t, pending0, pending)
}

func TestListen(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.store.Listen(ctx, postgres.OutboxChannel, wake)
	}()
	defer func() {
		cancel()
		<-done
	}()

	// LISTEN may not be in place yet: write until a wake-up arrives.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		_, err := b.store.IntakeReject(ctx, b.rejection(false))
		require.NoError(t, err)
		select {
		case <-wake:
			return
		case <-deadline:
			t.Fatal("no wake-up after writing to the outbox")
		case <-tick.C:
		}
	}
}
