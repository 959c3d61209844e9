package console

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/b2bpay/b2bpay/admin"
	"github.com/b2bpay/b2bpay/payment"
)

// The administration area (issue 14): a customer's administrators see
// their users, approval tiers and changes, propose changes of roles,
// limits, tiers and whether a user is active, and approve or reject the
// changes another administrator proposed (dual control: admin.Service
// decides; the page shows its refusals in words). OTP enrolment shows the
// new secret's QR code and URI once.

// Administration is the administration area's side; *admin.Service
// implements it.
type Administration interface {
	Users(ctx context.Context, actor string) ([]admin.UserView, error)
	Tiers(ctx context.Context, actor string) ([]admin.TierView, error)
	Changes(ctx context.Context, actor string, limit int) ([]admin.Change, error)
	Propose(ctx context.Context, actor string, p admin.Proposal, reason string) (admin.Change, error)
	Decide(ctx context.Context, actor, changeID string, approve bool, reason string) (admin.Change, error)
	EnrollOTP(ctx context.Context, actor, userID, issuer string) (uri string, qrPNG []byte, err error)
}

var _ Administration = (*admin.Service)(nil)

// otpIssuer names b2bpay in the person's authenticator app, as `b2bpay
// user enroll-otp` does by default.
const otpIssuer = "b2bpay"

// adminData is what the administration page shows.
type adminData struct {
	Me       string
	Users    []admin.UserView
	Tiers    []admin.TierView
	Pending  []admin.Change
	Decided  []admin.Change
	Selected *admin.UserView // the user the forms are filled for (?user=)
	Roles    []payment.Role  // the roles an administrator grants
	Form     string          // the form that was posted and refused, to fill again
	Posted   url.Values
	Expiry   time.Duration
	// OTP enrolment's result, shown once.
	Enrolled string
	URI      string
	Key      string // the URI's secret, for an app that asks for the key
	QR       template.URL
}

// Val is a posted field of form, to fill the form again after a refusal.
func (d *adminData) Val(form, key string) string {
	if d.Form != form || d.Posted == nil {
		return ""
	}
	return d.Posted.Get(key)
}

// Has is whether the selected user holds role r (the roles form starts
// from the user's roles).
func (d *adminData) Has(r payment.Role) bool {
	if d.Form == "roles" && d.Posted != nil {
		return slices.Contains(d.Posted["role"], string(r))
	}
	return d.Selected != nil && slices.Contains(d.Selected.Roles, r)
}

// ExpiryHours is how long a change waits for its second administrator.
func (d *adminData) ExpiryHours() int { return int(d.Expiry.Hours()) }

// ExpiresAt is when a pending change expires.
func (d *adminData) ExpiresAt(c admin.Change) time.Time { return c.ProposedAt.Add(d.Expiry) }

func (c *Console) routesAdmin() {
	c.mux.HandleFunc("GET /admin", c.signedIn(c.adminOnly(c.adminPage)))
	c.mux.HandleFunc("POST /admin/propose/{form}", c.signedIn(c.adminOnly(c.adminPropose)))
	c.mux.HandleFunc("POST /admin/changes/{id}/decide", c.signedIn(c.adminOnly(c.adminDecide)))
	c.mux.HandleFunc("POST /admin/users/{id}/otp", c.signedIn(c.adminOnly(c.adminEnroll)))
}

// adminOnly serves next to the customer's administrators only; the
// service checks the role again on every call.
func (c *Console) adminOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !c.mayAdmin(r) {
			c.fail(w, r, http.StatusForbidden, langOf(r).T("err.role"))
			return
		}
		next(w, r)
	}
}

// adminPage shows the area, with the forms filled for ?user= and the
// outcome of the last step (?done=).
func (c *Console) adminPage(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	v := view{Title: l.T("admin.title"), Nav: "admin"}
	q := r.URL.Query()
	switch q.Get("done") {
	case "proposed":
		v.Note = l.T("admin.done.proposed")
	case "approved":
		v.Note = l.T("admin.done.approved")
	case "rejected":
		v.Note = l.T("admin.done.rejected")
	}
	c.showAdmin(w, r, http.StatusOK, v, q.Get("user"), nil)
}

// showAdmin loads the area for the signed-in administrator and renders it
// with status; d, when not nil, carries a refused form to fill again.
func (c *Console) showAdmin(w http.ResponseWriter, r *http.Request, status int, v view, selected string, d *adminData) {
	me := sessionFrom(r.Context()).UserID
	if d == nil {
		d = &adminData{}
	}
	d.Me, d.Roles, d.Expiry = me, admin.GrantableRoles, admin.Expiry
	users, err := c.cfg.Admin.Users(r.Context(), me)
	var tiers []admin.TierView
	var changes []admin.Change
	if err == nil {
		tiers, err = c.cfg.Admin.Tiers(r.Context(), me)
	}
	if err == nil {
		changes, err = c.cfg.Admin.Changes(r.Context(), me, 0)
	}
	if err != nil {
		c.adminFail(w, r, err)
		return
	}
	d.Users, d.Tiers = users, tiers
	for _, ch := range changes {
		if ch.State == admin.StatePending {
			d.Pending = append(d.Pending, ch)
		} else {
			d.Decided = append(d.Decided, ch)
		}
	}
	if selected == "" && d.Posted != nil {
		selected = d.Posted.Get("user")
	}
	for i := range users {
		if users[i].ID == selected {
			d.Selected = &users[i]
		}
	}
	v.Title, v.Nav, v.Data = langOf(r).T("admin.title"), "admin", d
	c.render(w, r, status, "admin", v)
}

// adminEnroll gives a user a new OTP secret and shows its QR code and URI
// once (the page is never cached: Cache-Control no-store). Replacing an
// enrolled user's secret must be confirmed (field replace).
func (c *Console) adminEnroll(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	me, id := sessionFrom(r.Context()).UserID, r.PathValue("id")
	users, err := c.cfg.Admin.Users(r.Context(), me)
	if err != nil {
		c.adminFail(w, r, err)
		return
	}
	i := slices.IndexFunc(users, func(u admin.UserView) bool { return u.ID == id })
	if i < 0 {
		c.adminFail(w, r, payment.ErrNotFound)
		return
	}
	if users[i].OTPEnrolled && r.PostFormValue("replace") != "1" {
		c.showAdmin(w, r, http.StatusBadRequest, view{Error: l.T("admin.otp.confirm")}, id, nil)
		return
	}
	uri, png, err := c.cfg.Admin.EnrollOTP(r.Context(), me, id, otpIssuer)
	if err != nil {
		c.adminFail(w, r, err)
		return
	}
	var key string
	if u, err := url.Parse(uri); err == nil {
		key = u.Query().Get("secret")
	}
	d := &adminData{Me: me, Enrolled: id, URI: uri, Key: key,
		QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))}
	c.render(w, r, http.StatusOK, "admin", view{Title: l.T("admin.otp.title"), Nav: "admin", Data: d})
}

// adminFail shows a refusal of the service in the person's words with its
// status; anything else is logged and shown as an internal error.
func (c *Console) adminFail(w http.ResponseWriter, r *http.Request, err error) {
	l := langOf(r)
	if !payment.IsRefusal(err) {
		c.cfg.Logger.Error("console: administration", "path", r.URL.Path, "error", err)
		c.fail(w, r, http.StatusInternalServerError, l.T("err.internal"))
		return
	}
	c.fail(w, r, adminStatus(err), l.Refusal(err))
}

// adminStatus is the HTTP status of an administration refusal.
func adminStatus(err error) int {
	switch payment.ErrorCode(err) {
	case payment.CodeWrongRole, payment.CodeDualControl:
		return http.StatusForbidden
	case payment.CodeNotFound:
		return http.StatusNotFound
	case payment.CodeConflict, payment.CodeAlreadyDecided, payment.CodeChangeExpired:
		return http.StatusConflict
	case "":
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// Refusal is a refusal in words: what its code means, then the service's
// own message (which field, which change, who), clipped.
func (l Lang) Refusal(err error) string {
	var pe *payment.Error
	if !errors.As(err, &pe) {
		return l.T("err.internal")
	}
	s := l.AdminCode(pe.Code)
	if pe.Message != "" && pe != payment.ErrNotFound {
		s += " (" + clip(pe.Message, 240) + ")"
	}
	return s
}

// formArgs are what the forms' shared parts (user, reason) get: the page
// and which form they are part of.
type formArgs struct {
	V    view
	Form string
}

// With is the page's view for a form's shared parts.
func (v view) With(form string) formArgs { return formArgs{V: v, Form: form} }
