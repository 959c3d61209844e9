package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// listAnswer is the answer of GET /v1/payments: payments without their
// timelines, and the cursor of the next page ("" when there is none).
type listAnswer struct {
	Payments []paymentView `json:"payments"`
	Next     string        `json:"next"`
}

// The query parameters of GET /v1/payments.
const (
	paramOrderRef     = "order_ref"
	paramUpstreamID   = "upstream_id"
	paramState        = "state"
	paramCreatedFrom  = "created_from"
	paramCreatedTo    = "created_to"
	paramLimit        = "limit"
	paramAfter        = "after"
	paramID           = "id"
	paramCurrency     = "currency"
	paramAmountMin    = "amount_min"
	paramAmountMax    = "amount_max"
	paramCounterparty = "counterparty"
)

var listParams = []string{paramID, paramOrderRef, paramUpstreamID, paramState, paramCurrency, paramAmountMin, paramAmountMax,
	paramCounterparty, paramCreatedFrom, paramCreatedTo, paramLimit, paramAfter}

// listQuery is a parsed GET /v1/payments.
type listQuery struct {
	// byOrder is set for an order lookup: order_ref and upstream_id and
	// nothing else. Every payment of the order comes back, newest first.
	byOrder bool
	filter  PaymentFilter
}

// paymentList answers GET /v1/payments: the payments of one order, or one
// page of the payments a filter selects, always of the user's customer only.
func (a *api) paymentList(w http.ResponseWriter, r *http.Request) {
	who := principalFrom(r.Context())
	q, err := parseListQuery(r.URL.RawQuery, a.cfg.Location)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if q.byOrder {
		ps, err := a.store.PaymentGetByOrder(r.Context(), q.filter.UpstreamID, q.filter.OrderRef)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		ps = slices.DeleteFunc(ps, func(p *payment.Payment) bool { return p.CustomerID != who.CustomerID })
		writeJSON(w, http.StatusOK, listAnswer{Payments: viewPayments(ps, a.cfg.Location)})
		return
	}
	q.filter.CustomerID = who.CustomerID
	ps, err := a.store.PaymentList(r.Context(), q.filter)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ans := listAnswer{Payments: viewPayments(ps, a.cfg.Location)}
	if len(ps) > 0 && len(ps) == q.filter.Limit {
		// A full page: there may be more. The last page may come back empty.
		ans.Next = ps[len(ps)-1].ID
	}
	writeJSON(w, http.StatusOK, ans)
}

// parseListQuery reads the query of GET /v1/payments, refusing unknown
// parameters, repeated ones (but state), empty values, unknown states, bad
// times and limits out of range, and bad search values (parseSearch).
func parseListQuery(raw string, loc *time.Location) (listQuery, error) {
	values, err := queryValues(raw, listParams, paramState)
	if err != nil {
		return listQuery{}, err
	}
	if err := checkListText(values); err != nil {
		return listQuery{}, err
	}
	q := listQuery{filter: PaymentFilter{
		OrderRef:   values.Get(paramOrderRef),
		UpstreamID: values.Get(paramUpstreamID),
		After:      values.Get(paramAfter),
		Limit:      DefaultPageSize,
	}}
	if q.filter.OrderRef != "" && q.filter.UpstreamID != "" {
		if len(values) > 2 {
			return listQuery{}, payment.Errorf(payment.CodeInvalidInput,
				"an order lookup (order_ref with upstream_id) returns every payment of the order and takes no other parameter")
		}
		q.byOrder = true
		return q, nil
	}
	for _, s := range values[paramState] {
		st := payment.State(s)
		if !st.Valid() {
			return listQuery{}, payment.FieldErrorf(payment.CodeInvalidInput, paramState, "%q is not a payment state; states are %s",
				payment.Clip(s, 64), stateNames())
		}
		q.filter.States = append(q.filter.States, st)
	}
	if v := values.Get(paramCreatedFrom); v != "" {
		if q.filter.CreatedFrom, err = parseTime(paramCreatedFrom, v, loc, false); err != nil {
			return listQuery{}, err
		}
	}
	if v := values.Get(paramCreatedTo); v != "" {
		if q.filter.CreatedTo, err = parseTime(paramCreatedTo, v, loc, true); err != nil {
			return listQuery{}, err
		}
	}
	if v := values.Get(paramLimit); v != "" {
		if q.filter.Limit, err = parseLimit(v); err != nil {
			return listQuery{}, err
		}
	}
	if err := parseSearch(values, &q.filter); err != nil {
		return listQuery{}, err
	}
	return q, nil
}

// checkListText refuses the text parameters the database could not
// compare: an upstream id outside the identifier alphabet, an order
// reference with invalid UTF-8 or a control character, a cursor that is
// not a canonical UUID.
func checkListText(values url.Values) error {
	if v := values.Get(paramUpstreamID); v != "" {
		if err := checkID(paramUpstreamID, v, "an upstream id"); err != nil {
			return err
		}
	}
	if v := values.Get(paramOrderRef); v != "" {
		if err := checkText(paramOrderRef, v); err != nil {
			return err
		}
	}
	if v := values.Get(paramAfter); v != "" {
		return checkPaymentID(paramAfter, v)
	}
	return nil
}

// parseTime reads a time bound: an RFC 3339 time, or a date in the
// customer's zone meaning its start (for created_from) or its whole day
// (for created_to, whose bound is exclusive: the next day's start).
func parseTime(name, v string, loc *time.Location, wholeDay bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	// An unencoded "+08:00" arrives as " 08:00": read it as meant.
	if t, err := time.Parse(time.RFC3339Nano, strings.Replace(v, " ", "+", 1)); err == nil {
		return t, nil
	}
	if d, err := time.ParseInLocation(payment.DateLayout, v, loc); err == nil {
		if wholeDay {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	return time.Time{}, payment.FieldErrorf(payment.CodeInvalidInput, name,
		"%q is neither an RFC 3339 time (2026-03-10T09:30:00+08:00) nor a date (2026-03-10)", payment.Clip(v, 64))
}

// stateNames lists the payment states for messages.
func stateNames() string {
	names := make([]string, len(payment.States))
	for i, st := range payment.States {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}
