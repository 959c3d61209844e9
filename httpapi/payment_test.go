package httpapi_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/httpapi"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/testkit"
)

// paymentJSON mirrors the payment of an answer.
type paymentJSON struct {
	ID          string `json:"id"`
	State       string `json:"state"`
	UpstreamID  string `json:"upstream_id"`
	RequestID   string `json:"request_id"`
	OrderRef    string `json:"order_ref"`
	CustomerID  string `json:"customer_id"`
	ApplicantID string `json:"applicant_id"`
	Amount      string `json:"amount"`
	Currency    string `json:"currency"`
	Debtor      struct {
		BankID  string `json:"bank_id"`
		Account string `json:"account"`
	} `json:"debtor"`
	Creditor struct {
		Name    string `json:"name"`
		Account string `json:"account"`
		BankID  string `json:"bank_id"`
	} `json:"creditor"`
	RemittanceInfo      string `json:"remittance_info"`
	ExecutionDate       string `json:"execution_date"`
	RequiredAuthorizers int    `json:"required_authorizers"`
	CreatedAt           string `json:"created_at"`
	UpdatedAt           string `json:"updated_at"`
	Digest              string `json:"digest"`
}

// entryJSON mirrors a timeline entry of an answer.
type entryJSON struct {
	Seq    int               `json:"seq"`
	At     string            `json:"at"`
	Actor  map[string]string `json:"actor"`
	Action string            `json:"action"`
	From   string            `json:"from"`
	To     string            `json:"to"`
	Code   string            `json:"code"`
	Note   string            `json:"note"`
}

func TestPaymentGet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// The largest amount accepted: as a JSON number it would lose its cents.
	p := b.submit(t, b.mine, func(r *payment.Request) { r.Amount = "9999999999999.99" })

	a := b.do(t, http.MethodGet, "/v1/payments/"+p.ID, b.mine.token, "")
	require.Equal(t, http.StatusOK, a.status, "body: %s", a.body)
	require.Equal(t, "no-store", a.header.Get("Cache-Control"))
	require.NotEmpty(t, a.header.Get("X-Request-Id"))

	// Exactly the documented keys, and the amount a string.
	var top map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(a.body, &top))
	require.ElementsMatch(t, []string{"payment", "timeline"}, slices.Collect(maps.Keys(top)))
	var pkeys map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(top["payment"], &pkeys))
	require.ElementsMatch(t, []string{"id", "state", "upstream_id", "request_id", "order_ref", "customer_id", "applicant_id",
		"amount", "currency", "debtor", "creditor", "remittance_info", "execution_date", "required_authorizers",
		"created_at", "updated_at", "digest"}, slices.Collect(maps.Keys(pkeys)))
	require.JSONEq(t, `"9999999999999.99"`, string(pkeys["amount"]))

	var got struct {
		Payment  paymentJSON `json:"payment"`
		Timeline []entryJSON `json:"timeline"`
	}
	a.decode(t, &got)
	gp := got.Payment
	require.Equal(t, p.ID, gp.ID)
	require.Equal(t, "awaiting_confirmation", gp.State)
	require.Equal(t, b.mine.upstream.ID, gp.UpstreamID)
	require.Equal(t, p.RequestID, gp.RequestID)
	require.Equal(t, p.OrderRef, gp.OrderRef)
	require.Equal(t, b.mine.customer.ID, gp.CustomerID)
	require.Equal(t, b.mine.applicant.ID, gp.ApplicantID)
	require.Equal(t, "9999999999999.99", gp.Amount)
	require.Equal(t, "CNY", gp.Currency)
	require.Equal(t, b.mine.bank.ID, gp.Debtor.BankID)
	require.Equal(t, b.mine.account.Number, gp.Debtor.Account)
	require.Equal(t, "上海华东机电设备有限公司", gp.Creditor.Name)
	require.Equal(t, "31001520313050012345", gp.Creditor.Account)
	require.Equal(t, "105290036005", gp.Creditor.BankID)
	require.Equal(t, "采购合同 HT-2026-0215 第二期货款", gp.RemittanceInfo)
	require.Equal(t, "2026-03-12", gp.ExecutionDate)
	require.Equal(t, 1, gp.RequiredAuthorizers)
	require.Equal(t, p.Digest(), gp.Digest)
	// Stored in UTC (02:00), shown in the customer's zone.
	require.Equal(t, "2026-03-10T10:00:00+08:00", gp.CreatedAt)
	require.Equal(t, "2026-03-10T10:00:00+08:00", gp.UpdatedAt)

	require.Len(t, got.Timeline, 2)
	first, second := got.Timeline[0], got.Timeline[1]
	require.Equal(t, entryJSON{Seq: 1, At: "2026-03-10T10:00:00+08:00",
		Actor:  map[string]string{"kind": "upstream", "id": b.mine.upstream.ID},
		Action: "receive", From: "", To: "received", Note: "request " + p.RequestID}, first)
	require.Equal(t, 2, second.Seq)
	require.Equal(t, "system", second.Actor["kind"])
	require.Equal(t, "request_confirmation", second.Action)
	require.Equal(t, "received", second.From)
	require.Equal(t, "awaiting_confirmation", second.To)
	at, err := time.Parse(time.RFC3339, second.At)
	require.NoError(t, err)
	require.True(t, at.Equal(baseTime))
}

func TestPaymentGetOtherCustomerIsNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	theirs := b.submit(t, b.other)
	mine := b.submit(t, b.mine)

	// The other customer sees theirs; we see ours.
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/payments/"+theirs.ID, b.other.token, "").status)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/payments/"+mine.ID, b.mine.token, "").status)

	// Theirs is, for us, exactly what a payment that does not exist is:
	// same status, same body, so ids cannot be probed.
	foreign := b.do(t, http.MethodGet, "/v1/payments/"+theirs.ID, b.mine.token, "")
	foreign.requireError(t, http.StatusNotFound, "not_found")
	for _, id := range []string{"01a21b23-e139-703c-8b96-c80ef836db0a", "not-a-payment-id", "%27%3B--"} {
		missing := b.do(t, http.MethodGet, "/v1/payments/"+id, b.mine.token, "")
		missing.requireError(t, http.StatusNotFound, "not_found")
		require.Equal(t, string(foreign.body), string(missing.body), "id %s", id)
	}
}

func TestAuthenticationRequired(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.submit(t, b.mine)
	routes := []struct{ method, path string }{
		{http.MethodGet, "/v1/payments/" + p.ID},
		{http.MethodGet, "/v1/payments"},
		{http.MethodGet, "/v1/payments?order_ref=" + p.OrderRef + "&upstream_id=" + p.UpstreamID},
		{http.MethodDelete, "/v1/sessions/current"},
	}
	for _, auth := range []string{"", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer tok-forged", "Bearer " + b.mine.token + " extra", b.mine.token} {
		for _, rt := range routes {
			req, err := http.NewRequestWithContext(t.Context(), rt.method, b.srv.URL+rt.path, nil)
			require.NoError(t, err)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			a := send(t, req)
			a.requireError(t, http.StatusUnauthorized, "token_invalid")
			require.Equal(t, "Bearer", a.header.Get("WWW-Authenticate"), "%s %s with %q", rt.method, rt.path, auth)
		}
	}
	// The scheme is case-insensitive.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, b.srv.URL+"/v1/payments/"+p.ID, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "bearer "+b.mine.token)
	require.Equal(t, http.StatusOK, send(t, req).status)
}

func TestPaymentsByOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ref := "PO-" + testkit.RandomHex(6)
	withRef := func(r *payment.Request) { r.OrderRef = ref }

	first := b.submit(t, b.mine, withRef)
	b.forceState(t, first.ID, payment.StateCancelled) // frees the order
	b.clock.Advance(time.Minute)
	second := b.submit(t, b.mine, withRef)
	theirs := b.submit(t, b.other, withRef) // same reference at another upstream
	b.submit(t, b.mine)                     // another order

	var got struct {
		Payments []paymentJSON    `json:"payments"`
		Next     *string          `json:"next"`
		Extra    *json.RawMessage `json:"timeline"`
	}
	a := b.do(t, http.MethodGet, "/v1/payments?order_ref="+ref+"&upstream_id="+b.mine.upstream.ID, b.mine.token, "")
	require.Equal(t, http.StatusOK, a.status, "body: %s", a.body)
	a.decode(t, &got)
	require.Len(t, got.Payments, 2)
	require.Equal(t, second.ID, got.Payments[0].ID, "newest first")
	require.Equal(t, "awaiting_confirmation", got.Payments[0].State)
	require.Equal(t, "2026-03-10T10:01:00+08:00", got.Payments[0].CreatedAt)
	require.Equal(t, first.ID, got.Payments[1].ID)
	require.Equal(t, "cancelled", got.Payments[1].State)
	require.Equal(t, "1286400.50", got.Payments[1].Amount)
	require.NotNil(t, got.Next)
	require.Empty(t, *got.Next)
	require.Nil(t, got.Extra)

	// Another customer's order is, for us, an order without payments.
	for _, tc := range []struct{ upstream, ref string }{
		{b.other.upstream.ID, ref},
		{b.mine.upstream.ID, "PO-never-" + testkit.RandomHex(3)},
	} {
		a := b.do(t, http.MethodGet, "/v1/payments?order_ref="+tc.ref+"&upstream_id="+tc.upstream, b.mine.token, "")
		require.Equal(t, http.StatusOK, a.status)
		require.JSONEq(t, `{"payments":[],"next":""}`, string(a.body))
	}
	a = b.do(t, http.MethodGet, "/v1/payments?order_ref="+ref+"&upstream_id="+b.other.upstream.ID, b.other.token, "")
	a.decode(t, &got)
	require.Len(t, got.Payments, 1)
	require.Equal(t, theirs.ID, got.Payments[0].ID)
}

// movingStore is the real store with a payment that moves on once, right
// after the API has read it and before it reads the timeline: what a
// reviewer's approval at that instant does.
type movingStore struct {
	httpapi.Store
	once sync.Once
	move func(ctx context.Context, p payment.Payment)
}

func (m *movingStore) PaymentGetByID(ctx context.Context, id string) (*payment.Payment, error) {
	p, err := m.Store.PaymentGetByID(ctx, id)
	if err == nil {
		m.once.Do(func() { m.move(ctx, *p) })
	}
	return p, err
}

func TestPaymentGetIsOneMoment(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.submit(t, b.mine)
	b.srv = b.serve(t, &movingStore{Store: b.store, move: func(ctx context.Context, p payment.Payment) {
		e, err := p.Apply(payment.ActionConfirm, payment.Actor{Kind: payment.ActorUser, ID: b.mine.applicant.ID}, baseTime.Add(time.Minute), "confirmed")
		require.NoError(t, err)
		_, err = testkit.Pool(t).Exec(ctx, `UPDATE payments SET state = $2, version = $3, updated_at = $4, head_hash = $5 WHERE id = $1`,
			p.ID, string(p.State), p.Version, p.UpdatedAt, p.HeadHash)
		require.NoError(t, err)
		_, err = testkit.Pool(t).Exec(ctx, `INSERT INTO payment_timeline (payment_id, seq, at, actor_kind, actor_id, action, from_state, to_state, note, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			e.PaymentID, e.Seq, e.At, string(e.Actor.Kind), e.Actor.ID, string(e.Action), string(e.From), string(e.To), e.Note, e.PrevHash, e.Hash)
		require.NoError(t, err)
	}})

	var got struct {
		Payment  paymentJSON `json:"payment"`
		Timeline []entryJSON `json:"timeline"`
	}
	// The first answer is the payment as it was read, with the timeline up
	// to that state, not a state and a timeline that disagree.
	b.do(t, http.MethodGet, "/v1/payments/"+p.ID, b.mine.token, "").decode(t, &got)
	require.Equal(t, "awaiting_confirmation", got.Payment.State)
	require.Len(t, got.Timeline, 2)
	require.Equal(t, "awaiting_confirmation", got.Timeline[1].To)

	// The next one shows the move.
	b.do(t, http.MethodGet, "/v1/payments/"+p.ID, b.mine.token, "").decode(t, &got)
	require.Equal(t, "awaiting_review", got.Payment.State)
	require.Equal(t, "2026-03-10T10:01:00+08:00", got.Payment.UpdatedAt)
	require.Len(t, got.Timeline, 3)
	require.Equal(t, entryJSON{Seq: 3, At: "2026-03-10T10:01:00+08:00",
		Actor:  map[string]string{"kind": "user", "id": b.mine.applicant.ID},
		Action: "confirm", From: "awaiting_confirmation", To: "awaiting_review", Note: "confirmed"}, got.Timeline[2])
}
