// Package httpapi is b2bpay's status query over HTTP (seed step 16): a
// customer's users sign in, then follow their payments in real time, each
// with its full timeline (who did what, when, from which state to which).
// It speaks JSON only and reads through a Store; authentication is an Auth
// implemented elsewhere.
//
// Routes:
//
//	GET    /healthz                   200 "ok", no authentication
//	POST   /v1/sessions               sign in: {"user","password"} → 201 {"token","expires_at"}
//	DELETE /v1/sessions/current       sign out (revokes the bearer token) → 204
//	GET    /v1/payments/{id}          a payment and its timeline
//	GET    /v1/payments               the payments of an order (order_ref + upstream_id),
//	                                  or a filtered page (state, created_from, created_to, limit, after)
//	GET    /v1/tasks                  the payments waiting for the user at a stage that they
//	                                  may decide, most urgent first (stage, limit, after)
//
// Every /v1/payments request is scoped to the signed-in user's customer: a
// payment of another customer does not exist for them (404, never 403, so
// ids cannot be probed). Times are RFC 3339 in the customer's time zone.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 64 << 10

// Principal is who a request is from, taken from a verified bearer token.
type Principal struct {
	UserID     string
	CustomerID string
	SessionID  string
}

// Auth signs people in and verifies their tokens. It is implemented
// elsewhere; cmd wires it.
type Auth interface {
	// Login checks a user's password and opens a session.
	Login(ctx context.Context, userID, password string) (token string, expiresAt time.Time, err error)
	// Verify returns the principal of a valid token, or a *payment.Error
	// with CodeTokenInvalid when the token is not valid (unknown, expired,
	// revoked, forged).
	Verify(ctx context.Context, token string) (Principal, error)
	// Logout revokes the principal's session.
	Logout(ctx context.Context, p Principal) error
	// DecisionKey returns the decision key of the session of a token just
	// issued by Login: the person signs their decisions with it
	// (route.DecisionProof); it is given once, in the sign-in answer.
	DecisionKey(token string) ([]byte, error)
}

// SignInGate admits a sign-in before its password is checked, or refuses
// it with a CodeLoginThrottled error (that may say when to come back:
// RetryAfterSeconds() int); auth.Gate implements it. On admission the API
// calls done once, with whether the sign-in failed.
type SignInGate interface {
	Admit(ctx context.Context, source, userID string) (done func(failed bool), err error)
}

// Store is what the API reads; *postgres.Store implements it. Not-found
// errors carry payment.CodeNotFound, refused filters CodeInvalidInput.
type Store interface {
	// PaymentGetByID returns a payment, whatever its customer: the API
	// checks the customer.
	PaymentGetByID(ctx context.Context, id string) (*payment.Payment, error)
	// PaymentTimeline returns a payment's timeline in order.
	PaymentTimeline(ctx context.Context, id string) ([]payment.Entry, error)
	// PaymentList returns one page of payments in id order.
	PaymentList(ctx context.Context, f PaymentFilter) ([]*payment.Payment, error)
	// PaymentGetByOrder returns every payment of an order, newest first.
	PaymentGetByOrder(ctx context.Context, upstreamID, orderRef string) ([]*payment.Payment, error)
	// TaskCandidates returns the person (zero when unknown) and one page
	// of the payments of their customer waiting at the query's stage that
	// they may decide (their role, separation of duties, their limit: the
	// rule of payment.MayDecide, which the API applies again to each),
	// most urgent first (TaskCursor's order), after the cursor; at most
	// the query's limit, each with its applied decisions and the person's
	// limit in its currency.
	TaskCandidates(ctx context.Context, q TaskQuery) (payment.User, []TaskCandidate, error)
}

// Config configures the API.
type Config struct {
	// Location is the customers' time zone: every time in a response is
	// rendered in it, and plain dates in queries are read in it. Defaults to
	// Asia/Shanghai.
	Location *time.Location
	// Logger receives the request log (snake_case keys) and the errors
	// never shown to clients. Defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// TTLs are how long a payment may wait in each waiting state (the
	// expiry job's); a task list shows when each payment expires. Nil:
	// not shown.
	TTLs map[payment.State]time.Duration
	// SignIn, when set, throttles sign-ins by client address (the TCP
	// peer: put no proxy in front that hides it) and by user id, and
	// bounds the password checks running at once.
	SignIn SignInGate
}

// api holds what the handlers share.
type api struct {
	store Store
	auth  Auth
	cfg   Config
}

// New returns the API's handler, with its middleware: request logging with
// a request id, panic recovery and Cache-Control: no-store.
func New(store Store, auth Auth, cfg Config) http.Handler {
	if cfg.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			loc = time.FixedZone("CST", 8*60*60) // China has no daylight saving time
		}
		cfg.Location = loc
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &api{store: store, auth: auth, cfg: cfg}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("POST /v1/sessions", a.login)
	mux.HandleFunc("DELETE /v1/sessions/current", a.authenticated(a.logout))
	mux.HandleFunc("GET /v1/payments/{id}", a.authenticated(a.paymentGet))
	mux.HandleFunc("GET /v1/payments", a.authenticated(a.paymentList))
	mux.HandleFunc("GET /v1/tasks", a.authenticated(a.taskList))

	var h http.Handler = a.jsonMisses(mux)
	h = noStore(h)
	h = a.recoverPanics(h)
	h = a.logRequests(h)
	return h
}

// healthz answers that the process serves HTTP. It checks nothing else,
// so a database outage does not take every instance out of a balancer.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok"))
}

// jsonMisses answers requests that match no route (404) or no method of a
// route (405, with its Allow header) in JSON, like every other answer.
func (a *api) jsonMisses(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// Let the mux decide between 404 and 405, then answer in JSON.
		probe := &headerProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here")
			return
		}
		writeError(w, http.StatusNotFound, string(payment.CodeNotFound), "no such route")
	})
}

// headerProbe is a ResponseWriter that keeps the status and headers and
// throws the body away.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header { return p.header }

func (p *headerProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}

func (p *headerProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}
