package httpapi

import (
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// Page sizes of the Store's PaymentList.
const (
	// DefaultPageSize is the page size when PaymentFilter.Limit is zero.
	DefaultPageSize = 50
	// MaxPageSize is the largest PaymentFilter.Limit accepted.
	MaxPageSize = 500
	// MaxCounterparty is the longest PaymentFilter.Counterparty accepted,
	// in characters.
	MaxCounterparty = 70
)

// PaymentFilter selects payments for Store.PaymentList. Every field set narrows
// the selection; zero values leave it open.
type PaymentFilter struct {
	// CustomerID keeps the payments of one customer. The API always sets it
	// for users, who see their own customer's payments only; "" means any
	// customer, for operators.
	CustomerID string
	// ID keeps the one payment of that id.
	ID string
	// UpstreamID and OrderRef keep the payments of one upstream and of one
	// order reference.
	UpstreamID, OrderRef string
	// Currency keeps the payments in one ISO 4217 currency.
	Currency string
	// AmountMin and AmountMax (both inclusive, minor units of Currency,
	// which they need) bound the amount; zero leaves that end open.
	AmountMin, AmountMax int64
	// Counterparty keeps the payments whose creditor's name contains it,
	// ignoring case, or whose creditor account is exactly it (1 to
	// MaxCounterparty characters; LIKE's metacharacters match themselves).
	Counterparty string
	// States keeps payments in any of these states.
	States []payment.State
	// CreatedFrom (inclusive) and CreatedTo (exclusive) bound the creation
	// time; a zero time leaves that end open.
	CreatedFrom, CreatedTo time.Time
	// Limit is the page size: DefaultPageSize when zero, at most MaxPageSize.
	Limit int
	// After is the keyset cursor: the id of the last payment of the
	// previous page. Ids are UUIDv7, so id order is creation order.
	After string
}
