package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/staff"
)

// Query (seed step 16): search the customer's payments by order
// reference, id, state, date range, amount range and counterparty
// through the API's GET /v1/payments, page by page, and download a result
// as CSV.

const (
	queryPage = 50
	// csvMax is the most rows one download holds; a narrower search
	// gets the rest.
	csvMax = 10000
)

type queryData struct {
	Q       staff.PaymentQuery
	Asked   bool
	Items   []staff.PaymentView
	Next    string
	CSV     string
	NextURL string
	States  []payment.State
}

func (c *Console) routesQuery() {
	c.mux.HandleFunc("GET /query", c.signedIn(c.query))
	c.mux.HandleFunc("GET /query.csv", c.signedIn(c.queryCSV))
}

// queryOf reads the search form (the API checks every value and names
// the field at fault).
func queryOf(v url.Values) staff.PaymentQuery {
	g := func(k string) string { return clip(strings.TrimSpace(v.Get(k)), 128) }
	return staff.PaymentQuery{ID: g("id"), OrderRef: g("order_ref"), State: g("state"), Currency: strings.ToUpper(g("currency")),
		AmountMin: g("amount_min"), AmountMax: g("amount_max"), Counterparty: g("counterparty"), From: g("created_from"),
		To: g("created_to"), After: g("after")}
}

func (c *Console) query(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	q := queryOf(r.URL.Query())
	d := queryData{Q: q, States: []payment.State{payment.StateAwaitingConfirmation, payment.StateAwaitingReview,
		payment.StateAwaitingAuthorization, payment.StateAuthorized, payment.StateExported, payment.StateSettled,
		payment.StateRejected, payment.StateCancelled, payment.StateExpired, payment.StateReturned, payment.StateHeld}}
	v := view{Title: l.T("q.title"), Nav: "query", Data: &d}
	if r.URL.Query().Get("search") == "" && len(r.URL.Query()) == 0 {
		c.render(w, r, http.StatusOK, "query", v)
		return
	}
	d.Asked = true
	q.Limit = queryPage
	items, next, err := staff.SearchPayments(r.Context(), c.base, sessionFrom(r.Context()).Session, q)
	if err != nil {
		if msg, ok := inputProblem(err); ok {
			v.Error = l.T("err.input") + msg
			c.render(w, r, http.StatusBadRequest, "query", v)
			return
		}
		c.apiFail(w, r, err)
		return
	}
	d.Items, d.Next = items, next
	values := q.Values()
	values.Del("after")
	values.Del("limit")
	d.CSV = "/query.csv?" + values.Encode()
	if next != "" {
		values.Set("after", next)
		values.Set("search", "1")
		d.NextURL = "/query?" + values.Encode()
	}
	c.render(w, r, http.StatusOK, "query", v)
}

// queryCSV downloads every payment the search finds, up to csvMax.
func (c *Console) queryCSV(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	q := queryOf(r.URL.Query())
	q.After, q.Limit = "", 500
	var all []staff.PaymentView
	for len(all) < csvMax {
		items, next, err := staff.SearchPayments(r.Context(), c.base, sessionFrom(r.Context()).Session, q)
		if err != nil {
			if msg, ok := inputProblem(err); ok {
				c.fail(w, r, http.StatusBadRequest, l.T("err.input")+msg)
				return
			}
			c.apiFail(w, r, err)
			return
		}
		all = append(all, items...)
		if next == "" {
			break
		}
		q.After = next
	}
	if len(all) > csvMax {
		all = all[:csvMax]
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="b2bpay-payments-%s.csv"`, c.cfg.Now().In(c.cfg.Location).Format("20060102-150405")))
	if err := staff.WritePaymentsCSV(w, all, c.cfg.Location); err != nil {
		c.cfg.Logger.Error("console: CSV", "error", err)
	}
}

// inputProblem is the API's words on a refused search parameter.
func inputProblem(err error) (string, bool) {
	if ae, ok := err.(*staff.APIError); ok && ae.Status == http.StatusBadRequest {
		return ae.Message, true
	}
	return "", false
}
