package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/secret"
	"github.com/b2bpay/b2bpay/staff"
)

func TestMain(m *testing.M) {
	// Cheap password hashes: the tests sign in often; production keeps the
	// defaults.
	auth.Params = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir) // the binary the command-line tests built
	}
	os.Exit(code)
}

// person is a member of staff signed in through the HTTP API, with their
// OTP seed so the test can make codes as their authenticator app would.
type person struct {
	id, customer string
	token        string
	auth         *staff.Authenticator
}

const testPassword = "correct horse battery staple"

// person registers a user with a password and OTP and signs them in.
func (e *env) person(t *testing.T, id, customer string, roles ...payment.Role) *person {
	t.Helper()
	ctx := context.Background()
	s := e.app.Store
	require.NoError(t, s.UserCreate(ctx, payment.User{ID: id, CustomerID: customer, Name: id, Roles: roles, Active: true}))
	hash, err := auth.HashPassword(testPassword)
	require.NoError(t, err)
	require.NoError(t, s.UserSetPassword(ctx, id, hash, "test"))
	seed, _, err := otp.Generate("b2bpay", id)
	require.NoError(t, err)
	require.NoError(t, s.UserEnrollOTP(ctx, id, e.sealer.Seal(seed, postgres.OTPSeedAD(id)), int(e.sealer.Version()), "test"))
	p := &person{id: id, customer: customer, auth: &staff.Authenticator{Seed: seed}}
	p.token = e.login(t, id, testPassword)
	return p
}

// login signs in through the HTTP API and returns the token; the
// session's decision key is kept for decide, as the staff client keeps it.
func (e *env) login(t *testing.T, id, password string) string {
	t.Helper()
	var out struct {
		Token       string `json:"token"`
		DecisionKey string `json:"decision_key"`
	}
	status := e.api(t, http.MethodPost, "/v1/sessions", "", map[string]string{"user": id, "password": password}, &out)
	require.Equal(t, http.StatusCreated, status)
	require.NotEmpty(t, out.Token)
	require.Len(t, out.DecisionKey, 64)
	decisionKeys.Store(out.Token, staff.Session{Token: out.Token, DecisionKey: out.DecisionKey, UserID: id})
	return out.Token
}

// decisionKeys holds the sessions login opened, by token.
var decisionKeys sync.Map

// sessionOf is the staff client's session of a token login returned; for
// any other token (forged, garbage, none), a session of nobody with a
// random decision key.
func sessionOf(token string) staff.Session {
	if s, ok := decisionKeys.Load(token); ok {
		return s.(staff.Session)
	}
	return staff.Session{Token: token, DecisionKey: hex.EncodeToString(secret.NewKey()), UserID: "nobody"}
}

// api calls the HTTP API and returns the status code.
func (e *env) api(t *testing.T, method, path, token string, in, out any) int {
	t.Helper()
	var body bytes.Buffer
	if in != nil {
		require.NoError(t, json.NewEncoder(&body).Encode(in))
	}
	req, err := http.NewRequest(method, "http://"+e.apiAddr+path, &body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

// code returns a fresh OTP code, as the person's authenticator shows it.
func (p *person) code(t *testing.T) string {
	c, err := p.auth.Next()
	require.NoError(t, err)
	return c
}

// lastCode is the code the person used last: a replay.
func (p *person) lastCode(t *testing.T) string {
	c, err := p.auth.Last()
	require.NoError(t, err)
	return c
}

// decide sends a decision through the decisions queue, as the staff
// client does, and waits for its result. A decision whose token is not
// valid now is answered to no queue (nobody is known to answer to): its
// result is read where the worker recorded it.
func (e *env) decide(t *testing.T, token, paymentID string, stage payment.Stage, verdict payment.Verdict, code, digest, reason string) approval.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := route.Decision{Schema: route.DecisionSchema, DecisionID: staff.NewDecisionID(), Token: token,
		PaymentID: paymentID, Stage: stage, Verdict: verdict, OTP: code, Digest: digest, Reason: reason}
	if _, err := e.app.Sessions().Verify(ctx, token); err != nil {
		require.True(t, payment.IsRefusal(err), "verify: %v", err)
		_, err := staff.SendDecision(ctx, e.app.Conn, sessionOf(token), d, time.Millisecond)
		require.ErrorContains(t, err, "no result")
		var res approval.Result
		require.Eventually(t, func() bool {
			return e.app.Pool.QueryRow(ctx, `SELECT result FROM decisions WHERE id = $1`, d.DecisionID).Scan(&res) == nil
		}, 20*time.Second, 20*time.Millisecond)
		return res
	}
	res, err := staff.SendDecision(ctx, e.app.Conn, sessionOf(token), d, 30*time.Second)
	require.NoError(t, err)
	return res
}

// submit publishes a request as erp and waits for the payment.
func (e *env) submit(t *testing.T, r payment.Request) *payment.Payment {
	t.Helper()
	ctx := context.Background()
	e.publishAs(t, r)
	var p *payment.Payment
	require.Eventually(t, func() bool {
		var err error
		p, err = e.app.Store.PaymentGetByRequest(ctx, "erp", r.RequestID)
		return err == nil
	}, 20*time.Second, 20*time.Millisecond)
	return p
}

func (e *env) publishAs(t *testing.T, r payment.Request) {
	t.Helper()
	e.publish(amqp.Publishing{MessageId: r.RequestID, UserId: "guest", Body: body(t, r)})
}

func (e *env) payment(t *testing.T, id string) *payment.Payment {
	t.Helper()
	p, err := e.app.Store.PaymentGetByID(context.Background(), id)
	require.NoError(t, err)
	return p
}

// task finds the task of a stage for a payment in its customer's queue.
// Tasks for other payments are kept for later calls.
func (e *env) task(t *testing.T, customer string, stage payment.Stage, paymentID string) route.Task {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for i, task := range e.tasks {
			if task.PaymentID == paymentID && task.Stage == stage {
				e.tasks = append(e.tasks[:i], e.tasks[i+1:]...)
				return task
			}
		}
		for _, d := range e.getAll(route.TaskQueue(customer, stage), 1000, 50*time.Millisecond) {
			var task route.Task
			require.NoError(t, json.Unmarshal(d.Body, &task))
			e.tasks = append(e.tasks, task)
		}
	}
	t.Fatalf("no %s task for %s", stage, paymentID)
	return route.Task{}
}

func otpAD(id string) []byte { return postgres.OTPSeedAD(id) }

// publishKey publishes a body as erp with a routing key of its own.
func (e *env) publishKey(t *testing.T, key, id string, b []byte) {
	t.Helper()
	ch := e.channel()
	require.NoError(t, ch.Confirm(false))
	dc, err := ch.PublishWithDeferredConfirm("b2bpay.requests", key, true, false,
		amqp.Publishing{MessageId: id, UserId: "guest", DeliveryMode: amqp.Persistent, Body: b})
	require.NoError(t, err)
	ok, err := dc.WaitContext(context.Background())
	require.NoError(t, err)
	require.True(t, ok)
}
