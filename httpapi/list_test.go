package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

// page is the answer of GET /v1/payments.
type page struct {
	Payments []paymentJSON `json:"payments"`
	Next     string        `json:"next"`
}

// list asks for GET /v1/payments?query as our user and returns the page.
func (b *bundle) list(t *testing.T, query string) page {
	t.Helper()
	a := b.do(t, http.MethodGet, "/v1/payments?"+query, b.mine.token, "")
	require.Equal(t, http.StatusOK, a.status, "query %s: %s", query, a.body)
	var p page
	a.decode(t, &p)
	require.NotNil(t, p.Payments, "never null")
	var raw struct {
		Payments []map[string]json.RawMessage `json:"payments"`
	}
	require.NoError(t, json.Unmarshal(a.body, &raw))
	for _, p := range raw.Payments {
		require.NotContains(t, p, "timeline", "lists carry no timelines")
	}
	return p
}

func pageIDs(p page) []string {
	out := []string{}
	for _, x := range p.Payments {
		out = append(out, x.ID)
	}
	return out
}

func TestPaymentListFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// 10:00, 11:00 and 12:00 on 10 March, then 09:00 on 11 March, Shanghai.
	p1 := b.submit(t, b.mine)
	b.clock.Advance(time.Hour)
	p2 := b.submit(t, b.mine)
	b.forceState(t, p2.ID, payment.StateAwaitingReview)
	b.clock.Advance(time.Hour)
	p3 := b.submit(t, b.mine)
	b.forceState(t, p3.ID, payment.StateRejected)
	b.clock.Advance(21 * time.Hour)
	p4 := b.submit(t, b.mine)
	theirs := b.submit(t, b.other) // never in our lists

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{p1.ID, p2.ID, p3.ID, p4.ID}},
		{"state=awaiting_review", []string{p2.ID}},
		{"state=awaiting_review&state=rejected", []string{p2.ID, p3.ID}},
		{"state=awaiting_confirmation", []string{p1.ID, p4.ID}},
		{"state=settled", []string{}},
		{"created_from=2026-03-11", []string{p4.ID}},
		{"created_to=2026-03-10", []string{p1.ID, p2.ID, p3.ID}}, // the whole day, in Shanghai
		{"created_from=2026-03-10&created_to=2026-03-10", []string{p1.ID, p2.ID, p3.ID}},
		{"created_from=" + url.QueryEscape("2026-03-10T11:00:00+08:00") + "&created_to=" + url.QueryEscape("2026-03-10T12:00:00+08:00"), []string{p2.ID}},
		{"created_from=2026-03-10T03:00:00Z&created_to=2026-03-10T04:00:01Z", []string{p2.ID, p3.ID}},
		{"created_from=2026-03-10T11:00:00+08:00", []string{p2.ID, p3.ID, p4.ID}}, // "+" sent unencoded
		{"upstream_id=" + b.mine.upstream.ID + "&state=rejected", []string{p3.ID}},
		{"upstream_id=" + b.other.upstream.ID, []string{}},
		{"order_ref=" + p2.OrderRef, []string{p2.ID}},
		{"order_ref=" + theirs.OrderRef, []string{}},
		{"after=" + p2.ID, []string{p3.ID, p4.ID}},
		{"state=awaiting_confirmation&after=" + p1.ID, []string{p4.ID}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			require.Equal(t, tc.want, pageIDs(b.list(t, tc.query)))
		})
	}

	got := b.list(t, "state=rejected").Payments[0]
	require.Equal(t, "rejected", got.State)
	require.Equal(t, "1286400.50", got.Amount)
	require.Equal(t, "2026-03-10T12:00:00+08:00", got.CreatedAt)
}

func TestPaymentListPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var all []string
	for range 12 {
		all = append(all, b.submit(t, b.mine).ID)
		b.submit(t, b.other) // interleaved, never ours
		b.clock.Advance(time.Minute)
	}
	for _, limit := range []string{"1", "5", "6", "12", "500"} {
		t.Run("limit "+limit, func(t *testing.T) {
			var seen []string
			query := "limit=" + limit
			for pages := 0; ; pages++ {
				require.Less(t, pages, 20, "pagination does not end")
				p := b.list(t, query)
				seen = append(seen, pageIDs(p)...)
				if p.Next == "" {
					break
				}
				require.Equal(t, p.Payments[len(p.Payments)-1].ID, p.Next)
				query = "limit=" + limit + "&after=" + p.Next
			}
			require.Equal(t, all, seen, "every payment exactly once, in creation order")
		})
	}
	// Without a limit, a page holds up to 50: here everything, no next page.
	p := b.list(t, "")
	require.Equal(t, all, pageIDs(p))
	require.Empty(t, p.Next)
}

func TestPaymentListBadParameters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.submit(t, b.mine)
	for _, tc := range []struct {
		query string
		says  string // in the message
	}{
		{"state=paid", `state: "paid" is not a payment state`},
		{"state=awaiting_review&state=", "state: is empty"},
		{"created_from=yesterday", "created_from:"},
		{"created_from=2026-13-01", "created_from:"},
		{"created_to=2026-03-10T25:00:00Z", "created_to:"},
		{"created_from=2026-03-11&created_to=2026-03-10", "created_to:"},
		{"limit=0", "limit:"},
		{"limit=501", "limit:"},
		{"limit=-1", "limit:"},
		{"limit=ten", "limit:"},
		{"limit=5&limit=6", "limit: give it once"},
		{"after=not-a-cursor", `after: "not-a-cursor" is not a payment id`},
		{"status=rejected", `unknown query parameter "status"`},
		{"order_ref=" + p.OrderRef + "&upstream_id=" + p.UpstreamID + "&state=rejected", "order lookup"},
		{"order_ref=%zz", "malformed"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			a := b.do(t, http.MethodGet, "/v1/payments?"+tc.query, b.mine.token, "")
			msg := a.requireError(t, http.StatusBadRequest, "invalid_input")
			require.True(t, strings.Contains(msg, tc.says), "message %q does not say %q", msg, tc.says)
		})
	}
}
