package payment

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strconv"
	"time"
)

// MaxDaysAhead is how far in the future an execution date may be.
const MaxDaysAhead = 90

// ActorKind says who acted: an upstream system, a person, or b2bpay itself.
type ActorKind string

// The kinds of actor.
const (
	ActorUpstream ActorKind = "upstream"
	ActorUser     ActorKind = "user"
	ActorSystem   ActorKind = "system"
)

// Actor is who did something to a payment.
type Actor struct {
	Kind ActorKind `json:"kind"`
	ID   string    `json:"id"`
}

// String renders an actor as kind:id.
func (a Actor) String() string { return string(a.Kind) + ":" + a.ID }

// Payment is one payment of one order, from request to interbank file.
type Payment struct {
	ID            string
	UpstreamID    string
	RequestID     string
	OrderRef      string
	CustomerID    string
	ApplicantID   string
	BankID        string
	DebtorAccount string
	Creditor      Creditor
	AmountMinor   int64
	Currency      string
	Remittance    string
	ExecutionDate time.Time
	State         State
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// Version counts state changes; stores use it to guard updates.
	Version int
	// RequiredAuthorizers is how many distinct authorizers the payment
	// needs, fixed at intake from the customer's approval tiers.
	RequiredAuthorizers int
	// HeadHash is the hash of the last timeline entry: the head of the
	// payment's tamper-evident chain.
	HeadHash []byte
}

// Entry is one line of a payment's timeline: who did what, when, and from
// which state to which. Timelines are append-only.
type Entry struct {
	PaymentID string
	Seq       int
	At        time.Time
	Actor     Actor
	Action    Action
	From      State
	To        State
	Code      Code
	Note      string
	// PrevHash is the previous entry's Hash (empty for the first entry);
	// Hash covers PrevHash and every field above, so changing, removing
	// or reordering an entry breaks the chain.
	PrevHash []byte
	Hash     []byte
	// OTPStep is the TOTP time step a decision consumed (0 for none).
	OTPStep int64
	// MAC binds the entry to the payment's content digest with a key the
	// database never holds (package seal); the store sets it.
	MAC []byte
}

// ComputeHash returns the hash of e chained to e.PrevHash.
func (e Entry) ComputeHash() []byte {
	h := sha256.New()
	h.Write(e.PrevHash)
	for _, f := range []string{
		"b2bpay.timeline.v1", e.PaymentID, strconv.Itoa(e.Seq), e.At.UTC().Format(time.RFC3339Nano),
		string(e.Actor.Kind), e.Actor.ID, string(e.Action), string(e.From), string(e.To), string(e.Code), e.Note,
	} {
		h.Write([]byte{0})
		h.Write([]byte(f))
	}
	return h.Sum(nil)
}

// VerifyChain checks a payment's timeline, in order, against its head
// hash. It returns the sequence number of the first entry that does not
// match (0 when the chain is intact) and why.
func VerifyChain(entries []Entry, head []byte) (int, string) {
	var prev []byte
	for i, e := range entries {
		switch {
		case e.Seq != i+1:
			return i + 1, fmt.Sprintf("entry %d is missing (found %d in its place)", i+1, e.Seq)
		case !bytes.Equal(e.PrevHash, prev):
			return e.Seq, "its link to the previous entry is broken"
		case !bytes.Equal(e.Hash, e.ComputeHash()):
			return e.Seq, "its content does not match its hash"
		}
		prev = e.Hash
	}
	if !bytes.Equal(prev, head) {
		return len(entries) + 1, "the chain does not end at the payment's head hash (an entry was removed or added)"
	}
	return 0, ""
}

// Apply moves p by action, if the state machine allows it, and returns the
// timeline entry that records the move.
func (p *Payment) Apply(action Action, actor Actor, at time.Time, note string) (Entry, error) {
	return p.apply(action, actor, at, note, "")
}

// ApplyCoded is Apply for a move that carries a code in its entry (the
// reason code of a returned payment, the stage of a rejection).
func (p *Payment) ApplyCoded(action Action, actor Actor, at time.Time, note string, code Code) (Entry, error) {
	return p.apply(action, actor, at, note, code)
}

// apply is Apply with the code the entry records (a rejection's stage).
func (p *Payment) apply(action Action, actor Actor, at time.Time, note string, code Code) (Entry, error) {
	to, err := Next(p.State, action)
	if err != nil {
		return Entry{}, fmt.Errorf("payment %s: %w", p.ID, err)
	}
	// Microseconds: what PostgreSQL keeps, so the hash survives storage.
	at = at.UTC().Truncate(time.Microsecond)
	e := Entry{
		PaymentID: p.ID, Seq: p.Version + 1, At: at, Actor: actor,
		Action: action, From: p.State, To: to, Code: code, Note: note, PrevHash: p.HeadHash,
	}
	e.Hash = e.ComputeHash()
	p.State, p.UpdatedAt, p.Version, p.HeadHash = to, at, p.Version+1, e.Hash
	return e, nil
}

// IntakeFacts is what intake knows from the registry about a request, read
// in the same transaction that stores the payment. A nil pointer means the
// record does not exist.
type IntakeFacts struct {
	Customer  *Customer
	Bank      *Bank
	Account   *Account
	Applicant *User
	// OrderHeld is true when another payment holds the same order reference.
	OrderHeld bool
	// Tiers is the customer's approval policy.
	Tiers []Tier
}

// Admit applies the seed's intake rules to a decoded request from an
// authenticated upstream and, when every rule passes, returns the new
// payment (awaiting its applicant's confirmation) and its first timeline
// entries. A refusal is an *Error that says which rule failed.
func Admit(id string, up Upstream, r Request, f IntakeFacts, now time.Time, loc *time.Location) (*Payment, []Entry, error) {
	if err := admissible(up, r, f, now, loc); err != nil {
		return nil, nil, err
	}
	p := &Payment{
		ID: id, UpstreamID: up.ID, RequestID: r.RequestID, OrderRef: r.OrderRef,
		CustomerID: r.CustomerID, ApplicantID: r.Applicant, BankID: r.BankID,
		DebtorAccount: r.DebtorAccount, Creditor: r.Creditor,
		AmountMinor: r.AmountMinor, Currency: r.Currency, Remittance: r.Remittance,
		ExecutionDate: r.Execution, CreatedAt: now.UTC().Truncate(time.Microsecond),
	}
	var tiers []Tier
	for _, t := range f.Tiers {
		if t.Currency == r.Currency {
			tiers = append(tiers, t)
		}
	}
	p.RequiredAuthorizers = RequiredAuthorizers(r.AmountMinor, tiers)
	by := Actor{Kind: ActorUpstream, ID: up.ID}
	received, err := p.Apply(ActionReceive, by, now, "request "+r.RequestID)
	if err != nil {
		return nil, nil, err
	}
	asked, err := p.Apply(ActionRequestConfirmation, Actor{Kind: ActorSystem, ID: "intake"}, now, "awaiting OTP confirmation by "+r.Applicant)
	if err != nil {
		return nil, nil, err
	}
	return p, []Entry{received, asked}, nil
}

// admissible checks the rules in the order a person would read the refusal.
func admissible(up Upstream, r Request, f IntakeFacts, now time.Time, loc *time.Location) error {
	switch {
	case !up.Active:
		return Errorf(CodeUnauthenticated, "upstream %s is disabled", up.ID)
	case f.Customer == nil:
		return FieldErrorf(CodeUnknownCustomer, "customer_id", "customer %s is not registered", r.CustomerID)
	case !up.Serves(r.CustomerID):
		return FieldErrorf(CodeUpstreamNotPermitted, "customer_id", "upstream %s is not registered to submit for customer %s", up.ID, r.CustomerID)
	case !f.Customer.Active || !f.Customer.OnlinePayment:
		return FieldErrorf(CodeCustomerNotEnabled, "customer_id", "customer %s is not enabled for online payment", r.CustomerID)
	case f.Bank == nil:
		return FieldErrorf(CodeUnknownBank, "bank_id", "bank %s is not in the registry", r.BankID)
	case !f.Bank.B2B:
		return FieldErrorf(CodeBankNotB2B, "bank_id", "bank %s does not offer B2B online payment", r.BankID)
	case f.Account == nil || f.Account.CustomerID != r.CustomerID || f.Account.BankID != r.BankID:
		return FieldErrorf(CodeUnknownAccount, "debtor_account", "account %s at bank %s is not an account of customer %s", r.DebtorAccount, r.BankID, r.CustomerID)
	case !f.Account.Active:
		return FieldErrorf(CodeUnknownAccount, "debtor_account", "account %s is closed", r.DebtorAccount)
	case f.Account.Currency != r.Currency:
		return FieldErrorf(CodeCurrencyMismatch, "currency", "account %s holds %s, the request is in %s", r.DebtorAccount, f.Account.Currency, r.Currency)
	case f.Applicant == nil || f.Applicant.CustomerID != r.CustomerID:
		return FieldErrorf(CodeUnknownApplicant, "applicant", "%s is not a user of customer %s", r.Applicant, r.CustomerID)
	case !f.Applicant.Active || !f.Applicant.Has(RoleApplicant):
		return FieldErrorf(CodeApplicantNotAllowed, "applicant", "%s is not an active applicant", r.Applicant)
	case f.OrderHeld:
		return FieldErrorf(CodeOrderInUse, "order_ref", "order %s is already being paid online; one order, one payment", r.OrderRef)
	}
	return checkExecutionDate(r.Execution, now, loc)
}

// checkExecutionDate refuses dates before today or more than MaxDaysAhead
// after it, "today" being the date in the customer's time zone.
func checkExecutionDate(d, now time.Time, loc *time.Location) error {
	y, m, day := now.In(loc).Date()
	today := time.Date(y, m, day, 0, 0, 0, 0, time.UTC)
	switch {
	case d.Before(today):
		return FieldErrorf(CodeInvalidDate, "execution_date", "%s is in the past (today is %s)", d.Format(DateLayout), today.Format(DateLayout))
	case d.After(today.AddDate(0, 0, MaxDaysAhead)):
		return FieldErrorf(CodeInvalidDate, "execution_date", "%s is more than %d days ahead", d.Format(DateLayout), MaxDaysAhead)
	}
	return nil
}
