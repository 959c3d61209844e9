package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // Asia/Shanghai even where the system has no zoneinfo

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/httpapi"
	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/testkit"
	"github.com/b2bpay/b2bpay/testlog"
)

func TestMain(m *testing.M) { testkit.Main(m, testkit.Options{PoolSize: 16}) }

// baseTime is the store's pinned "now": 10:00 on 10 March 2026 in Shanghai.
var baseTime = time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)

// shanghai is the customers' zone.
var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// tenant is one customer with what it takes to make payments, and a
// signed-in user of it.
type tenant struct {
	customer  payment.Customer
	bank      payment.Bank
	account   payment.Account
	applicant payment.User
	upstream  payment.Upstream
	token     string
}

// bundle is what a test works with: the API on the real store, over HTTP,
// with two customers: ours and another one.
type bundle struct {
	store *postgres.Store
	clock *testkit.Clock
	auth  *fakeAuth
	srv   *httptest.Server
	logs  *testlog.Buffer
	mine  tenant
	other tenant
}

func setup(t *testing.T) *bundle {
	t.Helper()
	clk := testkit.NewClock(baseTime)
	store, err := postgres.New(testkit.Pool(t), postgres.Config{
		Seal: pgtest.Key,
		Now:  clk.Now, Location: shanghai, EventMessage: route.EventMessage,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	b := &bundle{store: store, clock: clk, auth: newFakeAuth(), logs: &testlog.Buffer{}}
	b.mine, b.other = b.seed(t), b.seed(t)
	b.srv = b.serve(t, store)
	return b
}

// serve starts the API on store, with the bundle's Auth and log.
func (b *bundle) serve(t *testing.T, store httpapi.Store) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(httpapi.New(store, b.auth, httpapi.Config{
		Location: shanghai,
		Logger:   slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}))
	t.Cleanup(srv.Close)
	return srv
}

// seed registers a customer enabled for online payment, a B2B bank, an
// account, an applicant and an upstream, and signs a user of it in.
func (b *bundle) seed(t *testing.T) tenant {
	t.Helper()
	ctx := t.Context()
	sfx := testkit.RandomHex(5)
	tn := tenant{
		customer: payment.Customer{ID: "cust-" + sfx, Name: "Customer " + sfx, OnlinePayment: true, Active: true},
		bank:     payment.Bank{ID: testkit.RandomDigits(12), Name: "Bank " + sfx, B2B: true},
	}
	tn.account = payment.Account{Number: "6222" + testkit.RandomDigits(12), BankID: tn.bank.ID, CustomerID: tn.customer.ID, Currency: "CNY", Active: true}
	tn.applicant = payment.User{ID: "appl-" + sfx, CustomerID: tn.customer.ID, Name: "Applicant " + sfx, Roles: []payment.Role{payment.RoleApplicant}, Active: true}
	tn.upstream = payment.Upstream{ID: "erp-" + sfx, Name: "ERP " + sfx, AMQPUser: "erp-" + sfx, Active: true, Customers: []string{tn.customer.ID}}
	require.NoError(t, b.store.CustomerCreate(ctx, tn.customer))
	require.NoError(t, b.store.BankCreate(ctx, tn.bank))
	require.NoError(t, b.store.AccountCreate(ctx, tn.account))
	require.NoError(t, b.store.UserCreate(ctx, tn.applicant))
	require.NoError(t, b.store.UpstreamCreate(ctx, tn.upstream, nil, 0))
	tn.token = b.auth.issue("viewer-"+sfx, tn.customer.ID)
	return tn
}

// submit stores a valid request of tn through intake, as the intake worker
// does, and returns the payment it became.
func (b *bundle) submit(t *testing.T, tn tenant, mods ...func(*payment.Request)) *payment.Payment {
	t.Helper()
	r := payment.Request{
		SchemaVersion: payment.SchemaVersion, RequestID: "req-" + testkit.RandomHex(6), OrderRef: "PO-" + testkit.RandomHex(6),
		CustomerID: tn.customer.ID, Applicant: tn.applicant.ID, BankID: tn.bank.ID, DebtorAccount: tn.account.Number,
		Creditor: payment.Creditor{Name: "上海华东机电设备有限公司", Account: "31001520313050012345", BankID: "105290036005"},
		Amount:   "1286400.50", Currency: "CNY", Remittance: "采购合同 HT-2026-0215 第二期货款", ExecutionDate: "2026-03-12",
	}
	for _, m := range mods {
		m(&r)
	}
	body, err := json.Marshal(r)
	require.NoError(t, err)
	decoded, err := payment.Decode(body)
	require.NoError(t, err)
	msgID := tn.upstream.ID + "/msg-" + testkit.RandomHex(6)
	out, err := b.store.IntakeSubmit(t.Context(), postgres.Submission{
		Upstream: tn.upstream, Request: decoded, BodySHA256: sha256.Sum256(body), MessageID: msgID,
		DeadLetter: func(code payment.Code, reason string) outbox.Message {
			return route.DeadLetter(route.Original{Key: msgID, MessageID: msgID, UserID: tn.upstream.AMQPUser, Body: body}, code, reason)
		},
	})
	require.NoError(t, err)
	require.NotNil(t, out.Payment, "refused: %s %s", out.Answer.Code, out.Answer.Reason)
	return out.Payment
}

// forceState moves a payment behind the domain's back: the approval stages
// that would do it are not what these tests are about.
func (b *bundle) forceState(t *testing.T, id string, st payment.State) {
	t.Helper()
	_, err := testkit.Pool(t).Exec(t.Context(), `UPDATE payments SET state = $2 WHERE id = $1`, id, string(st))
	require.NoError(t, err)
}

// answer is an HTTP answer as the tests read it.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request to the API; token "" sends no Authorization header.
func (b *bundle) do(t *testing.T, method, path, token, body string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, b.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return send(t, req)
}

func send(t *testing.T, req *http.Request) answer {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return answer{status: res.StatusCode, header: res.Header, body: body}
}

// decode reads the answer's JSON body into v.
func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	require.Equal(t, "application/json; charset=utf-8", a.header.Get("Content-Type"), "body: %s", a.body)
	require.NoError(t, json.Unmarshal(a.body, v), "body: %s", a.body)
}

// apiError is the JSON of an error answer.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// requireError checks the answer is an error with status and code, and
// returns its message.
func (a answer) requireError(t *testing.T, status int, code string) string {
	t.Helper()
	require.Equal(t, status, a.status, "body: %s", a.body)
	var e apiError
	a.decode(t, &e)
	require.Equal(t, code, e.Error.Code)
	require.NotEmpty(t, e.Error.Message)
	return e.Error.Message
}

// fakeAuth is an in-memory Auth. Authentication itself is implemented and
// tested elsewhere; this double only has to honour the Auth contract.
type fakeAuth struct {
	mu       sync.Mutex
	users    map[string]fakeUser
	sessions map[string]httpapi.Principal // by token
}

type fakeUser struct {
	password, customerID string
	inactive, throttled  bool
}

// The double's special tokens and users.
const (
	panicToken  = "token-that-panics"
	brokenToken = "token-whose-check-fails"
	brokenUser  = "user-whose-login-fails"
	infraDetail = "dial tcp 10.0.0.7:5432: connection refused" // must never reach a client
)

func newFakeAuth() *fakeAuth {
	return &fakeAuth{users: map[string]fakeUser{}, sessions: map[string]httpapi.Principal{}}
}

func (f *fakeAuth) addUser(id string, u fakeUser) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[id] = u
}

// issue opens a session for a user of customerID without a password.
func (f *fakeAuth) issue(userID, customerID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	token := "tok-" + testkit.RandomHex(16)
	f.sessions[token] = httpapi.Principal{UserID: userID, CustomerID: customerID, SessionID: testkit.RandomHex(8)}
	return token
}

func (f *fakeAuth) Login(_ context.Context, userID, password string) (string, time.Time, error) {
	if userID == brokenUser {
		return "", time.Time{}, errors.New(infraDetail)
	}
	f.mu.Lock()
	u, ok := f.users[userID]
	f.mu.Unlock()
	switch {
	case ok && u.throttled:
		return "", time.Time{}, payment.Errorf(payment.CodeLoginThrottled, "too many failed sign-ins; try again later")
	case !ok || u.password != password:
		return "", time.Time{}, payment.Errorf(payment.CodeLoginFailed, "unknown user or wrong password")
	case u.inactive:
		return "", time.Time{}, payment.Errorf(payment.CodeUserInactive, "user %s is disabled", userID)
	}
	return f.issue(userID, u.customerID), baseTime.Add(8 * time.Hour), nil
}

// DecisionKey is a digest of the token's session id.
func (f *fakeAuth) DecisionKey(token string) ([]byte, error) {
	f.mu.Lock()
	p, ok := f.sessions[token]
	f.mu.Unlock()
	if !ok {
		return nil, errors.New("fakeAuth: no such token")
	}
	k := sha256.Sum256([]byte("decision-key/" + p.SessionID))
	return k[:], nil
}

func (f *fakeAuth) Verify(_ context.Context, token string) (httpapi.Principal, error) {
	switch token {
	case panicToken:
		panic("fake auth: a bug")
	case brokenToken:
		return httpapi.Principal{}, errors.New(infraDetail)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.sessions[token]
	if !ok {
		return httpapi.Principal{}, payment.Errorf(payment.CodeTokenInvalid, "the token is not valid")
	}
	return p, nil
}

func (f *fakeAuth) Logout(_ context.Context, p httpapi.Principal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for token, s := range f.sessions {
		if s.SessionID == p.SessionID {
			delete(f.sessions, token)
		}
	}
	return nil
}
