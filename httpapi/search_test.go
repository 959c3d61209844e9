package httpapi_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/testkit"
)

// usdAccount registers a USD account of tn's customer and returns a
// request change that pays from it.
func (b *bundle) usdAccount(t *testing.T, tn tenant) func(*payment.Request) {
	t.Helper()
	acct := payment.Account{Number: "6222" + testkit.RandomDigits(12), BankID: tn.bank.ID,
		CustomerID: tn.customer.ID, Currency: "USD", Active: true}
	require.NoError(t, b.store.AccountCreate(t.Context(), acct))
	return func(r *payment.Request) { r.DebtorAccount, r.Currency = acct.Number, "USD" }
}

func paying(amount, creditor, account string) func(*payment.Request) {
	return func(r *payment.Request) { r.Amount, r.Creditor.Name, r.Creditor.Account = amount, creditor, account }
}

func TestPaymentListSearch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	usd := b.usdAccount(t, b.mine)
	small := b.submit(t, b.mine, paying("999.99", "Acme Trading Co.", "11112222"))
	low := b.submit(t, b.mine, paying("1000.00", "ACME trading (Shenzhen)", "33334444"))
	high := b.submit(t, b.mine, paying("5000.00", "100% Steel_Works Ltd", "55556666"))
	b.forceState(t, high.ID, payment.StateRejected)
	dollars := b.submit(t, b.mine, usd, paying("1000.00", "Globex LLC", "77778888"))
	theirs := b.submit(t, b.other, paying("1000.00", "Acme Trading Co.", "11112222"))

	q := url.QueryEscape
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"id=" + low.ID, []string{low.ID}},
		{"id=" + theirs.ID, []string{}}, // another customer's: never found
		{"id=" + low.ID + "&state=rejected", []string{}},
		{"order_ref=" + high.OrderRef + "&state=rejected", []string{high.ID}},
		{"order_ref=" + theirs.OrderRef, []string{}},
		{"currency=USD", []string{dollars.ID}},
		{"currency=EUR", []string{}},
		{"currency=CNY&amount_min=1000.00", []string{low.ID, high.ID}},
		{"currency=CNY&amount_min=1000", []string{low.ID, high.ID}},
		{"currency=CNY&amount_max=1000.00", []string{small.ID, low.ID}},
		{"currency=CNY&amount_min=999.99&amount_max=999.99", []string{small.ID}},
		{"currency=USD&amount_min=1000&amount_max=1000", []string{dollars.ID}},
		{"currency=CNY&amount_min=100000", []string{}},
		{"counterparty=" + q("acme TRADING"), []string{small.ID, low.ID}}, // theirs has the name too
		{"counterparty=11112222", []string{small.ID}},
		{"counterparty=1111", []string{}}, // an account is matched whole
		{"counterparty=" + q("100%"), []string{high.ID}},
		{"counterparty=" + q("%"), []string{high.ID}},
		{"counterparty=" + q("Acme_Trading"), []string{}},
		{"counterparty=" + q("l_W"), []string{high.ID}},
		{"counterparty=" + q("上海"), []string{}},
		{"counterparty=acme&currency=CNY&amount_max=999.99&state=awaiting_confirmation&created_from=2026-03-10", []string{small.ID}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			require.Equal(t, tc.want, pageIDs(b.list(t, tc.query)))
		})
	}
	// The order lookup keeps its answer: every payment of the order.
	got := b.list(t, "order_ref="+low.OrderRef+"&upstream_id="+low.UpstreamID)
	require.Equal(t, []string{low.ID}, pageIDs(got))
	require.Empty(t, got.Next)
}

func TestPaymentListSearchPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var want []string
	for i := range 12 {
		name := "Acme " + strconv.Itoa(i)
		if i%3 == 0 {
			name = "Initech " + strconv.Itoa(i)
		}
		p := b.submit(t, b.mine, paying(strconv.Itoa(1000+i)+".00", name, "9000"+strconv.Itoa(i)))
		if i%3 != 0 && i <= 10 {
			want = append(want, p.ID) // Acme, 1000.00 to 1010.00
		}
		b.submit(t, b.other, paying("1005.00", "Acme", "9000")) // never ours
	}
	require.Len(t, want, 7)
	for _, limit := range []string{"1", "2", "3", "7", "50"} {
		t.Run("limit "+limit, func(t *testing.T) {
			base := "currency=CNY&amount_min=1000.00&amount_max=1010.00&counterparty=acme&limit=" + limit
			var seen []string
			query := base
			for pages := 0; ; pages++ {
				require.Less(t, pages, 20, "pagination does not end")
				p := b.list(t, query)
				seen = append(seen, pageIDs(p)...)
				if p.Next == "" {
					break
				}
				query = base + "&after=" + p.Next
			}
			require.Equal(t, want, seen, "every match exactly once, in creation order")
		})
	}
}

func TestPaymentListSearchBadParameters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		query string
		says  string // in the message
	}{
		{"id=42", `id: "42" is not a payment id`},
		{"id=" + url.QueryEscape("{019cd2a0-5d3e-7c41-9a0b-3f6e2d1c4b5a}"), "id:"},
		{"id=a&id=b", "id: give it once"},
		{"currency=", "currency: is empty"},
		{"currency=cny", `currency: "cny" is not an active ISO 4217`},
		{"currency=XYZ", "currency:"},
		{"currency=CNYY", "currency:"},
		{"amount_min=1000.00", "amount_min: needs currency"},
		{"amount_max=1000.00", "amount_max: needs currency"},
		{"currency=CNY&amount_min=abc", "amount_min:"},
		{"currency=CNY&amount_min=-5", "amount_min:"},
		{"currency=CNY&amount_min=0", "amount_min:"},
		{"currency=CNY&amount_min=1e3", "amount_min:"},
		{"currency=CNY&amount_max=1.005", "amount_max: CNY allows 2 decimal places"},
		{"currency=JPY&amount_max=10.5", "amount_max:"},
		{"currency=CNY&amount_max=10000000000000", "amount_max:"},
		{"currency=CNY&amount_min=200&amount_max=100", "amount_max: 100 is less than amount_min 200"},
		{"counterparty=", "counterparty: is empty"},
		{"counterparty=" + strings.Repeat("a", 71), "counterparty: is 71 characters long"},
		{"counterparty=a%00b", "counterparty: contains a control character"},
		{"counterparty=%FF", "counterparty: is not valid UTF-8"},
		{"counterparty=a&counterparty=b", "counterparty: give it once"},
		{"order_ref=PO-1&upstream_id=" + b.mine.upstream.ID + "&currency=CNY", "order lookup"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			a := b.do(t, http.MethodGet, "/v1/payments?"+tc.query, b.mine.token, "")
			msg := a.requireError(t, http.StatusBadRequest, "invalid_input")
			require.True(t, strings.Contains(msg, tc.says), "message %q does not say %q", msg, tc.says)
		})
	}
	// 70 characters are a search, and an answer.
	require.Empty(t, pageIDs(b.list(t, "counterparty="+url.QueryEscape(strings.Repeat("名", 70)))))
}
