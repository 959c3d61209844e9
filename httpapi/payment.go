package httpapi

import (
	"net/http"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// paymentView is a payment as the API shows it.
type paymentView struct {
	ID                  string        `json:"id"`
	State               payment.State `json:"state"`
	UpstreamID          string        `json:"upstream_id"`
	RequestID           string        `json:"request_id"`
	OrderRef            string        `json:"order_ref"`
	CustomerID          string        `json:"customer_id"`
	ApplicantID         string        `json:"applicant_id"`
	Amount              string        `json:"amount"` // exact decimal, never a JSON number
	Currency            string        `json:"currency"`
	Debtor              debtorView    `json:"debtor"`
	Creditor            creditorView  `json:"creditor"`
	RemittanceInfo      string        `json:"remittance_info"`
	ExecutionDate       string        `json:"execution_date"` // YYYY-MM-DD, a business date
	RequiredAuthorizers int           `json:"required_authorizers"`
	CreatedAt           time.Time     `json:"created_at"`
	UpdatedAt           time.Time     `json:"updated_at"`
	// Digest is the content digest approvers are shown and approve.
	Digest string `json:"digest"`
}

type debtorView struct {
	BankID  string `json:"bank_id"`
	Account string `json:"account"`
}

type creditorView struct {
	Name    string `json:"name"`
	Account string `json:"account"`
	BankID  string `json:"bank_id"`
}

// entryView is one line of a timeline as the API shows it. From is ""
// for the entry that created the payment; Code is "" unless the move has
// one (a rejection's).
type entryView struct {
	Seq    int            `json:"seq"`
	At     time.Time      `json:"at"`
	Actor  payment.Actor  `json:"actor"`
	Action payment.Action `json:"action"`
	From   payment.State  `json:"from"`
	To     payment.State  `json:"to"`
	Code   payment.Code   `json:"code"`
	Note   string         `json:"note"`
}

// paymentAnswer is the answer of GET /v1/payments/{id}.
type paymentAnswer struct {
	Payment  paymentView `json:"payment"`
	Timeline []entryView `json:"timeline"`
}

// viewPayment renders p with its times in loc.
func viewPayment(p *payment.Payment, loc *time.Location) paymentView {
	return paymentView{
		ID:                  p.ID,
		State:               p.State,
		UpstreamID:          p.UpstreamID,
		RequestID:           p.RequestID,
		OrderRef:            p.OrderRef,
		CustomerID:          p.CustomerID,
		ApplicantID:         p.ApplicantID,
		Amount:              payment.FormatAmount(p.AmountMinor, p.Currency),
		Currency:            p.Currency,
		Debtor:              debtorView{BankID: p.BankID, Account: p.DebtorAccount},
		Creditor:            creditorView{Name: p.Creditor.Name, Account: p.Creditor.Account, BankID: p.Creditor.BankID},
		RemittanceInfo:      p.Remittance,
		ExecutionDate:       p.ExecutionDate.Format(payment.DateLayout),
		RequiredAuthorizers: p.RequiredAuthorizers,
		CreatedAt:           p.CreatedAt.In(loc),
		UpdatedAt:           p.UpdatedAt.In(loc),
		Digest:              p.Digest(),
	}
}

// viewTimeline renders a timeline with its times in loc.
func viewTimeline(tl []payment.Entry, loc *time.Location) []entryView {
	out := make([]entryView, len(tl))
	for i, e := range tl {
		out[i] = entryView{
			Seq: e.Seq, At: e.At.In(loc), Actor: e.Actor, Action: e.Action,
			From: e.From, To: e.To, Code: e.Code, Note: e.Note,
		}
	}
	return out
}

// viewPayments renders a list of payments; never null in JSON.
func viewPayments(ps []*payment.Payment, loc *time.Location) []paymentView {
	out := make([]paymentView, len(ps))
	for i, p := range ps {
		out[i] = viewPayment(p, loc)
	}
	return out
}

// errPaymentNotFound is the one answer for a payment that does not exist
// and for one of another customer: the two must look the same.
var errPaymentNotFound = payment.Errorf(payment.CodeNotFound, "no such payment")

// paymentGet answers GET /v1/payments/{id}: the payment and its whole
// timeline, read now (nothing is cached). Another customer's payment is
// answered exactly like one that does not exist.
func (a *api) paymentGet(w http.ResponseWriter, r *http.Request) {
	who := principalFrom(r.Context())
	id := r.PathValue("id")
	if checkPaymentID("id", id) != nil {
		// Not a payment id in the form ids take: like every other id
		// that names no payment of the user's customer.
		a.fail(w, r, errPaymentNotFound)
		return
	}
	p, err := a.store.PaymentGetByID(r.Context(), id)
	switch {
	case payment.ErrorCode(err) == payment.CodeNotFound:
		a.fail(w, r, errPaymentNotFound)
		return
	case err != nil:
		a.fail(w, r, err)
		return
	case p.CustomerID != who.CustomerID:
		a.fail(w, r, errPaymentNotFound)
		return
	}
	tl, err := a.store.PaymentTimeline(r.Context(), p.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// The payment may have moved between the two reads. The timeline is
	// append-only and entry n is the move to version n, so keeping the
	// entries up to the payment's version shows one consistent moment.
	if p.Version > 0 {
		for len(tl) > 0 && tl[len(tl)-1].Seq > p.Version {
			tl = tl[:len(tl)-1]
		}
	}
	writeJSON(w, http.StatusOK, paymentAnswer{
		Payment:  viewPayment(p, a.cfg.Location),
		Timeline: viewTimeline(tl, a.cfg.Location),
	})
}
