package console

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/staff"
)

// Sign-in: the password through the API (POST /v1/sessions), whose answer
// says only "wrong user id or password", "throttled" or, after a right
// password, "disabled". The one-time password is asked where a stage
// needs it (confirming, reviewing, authorizing), on the decision itself.

type loginData struct {
	User string
	Pre  string
}

// loginPage shows the sign-in form with a fresh pre-session CSRF token.
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	v := view{Title: l.T("login.title")}
	switch r.URL.Query().Get("why") {
	case "expired":
		v.Note = l.T("login.expired")
	case "revoked":
		v.Note = l.T("login.revoked")
	case "out":
		v.Note = l.T("login.signedout")
	}
	c.showLogin(w, r, http.StatusOK, v, "")
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, v view, user string) {
	pre := randomToken()
	sealed, err := c.seal(pre, preAD)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, langOf(r).T("err.internal"))
		return
	}
	c.setCookie(w, "pre", sealed, time.Time{}, 3600)
	v.Title = langOf(r).T("login.title")
	v.Data = loginData{User: user, Pre: pre}
	c.render(w, r, status, "login", v)
}

// login checks the form's CSRF token, signs in through the API and keeps
// the session in the sealed cookie.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	var pre string
	ck, err := r.Cookie(c.cookieName("pre"))
	if err != nil || c.open(ck.Value, preAD, &pre) != nil || !sameOrigin(r) || !tokenEqual(r.PostFormValue("csrf"), pre) {
		c.forbidden(w, r, session{})
		return
	}
	user, password := strings.TrimSpace(r.PostFormValue("user")), r.PostFormValue("password")
	if user == "" || password == "" || len(user) > 64 || len(password) > 1024 {
		c.showLogin(w, r, http.StatusBadRequest, view{Error: l.T("login.bad")}, clip(user, 64))
		return
	}
	s, err := c.signIn(r, user, password)
	if err != nil {
		status, msg := http.StatusUnauthorized, l.T("login.failed")
		var ae *staff.APIError
		if errors.As(err, &ae) {
			switch payment.Code(ae.Code) {
			case payment.CodeLoginThrottled:
				status, msg = http.StatusTooManyRequests, l.T("login.throttled")
			case payment.CodeUserInactive:
				status, msg = http.StatusForbidden, l.T("login.inactive")
			case payment.CodeLoginFailed, payment.CodeInvalidInput:
			default:
				status, msg = http.StatusServiceUnavailable, l.T("err.internal")
			}
		} else if payment.ErrorCode(err) == payment.CodeLoginThrottled {
			status, msg = http.StatusTooManyRequests, l.T("login.throttled")
		} else {
			c.cfg.Logger.Error("console: sign-in", "error", err)
			status, msg = http.StatusServiceUnavailable, l.T("err.internal")
		}
		c.showLogin(w, r, status, view{Error: msg}, clip(user, 64))
		return
	}
	sealed, err := c.seal(session{Session: s, CSRF: randomToken()}, sessionAD)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, l.T("err.internal"))
		return
	}
	c.setCookie(w, "pre", "", time.Time{}, -1)
	c.setCookie(w, "session", sealed, s.ExpiresAt, 0)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// signIn signs in through the API, behind the console's own gate when the
// API is reached over the network (it would see only the console's
// address).
func (c *Console) signIn(r *http.Request, user, password string) (staff.Session, error) {
	if c.cfg.SignIn == nil || c.cfg.API != nil {
		return staff.Login(r.Context(), c.base, user, password)
	}
	done, err := c.cfg.SignIn.Admit(r.Context(), clientAddr(r), user)
	if err != nil {
		return staff.Session{}, err
	}
	failed := true
	defer func() { done(failed) }()
	s, err := staff.Login(r.Context(), c.base, user, password)
	var ae *staff.APIError
	failed = errors.As(err, &ae) && (payment.Code(ae.Code) == payment.CodeLoginFailed || payment.Code(ae.Code) == payment.CodeLoginThrottled)
	return s, err
}

// logout revokes the API session and forgets the cookie.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r.Context())
	if err := staff.Logout(r.Context(), c.base, s.Session); err != nil {
		c.cfg.Logger.Warn("console: sign-out", "user_id", s.UserID, "error", err)
	}
	c.setCookie(w, "session", "", time.Time{}, -1)
	http.Redirect(w, r, "/login?why=out", http.StatusSeeOther)
}

// clip cuts s to n bytes at a rune boundary.
func clip(s string, n int) string { return payment.Clip(s, n) }
