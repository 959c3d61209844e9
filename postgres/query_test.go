package postgres_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/httpapi"
	"github.com/b2bpay/b2bpay/payment"
)

// submitPayment stores a valid request of the bundle's customer through intake and
// returns the payment it became.
func (b *bundle) submitPayment(t *testing.T, mods ...func(*payment.Request)) *payment.Payment {
	t.Helper()
	out, err := b.store.IntakeSubmit(t.Context(), b.submission(t, b.request(mods...)))
	require.NoError(t, err)
	require.NotNil(t, out.Payment, "refused: %s %s", out.Answer.Code, out.Answer.Reason)
	return out.Payment
}

// forceState moves a payment to st behind the domain's back: the approval
// stages that would do it are not what these tests are about.
func (b *bundle) forceState(t *testing.T, id string, st payment.State) {
	t.Helper()
	_, err := b.pool.Exec(t.Context(), `UPDATE payments SET state = $2 WHERE id = $1`, id, string(st))
	require.NoError(t, err)
}

// paymentIDs returns the ids of ps in order.
func paymentIDs(ps []*payment.Payment) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func withOrderRef(ref string) func(*payment.Request) {
	return func(r *payment.Request) { r.OrderRef = ref }
}

func TestPaymentListFilters(t *testing.T) {
	t.Parallel()
	b, other := setup(t), setup(t)
	ctx := t.Context()
	t0 := b.clock.Now()
	shared := "PO-" + randomHex(6) // the same order reference at two upstreams

	p1 := b.submitPayment(t, withOrderRef(shared))
	q1 := other.submitPayment(t, withOrderRef(shared))
	b.clock.Advance(time.Hour)
	p2 := b.submitPayment(t)
	b.clock.Advance(time.Hour)
	p3 := b.submitPayment(t)
	b.forceState(t, p3.ID, payment.StateAwaitingReview)
	b.clock.Advance(time.Hour)
	p4 := b.submitPayment(t)
	b.forceState(t, p4.ID, payment.StateCancelled)

	shanghai, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	cust := b.customer.ID
	for _, tc := range []struct {
		name string
		f    httpapi.PaymentFilter
		want []*payment.Payment
	}{
		{"customer", httpapi.PaymentFilter{CustomerID: cust}, []*payment.Payment{p1, p2, p3, p4}},
		{"other customer", httpapi.PaymentFilter{CustomerID: other.customer.ID}, []*payment.Payment{q1}},
		{"order at any customer", httpapi.PaymentFilter{OrderRef: shared}, []*payment.Payment{p1, q1}},
		{"order of the customer", httpapi.PaymentFilter{CustomerID: cust, OrderRef: shared}, []*payment.Payment{p1}},
		{"upstream", httpapi.PaymentFilter{UpstreamID: b.upstream.ID}, []*payment.Payment{p1, p2, p3, p4}},
		{"upstream and order", httpapi.PaymentFilter{UpstreamID: other.upstream.ID, OrderRef: shared}, []*payment.Payment{q1}},
		{"upstream of another customer", httpapi.PaymentFilter{CustomerID: cust, UpstreamID: other.upstream.ID}, nil},
		{"one state", httpapi.PaymentFilter{CustomerID: cust, States: []payment.State{payment.StateAwaitingReview}}, []*payment.Payment{p3}},
		{"two states", httpapi.PaymentFilter{CustomerID: cust, States: []payment.State{payment.StateCancelled, payment.StateAwaitingReview}}, []*payment.Payment{p3, p4}},
		{"initial state", httpapi.PaymentFilter{CustomerID: cust, States: []payment.State{payment.StateAwaitingConfirmation}}, []*payment.Payment{p1, p2}},
		{"state nobody is in", httpapi.PaymentFilter{CustomerID: cust, States: []payment.State{payment.StateSettled}}, nil},
		{"created from (inclusive)", httpapi.PaymentFilter{CustomerID: cust, CreatedFrom: t0.Add(time.Hour)}, []*payment.Payment{p2, p3, p4}},
		{"created to (exclusive)", httpapi.PaymentFilter{CustomerID: cust, CreatedTo: t0.Add(2 * time.Hour)}, []*payment.Payment{p1, p2}},
		{"created window", httpapi.PaymentFilter{CustomerID: cust, CreatedFrom: t0.Add(time.Hour), CreatedTo: t0.Add(2 * time.Hour)}, []*payment.Payment{p2}},
		{"created window in another zone", httpapi.PaymentFilter{CustomerID: cust,
			CreatedFrom: t0.Add(time.Hour).In(shanghai), CreatedTo: t0.Add(2 * time.Hour).In(shanghai)}, []*payment.Payment{p2}},
		{"everything at once", httpapi.PaymentFilter{CustomerID: cust, UpstreamID: b.upstream.ID,
			States: []payment.State{payment.StateAwaitingConfirmation}, CreatedFrom: t0, CreatedTo: t0.Add(time.Minute), OrderRef: shared}, []*payment.Payment{p1}},
		{"after a cursor", httpapi.PaymentFilter{CustomerID: cust, After: p2.ID}, []*payment.Payment{p3, p4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := b.store.PaymentList(ctx, tc.f)
			require.NoError(t, err)
			require.NotNil(t, got, "an empty page is an empty slice")
			require.Equal(t, paymentIDs(tc.want), paymentIDs(got))
		})
	}

	// The rows come back whole.
	got, err := b.store.PaymentList(ctx, httpapi.PaymentFilter{CustomerID: cust, OrderRef: shared})
	require.NoError(t, err)
	require.Len(t, got, 1)
	want, err := b.store.PaymentGetByID(ctx, p1.ID)
	require.NoError(t, err)
	require.Equal(t, want, got[0])
}

func TestPaymentListPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	var all []string
	for range 23 {
		all = append(all, b.submitPayment(t).ID)
		b.clock.Advance(time.Second)
	}

	for _, limit := range []int{1, 5, 7, 23, 24} {
		t.Run("limit "+strconv.Itoa(limit), func(t *testing.T) {
			var seen []string
			f := httpapi.PaymentFilter{CustomerID: b.customer.ID, Limit: limit}
			for pages := 0; ; pages++ {
				require.Less(t, pages, 30, "pagination does not end")
				page, err := b.store.PaymentList(ctx, f)
				require.NoError(t, err)
				require.LessOrEqual(t, len(page), limit)
				seen = append(seen, paymentIDs(page)...)
				if len(page) < limit {
					break
				}
				f.After = page[len(page)-1].ID
			}
			require.Equal(t, all, seen, "every payment exactly once, in creation order")
		})
	}
}

func TestPaymentListPaginationWhileInserting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	var all []string
	for range 6 {
		all = append(all, b.submitPayment(t).ID)
	}
	f := httpapi.PaymentFilter{CustomerID: b.customer.ID, Limit: 4}
	first, err := b.store.PaymentList(ctx, f)
	require.NoError(t, err)
	require.Equal(t, all[:4], paymentIDs(first))

	// A payment created between two pages comes after the cursor: the
	// keyset neither skips nor repeats anything.
	late := b.submitPayment(t)
	f.After = first[3].ID
	second, err := b.store.PaymentList(ctx, f)
	require.NoError(t, err)
	require.Equal(t, append(all[4:6:6], late.ID), paymentIDs(second))
}

func TestPaymentListLimits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	for range httpapi.DefaultPageSize + 1 {
		b.submitPayment(t)
	}
	count := func(f httpapi.PaymentFilter) int {
		t.Helper()
		f.CustomerID = b.customer.ID
		page, err := b.store.PaymentList(ctx, f)
		require.NoError(t, err)
		return len(page)
	}
	require.Equal(t, httpapi.DefaultPageSize, count(httpapi.PaymentFilter{}), "zero limit is the default page size")
	require.Equal(t, 1, count(httpapi.PaymentFilter{Limit: 1}))
	require.Equal(t, httpapi.DefaultPageSize+1, count(httpapi.PaymentFilter{Limit: httpapi.MaxPageSize}))

	for _, tc := range []struct {
		name  string
		f     httpapi.PaymentFilter
		field string
	}{
		{"negative limit", httpapi.PaymentFilter{Limit: -1}, "limit"},
		{"limit over the maximum", httpapi.PaymentFilter{Limit: httpapi.MaxPageSize + 1}, "limit"},
		{"cursor that is no payment id", httpapi.PaymentFilter{After: "x'; DROP TABLE payments; --"}, "after"},
		{"unknown state", httpapi.PaymentFilter{States: []payment.State{payment.StateAwaitingReview, "paid"}}, "state"},
		{"empty window", httpapi.PaymentFilter{CreatedFrom: baseTime, CreatedTo: baseTime}, "created_to"},
		{"window backwards", httpapi.PaymentFilter{CreatedFrom: baseTime, CreatedTo: baseTime.Add(-time.Second)}, "created_to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.store.PaymentList(ctx, tc.f)
			require.Equal(t, payment.CodeInvalidInput, payment.ErrorCode(err), "got %v", err)
			var pe *payment.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.field, pe.Field)
		})
	}
}

func TestPaymentGetByOrder(t *testing.T) {
	t.Parallel()
	b, other := setup(t), setup(t)
	ctx := t.Context()
	ref := "PO-" + randomHex(6)

	// One order, paid three times: the first two attempts ended without
	// moving money, which frees the order for the next request.
	first := b.submitPayment(t, withOrderRef(ref))
	b.forceState(t, first.ID, payment.StateCancelled)
	b.clock.Advance(time.Minute)
	second := b.submitPayment(t, withOrderRef(ref))
	b.forceState(t, second.ID, payment.StateRejected)
	b.clock.Advance(time.Minute)
	third := b.submitPayment(t, withOrderRef(ref))
	other.submitPayment(t, withOrderRef(ref)) // another upstream's order of the same name
	b.submitPayment(t)                        // another order

	got, err := b.store.PaymentGetByOrder(ctx, b.upstream.ID, ref)
	require.NoError(t, err)
	require.Equal(t, []string{third.ID, second.ID, first.ID}, paymentIDs(got), "newest first")
	active := 0
	for _, p := range got {
		require.Equal(t, ref, p.OrderRef)
		require.Equal(t, b.upstream.ID, p.UpstreamID)
		if p.State.HoldsOrder() {
			active++
		}
	}
	require.Equal(t, 1, active, "one active payment at most")
	require.Equal(t, payment.StateAwaitingConfirmation, got[0].State)

	none, err := b.store.PaymentGetByOrder(ctx, b.upstream.ID, "PO-never-"+randomHex(4))
	require.NoError(t, err)
	require.NotNil(t, none)
	require.Empty(t, none)
}
