package payment_test

import (
	"testing"
	"time"
	_ "time/tzdata" // Asia/Shanghai on machines without a zoneinfo database

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

const (
	customerID = "CUST-310115000123"
	bankID     = "104100000004"
)

// admitFixture is one intake: the upstream, the decoded request and what the
// registry knows. Every call to newAdmitFixture returns fresh records, so a
// test may change them.
type admitFixture struct {
	up    payment.Upstream
	req   payment.Request
	facts payment.IntakeFacts
}

func newAdmitFixture(t *testing.T) *admitFixture {
	t.Helper()
	r, err := payment.Decode(validSample(t))
	require.NoError(t, err)
	return &admitFixture{
		up: payment.Upstream{
			ID: "erp-sh", Name: "华东机电 ERP", AMQPUser: "erp-sh", Active: true,
			Customers: []string{"CUST-320500000777", customerID},
		},
		req: r,
		facts: payment.IntakeFacts{
			Customer: &payment.Customer{ID: customerID, Name: "江苏恒信精密制造有限公司", OnlinePayment: true, Active: true},
			Bank:     &payment.Bank{ID: bankID, Name: "中国银行", B2B: true},
			Account: &payment.Account{
				Number: "340058712345", BankID: bankID, CustomerID: customerID, Currency: "CNY", Active: true,
			},
			Applicant: &payment.User{
				ID: "zhang.wei", CustomerID: customerID, Name: "张伟",
				Roles: []payment.Role{payment.RoleApplicant}, Active: true,
			},
		},
	}
}

// withDate sets the request's execution date as Decode would.
func (f *admitFixture) withDate(t *testing.T, date string) {
	t.Helper()
	d, err := time.Parse(payment.DateLayout, date)
	require.NoError(t, err)
	f.req.ExecutionDate, f.req.Execution = date, d
}

func shanghai(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	return loc
}

// admitNow is 17:30 on 11 March in UTC and already 01:30 on 12 March in
// Shanghai, so the two zones disagree about "today". The sample's execution
// date, 2026-03-12, is today in Shanghai.
var admitNow = time.Date(2026, 3, 11, 17, 30, 0, 0, time.UTC)

func TestAdmit(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		change func(t *testing.T, f *admitFixture)
		code   payment.Code // "" when the request is admitted
		field  string
	}{
		{"Base", func(*testing.T, *admitFixture) {}, "", ""},
		{"TodayInShanghaiTomorrowInUTC", func(t *testing.T, f *admitFixture) { f.withDate(t, "2026-03-12") }, "", ""},
		{"MaxDaysAhead", func(t *testing.T, f *admitFixture) { f.withDate(t, "2026-06-10") }, "", ""},
		{"ReviewerMayAlsoApply", func(_ *testing.T, f *admitFixture) {
			f.facts.Applicant.Roles = []payment.Role{payment.RoleReviewer, payment.RoleApplicant}
		}, "", ""},

		{"UpstreamDisabled", func(_ *testing.T, f *admitFixture) { f.up.Active = false },
			payment.CodeUnauthenticated, ""},
		{"UnknownCustomer", func(_ *testing.T, f *admitFixture) { f.facts.Customer = nil },
			payment.CodeUnknownCustomer, "customer_id"},
		{"UpstreamNotServingCustomer", func(_ *testing.T, f *admitFixture) { f.up.Customers = []string{"CUST-320500000777"} },
			payment.CodeUpstreamNotPermitted, "customer_id"},
		{"CustomerNotEnabledForOnlinePayment", func(_ *testing.T, f *admitFixture) { f.facts.Customer.OnlinePayment = false },
			payment.CodeCustomerNotEnabled, "customer_id"},
		{"CustomerInactive", func(_ *testing.T, f *admitFixture) { f.facts.Customer.Active = false },
			payment.CodeCustomerNotEnabled, "customer_id"},
		{"UnknownBank", func(_ *testing.T, f *admitFixture) { f.facts.Bank = nil },
			payment.CodeUnknownBank, "bank_id"},
		{"BankWithoutB2B", func(_ *testing.T, f *admitFixture) { f.facts.Bank.B2B = false },
			payment.CodeBankNotB2B, "bank_id"},
		{"UnknownAccount", func(_ *testing.T, f *admitFixture) { f.facts.Account = nil },
			payment.CodeUnknownAccount, "debtor_account"},
		{"AccountOfAnotherCustomer", func(_ *testing.T, f *admitFixture) { f.facts.Account.CustomerID = "CUST-320500000777" },
			payment.CodeUnknownAccount, "debtor_account"},
		{"AccountAtAnotherBank", func(_ *testing.T, f *admitFixture) { f.facts.Account.BankID = "102100099996" },
			payment.CodeUnknownAccount, "debtor_account"},
		{"AccountClosed", func(_ *testing.T, f *admitFixture) { f.facts.Account.Active = false },
			payment.CodeUnknownAccount, "debtor_account"},
		{"CurrencyMismatch", func(_ *testing.T, f *admitFixture) { f.facts.Account.Currency = "USD" },
			payment.CodeCurrencyMismatch, "currency"},
		{"UnknownApplicant", func(_ *testing.T, f *admitFixture) { f.facts.Applicant = nil },
			payment.CodeUnknownApplicant, "applicant"},
		{"ApplicantOfAnotherCustomer", func(_ *testing.T, f *admitFixture) { f.facts.Applicant.CustomerID = "CUST-320500000777" },
			payment.CodeUnknownApplicant, "applicant"},
		{"ApplicantInactive", func(_ *testing.T, f *admitFixture) { f.facts.Applicant.Active = false },
			payment.CodeApplicantNotAllowed, "applicant"},
		{"UserWithoutApplicantRole", func(_ *testing.T, f *admitFixture) {
			f.facts.Applicant.Roles = []payment.Role{payment.RoleReviewer, payment.RoleAuthorizer}
		}, payment.CodeApplicantNotAllowed, "applicant"},
		{"OrderHeld", func(_ *testing.T, f *admitFixture) { f.facts.OrderHeld = true },
			payment.CodeOrderInUse, "order_ref"},
		{"YesterdayInShanghaiTodayInUTC", func(t *testing.T, f *admitFixture) { f.withDate(t, "2026-03-11") },
			payment.CodeInvalidDate, "execution_date"},
		{"LastYear", func(t *testing.T, f *admitFixture) { f.withDate(t, "2025-03-12") },
			payment.CodeInvalidDate, "execution_date"},
		{"MoreThanMaxDaysAhead", func(t *testing.T, f *admitFixture) { f.withDate(t, "2026-06-11") },
			payment.CodeInvalidDate, "execution_date"},
		{"FirstRuleWins", func(_ *testing.T, f *admitFixture) { f.up.Active = false; f.facts.Customer = nil },
			payment.CodeUnauthenticated, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			f := newAdmitFixture(t)
			tt.change(t, f)
			p, entries, err := payment.Admit("pay-1", f.up, f.req, f.facts, admitNow, shanghai(t))
			if tt.code == "" {
				require.NoError(t, err)
				require.NotNil(t, p)
				require.Equal(t, payment.StateAwaitingConfirmation, p.State)
				require.Len(t, entries, 2)
				return
			}
			require.Error(t, err)
			require.Nil(t, p)
			require.Nil(t, entries)
			var e *payment.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.code, e.Code, "error: %v", err)
			require.Equal(t, tt.field, e.Field, "error: %v", err)
		})
	}
}

// TestAdmitAcrossTheYearEnd: in December, next year's dates within the
// window are today's business, not refused as far-off years.
func TestAdmitAcrossTheYearEnd(t *testing.T) {
	t.Parallel()

	now := time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC) // 10:00 in Shanghai
	for date, ok := range map[string]bool{
		"2026-12-06": true, "2026-12-31": true, "2027-01-01": true, "2027-01-05": true,
		"2027-03-06": true, // MaxDaysAhead
		"2027-03-07": false, "2026-12-05": false,
	} {
		t.Run(date, func(t *testing.T) {
			t.Parallel()

			f := newAdmitFixture(t)
			f.withDate(t, date)
			_, _, err := payment.Admit("pay-1", f.up, f.req, f.facts, now, shanghai(t))
			if ok {
				require.NoError(t, err)
				return
			}
			require.Equal(t, payment.CodeInvalidDate, payment.ErrorCode(err), "error: %v", err)
		})
	}
}

func TestAdmitBuildsThePayment(t *testing.T) {
	t.Parallel()

	f := newAdmitFixture(t)
	loc := shanghai(t)
	now := admitNow.In(loc) // the clock may hand out any zone; the payment keeps UTC
	p, entries, err := payment.Admit("pay-1", f.up, f.req, f.facts, now, loc)
	require.NoError(t, err)

	require.Equal(t, &payment.Payment{
		ID:            "pay-1",
		UpstreamID:    "erp-sh",
		RequestID:     "erp-sh-20260310-000123",
		OrderRef:      "PO-2026-0310-8841",
		CustomerID:    customerID,
		ApplicantID:   "zhang.wei",
		BankID:        bankID,
		DebtorAccount: "340058712345",
		Creditor: payment.Creditor{
			Name: "上海华东机电设备有限公司", Account: "31001520313050012345", BankID: "105290036005",
		},
		AmountMinor:   128640050,
		Currency:      "CNY",
		Remittance:    "采购合同 HT-2026-0215 第二期货款",
		ExecutionDate: time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC),
		State:         payment.StateAwaitingConfirmation,
		CreatedAt:     admitNow,
		UpdatedAt:     admitNow,
		Version:       2,
		// No tiers: one authorizer.
		RequiredAuthorizers: 1,
		HeadHash:            entries[1].Hash,
	}, p)
	n, why := payment.VerifyChain(entries, p.HeadHash)
	require.Zero(t, n, why)
	require.Equal(t, time.UTC, p.CreatedAt.Location())
	require.Equal(t, time.UTC, p.UpdatedAt.Location())

	require.Len(t, entries, 2)
	received, asked := entries[0], entries[1]

	require.Equal(t, "pay-1", received.PaymentID)
	require.Equal(t, 1, received.Seq)
	require.Equal(t, admitNow, received.At)
	require.Equal(t, payment.Actor{Kind: payment.ActorUpstream, ID: "erp-sh"}, received.Actor)
	require.Equal(t, payment.ActionReceive, received.Action)
	require.Equal(t, payment.StateNone, received.From)
	require.Equal(t, payment.StateReceived, received.To)
	require.Contains(t, received.Note, "erp-sh-20260310-000123")

	require.Equal(t, "pay-1", asked.PaymentID)
	require.Equal(t, 2, asked.Seq)
	require.Equal(t, admitNow, asked.At)
	require.Equal(t, payment.ActorSystem, asked.Actor.Kind)
	require.NotEmpty(t, asked.Actor.ID)
	require.Equal(t, payment.ActionRequestConfirmation, asked.Action)
	require.Equal(t, payment.StateReceived, asked.From)
	require.Equal(t, payment.StateAwaitingConfirmation, asked.To)
	require.Contains(t, asked.Note, "zhang.wei")

	// The answer to the upstream reports the new payment.
	ev := payment.AcceptedEvent(p, now)
	require.Equal(t, payment.EventAccepted, ev.Kind)
	require.Equal(t, "erp-sh/erp-sh-20260310-000123/answer", ev.ID)
	require.Equal(t, payment.StateAwaitingConfirmation, ev.State)
	require.Equal(t, admitNow, ev.At)
}
