// Package console is the staff's web console: the bank's online-payment
// screens (seed steps 4-16) served as server-rendered pages. People sign in
// with their password, see the payments waiting for them, approve or reject
// one or many with one one-time password, follow any payment of their
// customer and search them; operators see cutoffs, batches, files and dead
// letters; a customer's administrators manage users, roles, limits and
// tiers under dual control.
//
// The console holds no authority of its own: it signs in through the HTTP
// API (httpapi) with the person's password, keeps the API's session token
// and decision key sealed in an HttpOnly cookie, reads through the same API
// the staff client uses, and sends the same signed decisions on the
// decision queue (package staff). b2bpay's own checks decide: the API
// scopes every read to the person's customer, the decision worker checks
// role, duties, limits and the one-time password.
package console

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/staff"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Config configures the console.
type Config struct {
	// API is b2bpay's HTTP API handler (httpapi.New), called in process
	// with the browser's address so the API's sign-in throttle sees each
	// browser; APIURL is used instead when API is nil (a console in a
	// process of its own: the API then sees the console's address).
	API    http.Handler
	APIURL string
	// Broker carries decisions to b2bpay.decisions and their results back.
	Broker *rabbitmq.Conn
	// CookieKey seals the session cookie (32 bytes, derived from the
	// master key).
	CookieKey []byte
	// Insecure drops the Secure attribute of the cookies: only for a
	// console reached over plain HTTP on the loopback in tests and demos.
	// Browsers treat http://127.0.0.1 as secure, so it is rarely needed.
	Insecure bool
	// Location is the zone times are shown in (Asia/Shanghai by default).
	Location *time.Location
	// Plan says which cutoff a payment executing on a date will make and
	// when that settles (nil: not shown).
	Plan func(execution time.Time, now time.Time) (cutoff time.Time, settlement time.Time, ok bool)
	// Verify checks a payment's timeline chain and its approvals' MACs,
	// returning the problems found (nil: not shown). The console calls it
	// only for a payment the API has shown the person.
	Verify func(ctx context.Context, paymentID string) ([]string, error)
	// CheckToken, when set, checks on every request that the API session
	// in the cookie is still valid (not revoked by a sign-out elsewhere or
	// an administrator, its user not disabled): pages that do not call the
	// API (operations, administration) must not outlive the session.
	CheckToken func(ctx context.Context, token string) error
	// People says who a signed-in person is (their roles) for the
	// operations and administration areas (nil: those areas are off).
	People func(ctx context.Context, userID string) (payment.User, error)
	// Ops and Admin serve the operations and administration areas (nil:
	// off).
	Ops   Operations
	Admin Administration
	// Recon reads the end-of-day report for the operations area's
	// reconciliation page (nil: the page is off).
	Recon Reconciliation
	// SignIn throttles sign-ins by browser address and user id when the
	// API is reached over the network (APIURL); in process, the API's own
	// gate sees each browser.
	SignIn SignInGate
	// DecisionWait is how long a decision's result is waited for (10 s).
	DecisionWait time.Duration
	Logger       *slog.Logger
	Now          func() time.Time
}

// SignInGate is the API's sign-in throttle (auth.Gate).
type SignInGate interface {
	Admit(ctx context.Context, source, userID string) (done func(failed bool), err error)
}

// Console serves the pages.
type Console struct {
	cfg   Config
	pages *pages
	mux   *http.ServeMux
	api   *http.Client
	base  string
}

// New returns the console's handler.
func New(cfg Config) (*Console, error) {
	if len(cfg.CookieKey) != 32 {
		return nil, errors.New("console: the cookie key must be 32 bytes")
	}
	if cfg.API == nil && cfg.APIURL == "" {
		return nil, errors.New("console: give the API handler or its URL")
	}
	if cfg.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			loc = time.FixedZone("CST", 8*60*60)
		}
		cfg.Location = loc
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DecisionWait <= 0 {
		cfg.DecisionWait = 10 * time.Second
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, pages: p, mux: http.NewServeMux()}
	if cfg.API != nil {
		c.api, c.base = &http.Client{Transport: inProcess{h: cfg.API}, Timeout: 30 * time.Second}, "http://api.b2bpay.internal"
	} else {
		c.api, c.base = &http.Client{Timeout: 30 * time.Second}, strings.TrimRight(cfg.APIURL, "/")
	}
	static, _ := fs.Sub(assets, "static")
	c.mux.Handle("GET /static/", http.StripPrefix("/static/", staticFiles(static)))
	c.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	c.mux.HandleFunc("GET /login", c.loginPage)
	c.mux.HandleFunc("POST /login", c.login)
	c.mux.HandleFunc("GET /lang/{lang}", c.setLang)
	c.mux.HandleFunc("POST /logout", c.signedIn(c.logout))
	c.mux.HandleFunc("GET /{$}", c.signedIn(c.inbox))
	c.mux.HandleFunc("GET /counts", c.signedIn(c.counts))
	c.mux.HandleFunc("POST /batch/preview", c.signedIn(c.batchPreview))
	c.mux.HandleFunc("POST /batch/decide", c.signedIn(c.batchDecide))
	c.mux.HandleFunc("GET /payments/{id}", c.signedIn(c.paymentPage))
	c.mux.HandleFunc("POST /payments/{id}/decide", c.signedIn(c.paymentDecide))
	c.routesQuery()
	c.routesOps()
	c.routesAdmin()
	return c, nil
}

// ServeHTTP serves a request with the security headers, the browser's
// address in the context, and panics turned into a 500 page.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, "/static/") {
		h.Set("Cache-Control", "no-store")
	}
	defer func() {
		if v := recover(); v != nil {
			c.cfg.Logger.Error("console panic", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	ctx := context.WithValue(r.Context(), clientAddrKey{}, clientAddr(r))
	ctx = staff.WithHTTPClient(ctx, c.api)
	c.mux.ServeHTTP(w, r.WithContext(ctx))
}

type clientAddrKey struct{}

// clientAddr is the TCP peer's address (never a forwarded header).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// staticFiles serves the embedded assets, cached for a day (their names
// change with their content only on a new release).
func staticFiles(f fs.FS) http.Handler {
	fsrv := http.FileServerFS(f)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		fsrv.ServeHTTP(w, r)
	})
}

// sameOrigin refuses a state-changing request that a browser says came
// from another site (Sec-Fetch-Site / Origin); the CSRF token is the main
// check, this one a second.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		return strings.TrimPrefix(strings.TrimPrefix(o, "http://"), "https://") == r.Host
	}
	return true
}

// tokenEqual compares two tokens in constant time.
func tokenEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
