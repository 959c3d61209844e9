package postgres_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/httpapi"
	"github.com/b2bpay/b2bpay/payment"
)

// usdAccount registers a USD account of the bundle's customer and returns
// a request change that pays from it.
func (b *bundle) usdAccount(t *testing.T) func(*payment.Request) {
	t.Helper()
	acct := payment.Account{Number: "6222" + randomDigits(12), BankID: b.bank.ID, CustomerID: b.customer.ID, Currency: "USD", Active: true}
	require.NoError(t, b.store.AccountCreate(t.Context(), acct))
	return func(r *payment.Request) { r.DebtorAccount, r.Currency = acct.Number, "USD" }
}

func withAmount(amount string) func(*payment.Request) {
	return func(r *payment.Request) { r.Amount = amount }
}

func withCreditor(name, account string) func(*payment.Request) {
	return func(r *payment.Request) { r.Creditor.Name, r.Creditor.Account = name, account }
}

func TestPaymentListSearch(t *testing.T) {
	t.Parallel()
	b, other := setup(t), setup(t)
	ctx := t.Context()
	usd := b.usdAccount(t)

	small := b.submitPayment(t, withAmount("999.99"), withCreditor("Acme Trading Co.", "11112222"))
	low := b.submitPayment(t, withAmount("1000.00"), withCreditor("ACME trading (Shenzhen)", "33334444"))
	high := b.submitPayment(t, withAmount("5000.00"), withCreditor("100% Steel_Works \\ Ltd", "55556666"))
	dollars := b.submitPayment(t, usd, withAmount("1000.00"), withCreditor("Globex LLC", "77778888"))
	theirs := other.submitPayment(t, withAmount("1000.00"), withCreditor("Acme Trading Co.", "11112222"))

	cust := b.customer.ID
	for _, tc := range []struct {
		name string
		f    httpapi.PaymentFilter
		want []*payment.Payment
	}{
		{"id", httpapi.PaymentFilter{CustomerID: cust, ID: low.ID}, []*payment.Payment{low}},
		{"id of another customer", httpapi.PaymentFilter{CustomerID: cust, ID: theirs.ID}, nil},
		{"id after its own cursor", httpapi.PaymentFilter{CustomerID: cust, ID: low.ID, After: low.ID}, nil},
		{"order reference alone", httpapi.PaymentFilter{CustomerID: cust, OrderRef: high.OrderRef}, []*payment.Payment{high}},
		{"order reference of another customer", httpapi.PaymentFilter{CustomerID: cust, OrderRef: theirs.OrderRef}, nil},
		{"currency", httpapi.PaymentFilter{CustomerID: cust, Currency: "USD"}, []*payment.Payment{dollars}},
		{"currency nobody pays in", httpapi.PaymentFilter{CustomerID: cust, Currency: "EUR"}, nil},
		{"amount from (inclusive)", httpapi.PaymentFilter{CustomerID: cust, Currency: "CNY", AmountMin: 100000}, []*payment.Payment{low, high}},
		{"amount to (inclusive)", httpapi.PaymentFilter{CustomerID: cust, Currency: "CNY", AmountMax: 100000}, []*payment.Payment{small, low}},
		{"exact amount", httpapi.PaymentFilter{CustomerID: cust, Currency: "CNY", AmountMin: 100000, AmountMax: 100000}, []*payment.Payment{low}},
		{"amount in another currency", httpapi.PaymentFilter{CustomerID: cust, Currency: "USD", AmountMin: 100000, AmountMax: 100000}, []*payment.Payment{dollars}},
		{"name, any case", httpapi.PaymentFilter{CustomerID: cust, Counterparty: "acme TRADING"}, []*payment.Payment{small, low}},
		{"name, inside", httpapi.PaymentFilter{CustomerID: cust, Counterparty: "shenzhen"}, []*payment.Payment{low}},
		{"account, exact", httpapi.PaymentFilter{CustomerID: cust, Counterparty: "77778888"}, []*payment.Payment{dollars}},
		{"account, not a part of it", httpapi.PaymentFilter{CustomerID: cust, Counterparty: "7777"}, nil},
		{"percent is literal", httpapi.PaymentFilter{CustomerID: cust, Counterparty: "100%"}, []*payment.Payment{high}},
		{"percent alone matches only a percent", httpapi.PaymentFilter{CustomerID: cust, Counterparty: "%"}, []*payment.Payment{high}},
		{"underscore is literal", httpapi.PaymentFilter{CustomerID: cust, Counterparty: "l_W"}, []*payment.Payment{high}},
		{"underscore is not any character", httpapi.PaymentFilter{CustomerID: cust, Counterparty: "Acme_Trading"}, nil},
		{"backslash is literal", httpapi.PaymentFilter{CustomerID: cust, Counterparty: `\ Ltd`}, []*payment.Payment{high}},
		{"a quote is text", httpapi.PaymentFilter{CustomerID: cust, Counterparty: `x' OR '1'='1`}, nil},
		{"counterparty of another customer", httpapi.PaymentFilter{CustomerID: other.customer.ID, Counterparty: "acme"}, []*payment.Payment{theirs}},
		{"everything at once", httpapi.PaymentFilter{CustomerID: cust, Currency: "CNY", AmountMin: 99999, AmountMax: 100000,
			Counterparty: "Acme", States: []payment.State{payment.StateAwaitingConfirmation}, OrderRef: small.OrderRef, ID: small.ID},
			[]*payment.Payment{small}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := b.store.PaymentList(ctx, tc.f)
			require.NoError(t, err)
			require.NotNil(t, got, "an empty page is an empty slice")
			require.Equal(t, paymentIDs(tc.want), paymentIDs(got))
		})
	}
}

func TestPaymentListSearchPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	usd := b.usdAccount(t)
	var want []string
	for i := range 15 {
		name := "Acme " + strconv.Itoa(i)
		if i%3 == 0 {
			name = "Initech " + strconv.Itoa(i)
		}
		p := b.submitPayment(t, withAmount(strconv.Itoa(1000+i)+".00"), withCreditor(name, "9000"+strconv.Itoa(i)))
		if i%3 != 0 && i >= 1 && i <= 12 {
			want = append(want, p.ID) // Acme, 1001.00 to 1012.00 CNY
		}
		b.submitPayment(t, usd, withAmount("1005.00"), withCreditor("Acme", "80000")) // in dollars
	}
	require.Len(t, want, 8)
	for _, limit := range []int{1, 2, 3, 7, 8} {
		t.Run("limit "+strconv.Itoa(limit), func(t *testing.T) {
			var seen []string
			f := httpapi.PaymentFilter{CustomerID: b.customer.ID, Currency: "CNY", AmountMin: 100100, AmountMax: 101200,
				Counterparty: "ACME", Limit: limit}
			for pages := 0; ; pages++ {
				require.Less(t, pages, 20, "pagination does not end")
				page, err := b.store.PaymentList(ctx, f)
				require.NoError(t, err)
				seen = append(seen, paymentIDs(page)...)
				if len(page) < limit {
					break
				}
				f.After = page[len(page)-1].ID
			}
			require.Equal(t, want, seen, "every match exactly once, in creation order")
		})
	}
}

func TestPaymentListSearchRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	long := ""
	for range httpapi.MaxCounterparty + 1 {
		long += "名"
	}
	for _, tc := range []struct {
		name  string
		f     httpapi.PaymentFilter
		field string
	}{
		{"id that is no uuid", httpapi.PaymentFilter{ID: "1 OR 1=1"}, "id"},
		{"unknown currency", httpapi.PaymentFilter{Currency: "XYZ"}, "currency"},
		{"lower-case currency", httpapi.PaymentFilter{Currency: "cny"}, "currency"},
		{"amount from without currency", httpapi.PaymentFilter{AmountMin: 100}, "amount_min"},
		{"amount to without currency", httpapi.PaymentFilter{AmountMax: 100}, "amount_max"},
		{"negative amount from", httpapi.PaymentFilter{Currency: "CNY", AmountMin: -1}, "amount_min"},
		{"negative amount", httpapi.PaymentFilter{Currency: "CNY", AmountMax: -1}, "amount_max"},
		{"range backwards", httpapi.PaymentFilter{Currency: "CNY", AmountMin: 200, AmountMax: 100}, "amount_max"},
		{"counterparty with NUL", httpapi.PaymentFilter{Counterparty: "a\x00b"}, "counterparty"},
		{"counterparty not UTF-8", httpapi.PaymentFilter{Counterparty: "\xff"}, "counterparty"},
		{"counterparty too long", httpapi.PaymentFilter{Counterparty: long}, "counterparty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.store.PaymentList(ctx, tc.f)
			require.Equal(t, payment.CodeInvalidInput, payment.ErrorCode(err), "got %v", err)
			var pe *payment.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.field, pe.Field)
		})
	}
	_, err := b.store.PaymentList(ctx, httpapi.PaymentFilter{CustomerID: b.customer.ID, Counterparty: long[:len(long)-len("名")]})
	require.NoError(t, err, "70 characters are accepted")
}
