package console

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/b2bpay/b2bpay/admin"
	"github.com/b2bpay/b2bpay/payment"
)

// The administration area's forms: proposals (each with a reason) and the
// decisions of another administrator's changes.

// adminPropose records a proposal of the form named in the path (roles,
// limit, tier, active) and goes back to the page, which says the change
// waits for a second administrator; a refusal is shown on the page, the
// form filled again.
func (c *Console) adminPropose(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	form := r.PathValue("form")
	p, err := proposalOf(form, r.PostForm)
	if err == nil {
		_, err = c.cfg.Admin.Propose(r.Context(), sessionFrom(r.Context()).UserID, p, r.PostFormValue("reason"))
	}
	if err != nil {
		if !payment.IsRefusal(err) {
			c.adminFail(w, r, err)
			return
		}
		d := &adminData{Form: form, Posted: r.PostForm}
		c.showAdmin(w, r, adminStatus(err), view{Error: l.Refusal(err)}, "", d)
		return
	}
	back := "/admin?done=proposed"
	if u := p.User(); u != "" {
		back += "&user=" + url.QueryEscape(u)
	}
	http.Redirect(w, r, back+"#pending", http.StatusSeeOther)
}

// adminDecide approves or rejects a change (verdict approve or reject,
// with a reason; a rejection needs one). The service refuses the proposer
// and the user the change is about; the page says so in words.
func (c *Console) adminDecide(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	var approve bool
	switch r.PostFormValue("verdict") {
	case "approve":
		approve = true
	case "reject":
	default:
		c.showAdmin(w, r, http.StatusBadRequest, view{Error: l.T("err.input") + l.T("admin.err.verdict")}, "", nil)
		return
	}
	id := r.PathValue("id")
	_, err := c.cfg.Admin.Decide(r.Context(), sessionFrom(r.Context()).UserID, id, approve, r.PostFormValue("reason"))
	if err != nil {
		if !payment.IsRefusal(err) {
			c.adminFail(w, r, err)
			return
		}
		c.showAdmin(w, r, adminStatus(err), view{Error: l.Refusal(err)}, "", nil)
		return
	}
	done := "rejected"
	if approve {
		done = "approved"
	}
	http.Redirect(w, r, "/admin?done="+done+"#decided", http.StatusSeeOther)
}

// proposalOf reads a proposal form; the service checks every value again.
func proposalOf(form string, v url.Values) (admin.Proposal, error) {
	user := strings.TrimSpace(v.Get("user"))
	currency := strings.ToUpper(strings.TrimSpace(v.Get("currency")))
	switch form {
	case "roles":
		p := admin.Proposal{Kind: admin.KindRoles, UserID: user}
		for _, r := range v["role"] {
			p.Roles = append(p.Roles, payment.Role(r))
		}
		return p, nil
	case "limit":
		if err := payment.ValidCurrency(currency); err != nil {
			return admin.Proposal{}, err
		}
		minor, err := amountOf(v.Get("amount"), currency, false)
		if err != nil {
			return admin.Proposal{}, err
		}
		return admin.Proposal{Kind: admin.KindLimit, UserID: user, Currency: currency, MaxMinor: minor}, nil
	case "tier":
		if err := payment.ValidCurrency(currency); err != nil {
			return admin.Proposal{}, err
		}
		above, err := amountOf(v.Get("above"), currency, true)
		if err != nil {
			return admin.Proposal{}, err
		}
		n, err := strconv.Atoi(strings.TrimSpace(v.Get("authorizers")))
		if err != nil {
			return admin.Proposal{}, payment.FieldErrorf(payment.CodeInvalidInput, "authorizers", "the number of authorizers must be a whole number from 1 to 5")
		}
		return admin.Proposal{Kind: admin.KindTier, Currency: currency, AboveMinor: above, Authorizers: n}, nil
	case "active":
		switch v.Get("active") {
		case "true":
			return admin.Proposal{Kind: admin.KindActive, UserID: user, Active: true}, nil
		case "false":
			return admin.Proposal{Kind: admin.KindActive, UserID: user, Active: false}, nil
		}
		return admin.Proposal{}, payment.FieldErrorf(payment.CodeInvalidInput, "active", "choose enable or disable")
	}
	return admin.Proposal{}, payment.Errorf(payment.CodeInvalidInput, "there is no form %q", clip(form, 20))
}

var (
	// grouped is an amount with thousands separators: 1,000,000.00.
	grouped = regexp.MustCompile(`^[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$`)
	zero    = regexp.MustCompile(`^0(\.0+)?$`)
)

// amountOf parses an amount typed as "500000.00" (or grouped,
// "500,000.00") into minor units with payment.ParseAmount; zero is
// allowed only where orZero says (a tier above 0 is every payment).
func amountOf(s, currency string, orZero bool) (int64, error) {
	s = strings.TrimSpace(s)
	if grouped.MatchString(s) {
		s = strings.ReplaceAll(s, ",", "")
	}
	if orZero && zero.MatchString(s) {
		return 0, nil
	}
	return payment.ParseAmount(s, currency)
}
