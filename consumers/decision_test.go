package consumers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/testkit"
)

// decisionBody is a valid decision, changed by change, as JSON.
func decisionBody(t *testing.T, change func(m map[string]any)) []byte {
	t.Helper()
	m := map[string]any{
		"schema":      route.DecisionSchema,
		"decision_id": "dec-" + strings.ToLower(rand.Text()[:10]),
		"token":       "token-of-someone",
		"payment_id":  "01a21b23-e139-703c-8b96-c80ef836db0a",
		"stage":       "review",
		"verdict":     "approve",
		"digest":      strings.Repeat("ab", 32),
	}
	if change != nil {
		change(m)
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

func TestDecodeDecision(t *testing.T) {
	t.Parallel()

	set := func(k string, v any) func(m map[string]any) { return func(m map[string]any) { m[k] = v } }
	tests := []struct {
		name  string
		body  func(t *testing.T) []byte
		code  payment.Code // "" when accepted
		field string
	}{
		{"Valid", func(t *testing.T) []byte { return decisionBody(t, nil) }, "", ""},
		{"ValidReject", func(t *testing.T) []byte {
			return decisionBody(t, func(m map[string]any) { m["verdict"], m["reason"] = "reject", "line 1\nline 2" })
		}, "", ""},
		{"CancelWithoutStage", func(t *testing.T) []byte {
			return decisionBody(t, func(m map[string]any) { delete(m, "stage"); m["verdict"] = "cancel" })
		}, "", ""},
		{"CancelWithAnyStage", func(t *testing.T) []byte {
			return decisionBody(t, func(m map[string]any) { m["stage"], m["verdict"] = "whatever", "cancel" })
		}, "", ""},
		{"AtTheSizeLimit", func(t *testing.T) []byte {
			b := decisionBody(t, nil)
			return append(b, []byte(strings.Repeat(" ", MaxDecisionBytes-len(b)))...)
		}, "", ""},

		{"Oversized", func(t *testing.T) []byte {
			return decisionBody(t, set("reason", strings.Repeat("x", MaxDecisionBytes)))
		}, payment.CodeTooLarge, ""},
		{"OneByteOver", func(t *testing.T) []byte {
			b := decisionBody(t, nil)
			return append(b, []byte(strings.Repeat(" ", MaxDecisionBytes-len(b)+1))...)
		}, payment.CodeTooLarge, ""},
		{"NotJSON", func(*testing.T) []byte { return []byte("{not json") }, payment.CodeMalformed, ""},
		{"Empty", func(*testing.T) []byte { return nil }, payment.CodeMalformed, ""},
		{"Array", func(*testing.T) []byte { return []byte(`[]`) }, payment.CodeMalformed, ""},
		{"TrailingData", func(t *testing.T) []byte { return append(decisionBody(t, nil), []byte(` {}`)...) }, payment.CodeMalformed, ""},
		{"TrailingGarbage", func(t *testing.T) []byte { return append(decisionBody(t, nil), 'x') }, payment.CodeMalformed, ""},
		{"UnknownField", func(t *testing.T) []byte { return decisionBody(t, set("user_id", "boss")) }, payment.CodeMalformed, ""},
		{"WrongType", func(t *testing.T) []byte { return decisionBody(t, set("payment_id", 42)) }, payment.CodeMalformed, ""},
		{"NULInReason", func(t *testing.T) []byte { return decisionBody(t, set("reason", "bad\x00reason")) }, payment.CodeMalformed, ""},
		{"NULInPaymentID", func(t *testing.T) []byte { return decisionBody(t, set("payment_id", "x\x00")) }, payment.CodeMalformed, ""},
		{"WrongSchema", func(t *testing.T) []byte { return decisionBody(t, set("schema", "b2bpay.decision.v2")) }, payment.CodeUnknownVersion, ""},
		{"NoSchema", func(t *testing.T) []byte {
			return decisionBody(t, func(m map[string]any) { delete(m, "schema") })
		}, payment.CodeUnknownVersion, ""},
		{"Null", func(*testing.T) []byte { return []byte(`null`) }, payment.CodeUnknownVersion, ""},
		{"NoDecisionID", func(t *testing.T) []byte { return decisionBody(t, set("decision_id", "")) }, payment.CodeInvalidField, "decision_id"},
		{"DecisionIDWithSpace", func(t *testing.T) []byte { return decisionBody(t, set("decision_id", "dec 1")) }, payment.CodeInvalidField, "decision_id"},
		{"DecisionIDTooLong", func(t *testing.T) []byte {
			return decisionBody(t, set("decision_id", strings.Repeat("d", 65)))
		}, payment.CodeInvalidField, "decision_id"},
		{"BadStage", func(t *testing.T) []byte { return decisionBody(t, set("stage", "payout")) }, payment.CodeInvalidField, "stage"},
		{"NoStage", func(t *testing.T) []byte {
			return decisionBody(t, func(m map[string]any) { delete(m, "stage") })
		}, payment.CodeInvalidField, "stage"},
		{"BadVerdict", func(t *testing.T) []byte { return decisionBody(t, set("verdict", "maybe")) }, payment.CodeInvalidField, "verdict"},
		{"NoVerdict", func(t *testing.T) []byte {
			return decisionBody(t, func(m map[string]any) { delete(m, "verdict") })
		}, payment.CodeInvalidField, "verdict"},
		{"VerdictInCapitals", func(t *testing.T) []byte { return decisionBody(t, set("verdict", "APPROVE")) }, payment.CodeInvalidField, "verdict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			body := tt.body(t)
			dec, err := decodeDecision(body)
			if tt.code == "" {
				require.NoError(t, err)
				var want route.Decision
				require.NoError(t, json.Unmarshal(body, &want))
				require.Equal(t, want, dec)
				return
			}
			var e *payment.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.code, e.Code, "error: %v", err)
			require.Equal(t, tt.field, e.Field, "error: %v", err)
		})
	}
}

// tokenDouble is a TokenVerifier over a fixed set of sessions.
type tokenDouble struct {
	sessions map[string][2]string // token → user id, session id
	down     bool                 // the session store cannot be read
}

func (v *tokenDouble) Verify(_ context.Context, token string) (string, string, error) {
	if v.down {
		return "", "", errors.New("sessions: connection refused")
	}
	s, ok := v.sessions[token]
	if !ok {
		return "", "", payment.Errorf(payment.CodeTokenInvalid, "the session token is not valid")
	}
	return s[0], s[1], nil
}

// DecisionKey is a session's decision key: a digest of its id.
func (v *tokenDouble) DecisionKey(sessionID string) []byte {
	k := sha256.Sum256([]byte("decision-key/" + sessionID))
	return k[:]
}

// decisionFixture is the real store with one customer's registry, a
// payment awaiting confirmation, and the decision handler over both.
type decisionFixture struct {
	store     *postgres.Store
	app       *approval.Applier
	tokens    *tokenDouble
	h         *Decisions
	applicant payment.User
	payment   *payment.Payment
}

func newDecisionFixture(t *testing.T) *decisionFixture {
	t.Helper()
	ctx := t.Context()
	store, err := postgres.New(testPool(t), postgres.Config{
		Seal:         pgtest.Key,
		EventMessage: route.EventMessage, TaskMessage: route.TaskMessage, Logger: discard(),
	})
	require.NoError(t, err)

	sfx := strings.ToLower(rand.Text()[:12])
	cust := payment.Customer{ID: "cust-" + sfx, Name: "Customer", OnlinePayment: true, Active: true}
	bank := payment.Bank{ID: testkit.RandomDigits(12), Name: "Bank", B2B: true}
	acct := payment.Account{Number: "6222" + testkit.RandomDigits(12), BankID: bank.ID, CustomerID: cust.ID, Currency: "CNY", Active: true}
	appl := payment.User{ID: "appl-" + sfx, CustomerID: cust.ID, Name: "Applicant", Roles: []payment.Role{payment.RoleApplicant}, Active: true}
	up := payment.Upstream{ID: "erp-" + sfx, Name: "ERP", AMQPUser: "erp-" + sfx, Active: true, Customers: []string{cust.ID}}
	require.NoError(t, store.CustomerCreate(ctx, cust))
	require.NoError(t, store.BankCreate(ctx, bank))
	require.NoError(t, store.AccountCreate(ctx, acct))
	require.NoError(t, store.UserCreate(ctx, appl))
	require.NoError(t, store.UpstreamCreate(ctx, up, nil, 0))

	body, err := json.Marshal(map[string]any{
		"schema_version": 1,
		"request_id":     "req-" + sfx,
		"order_ref":      "PO-" + sfx,
		"customer_id":    cust.ID,
		"applicant":      appl.ID,
		"bank_id":        bank.ID,
		"debtor_account": acct.Number,
		"creditor":       map[string]string{"name": "上海华东机电设备有限公司", "account": "31001520313050012345", "bank_id": "105290036005"},
		"amount":         "100.00",
		"currency":       "CNY",
		"execution_date": time.Now().UTC().AddDate(0, 0, 1).Format(payment.DateLayout),
	})
	require.NoError(t, err)
	req, err := payment.Decode(body)
	require.NoError(t, err)
	out, err := store.IntakeSubmit(ctx, intake.Submission{Upstream: up, Request: req, BodySHA256: sha256.Sum256(body), MessageID: "m-" + sfx})
	require.NoError(t, err)
	require.NotNil(t, out.Payment, "refused: %s", out.Answer.Reason)

	tokens := &tokenDouble{sessions: map[string][2]string{"token-of-" + appl.ID: {appl.ID, uuid.NewString()}}}
	app, err := approval.New(store, approval.Config{Seal: pgtest.Key,
		EventMessage: route.EventMessage, TaskMessage: route.TaskMessage, ResultMessage: route.ResultMessage,
		BatchResultMessage: route.BatchResultMessage})
	require.NoError(t, err)
	return &decisionFixture{
		store: store, app: app, tokens: tokens, h: NewDecisions(app, tokens, discard()),
		applicant: appl, payment: out.Payment,
	}
}

// delivery carries a decision about the fixture's payment. A decision
// with a token of the fixture is signed with its session's decision key
// (unless change set a "proof") and answered to a reply queue of its user.
func (f *decisionFixture) delivery(t *testing.T, change func(m map[string]any)) (amqp.Delivery, string) {
	t.Helper()
	replyTo := "b2bpay.reply.nobody." + rand.Text()
	body := decisionBody(t, func(m map[string]any) {
		m["payment_id"], m["stage"], m["digest"] = f.payment.ID, "confirmation", f.payment.Digest()
		if change != nil {
			change(m)
		}
		s, ok := f.tokens.sessions[fmt.Sprint(m["token"])]
		if ok {
			replyTo = route.ReplyQueue(s[0])
		}
		if _, set := m["proof"]; ok && !set {
			b, err := json.Marshal(m)
			require.NoError(t, err)
			var dec route.Decision
			require.NoError(t, json.Unmarshal(b, &dec))
			m["proof"] = route.DecisionProof(f.tokens.DecisionKey(s[1]), dec)
		}
	})
	var dec route.Decision
	require.NoError(t, json.Unmarshal(body, &dec))
	return amqp.Delivery{MessageId: dec.DecisionID, ReplyTo: replyTo, Body: body}, dec.DecisionID
}

// requireUnchanged checks the fixture's payment is as intake left it.
func (f *decisionFixture) requireUnchanged(t *testing.T) {
	t.Helper()
	p, err := f.store.PaymentGetByID(t.Context(), f.payment.ID)
	require.NoError(t, err)
	require.Equal(t, payment.StateAwaitingConfirmation, p.State)
	require.Equal(t, f.payment.Version, p.Version)
	require.Equal(t, f.payment.HeadHash, p.HeadHash)
}

func countRows(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, testPool(t).QueryRow(t.Context(), query, args...).Scan(&n))
	return n
}

func TestDecisionsBadToken(t *testing.T) {
	t.Parallel()
	f := newDecisionFixture(t)
	d, id := f.delivery(t, func(m map[string]any) { m["token"] = "forged" })

	require.NoError(t, f.h.Handle(t.Context(), d), "a refusal is an answer: ack")
	var outcome, code, reason string
	var actor *string
	require.NoError(t, testPool(t).QueryRow(t.Context(), `SELECT outcome, code, reason, actor_id FROM decisions WHERE id = $1`, id).
		Scan(&outcome, &code, &reason, &actor))
	require.Equal(t, approval.Refused, outcome)
	require.Equal(t, string(payment.CodeTokenInvalid), code)
	require.Equal(t, "token_invalid: the session token is not valid", reason, "the verifier's reason")
	require.Nil(t, actor, "nobody is known")
	f.requireUnchanged(t)

	// Nobody is known: the refusal is recorded, and answered to no queue
	// (a reply_to is trusted only as a reply queue of the token's user).
	require.Zero(t, countRows(t, `SELECT count(*) FROM outbox WHERE message_id = $1`, "result/"+id))

	// Redelivered: the same answer, still one row.
	require.NoError(t, f.h.Handle(t.Context(), d))
	require.Equal(t, 1, countRows(t, `SELECT count(*) FROM decisions WHERE id = $1`, id))
}

// TestDecisionsActorFromToken: the person is who the token says, and
// nobody the body could name.
func TestDecisionsActorFromToken(t *testing.T) {
	t.Parallel()
	f := newDecisionFixture(t)
	d, id := f.delivery(t, func(m map[string]any) {
		m["token"], m["verdict"], m["reason"] = "token-of-"+f.applicant.ID, "cancel", "ordered twice"
		delete(m, "stage")
	})
	require.NoError(t, f.h.Handle(t.Context(), d))

	var outcome string
	var actor *string
	require.NoError(t, testPool(t).QueryRow(t.Context(), `SELECT outcome, actor_id FROM decisions WHERE id = $1`, id).Scan(&outcome, &actor))
	require.Equal(t, approval.Applied, outcome)
	require.Equal(t, &f.applicant.ID, actor)
	p, err := f.store.PaymentGetByID(t.Context(), f.payment.ID)
	require.NoError(t, err)
	require.Equal(t, payment.StateCancelled, p.State)
}

func TestDecisionsInfrastructureErrors(t *testing.T) {
	t.Parallel()
	f := newDecisionFixture(t)

	t.Run("SessionStore", func(t *testing.T) {
		tokens := &tokenDouble{down: true}
		h := NewDecisions(f.app, tokens, discard())
		d, id := f.delivery(t, nil)
		err := h.Handle(t.Context(), d)
		require.Error(t, err)
		require.False(t, payment.IsRefusal(err))
		require.Equal(t, rabbitmq.Requeue, DispositionOf(err), "retried, never acked")
		require.Zero(t, countRows(t, `SELECT count(*) FROM decisions WHERE id = $1`, id), "nothing recorded")
	})

	t.Run("Store", func(t *testing.T) {
		// A store whose database is gone.
		pool, err := pgxpool.NewWithConfig(t.Context(), testPool(t).Config())
		require.NoError(t, err)
		pool.Close()
		broken, err := postgres.New(pool, postgres.Config{Seal: pgtest.Key, EventMessage: route.EventMessage, Logger: discard()})
		require.NoError(t, err)
		app, err := approval.New(broken, approval.Config{Seal: pgtest.Key, EventMessage: route.EventMessage})
		require.NoError(t, err)
		h := NewDecisions(app, f.tokens, discard())

		for name, change := range map[string]func(m map[string]any){
			"Apply":  func(m map[string]any) { m["token"] = "token-of-" + f.applicant.ID },
			"Refuse": func(m map[string]any) { m["token"] = "forged" },
			"Reject": func(m map[string]any) { m["schema"] = "nonsense" },
		} {
			d, id := f.delivery(t, change)
			err := h.Handle(t.Context(), d)
			require.Error(t, err, name)
			require.False(t, errors.Is(err, ErrPoison), name)
			require.Equal(t, rabbitmq.Requeue, DispositionOf(err), name)
			require.Zero(t, countRows(t, `SELECT count(*) FROM decisions WHERE id = $1`, id), name)
		}
		f.requireUnchanged(t)
	})
}

func TestDecisionsPoison(t *testing.T) {
	t.Parallel()
	f := newDecisionFixture(t)

	tests := []struct {
		name string
		body []byte
		code payment.Code
	}{
		{"NotJSON", []byte("{not json " + rand.Text()), payment.CodeMalformed},
		{"WrongSchema", decisionBody(t, func(m map[string]any) { m["schema"] = "b2bpay.decision.v0" }), payment.CodeUnknownVersion},
		{"NULInReason", decisionBody(t, func(m map[string]any) {
			m["payment_id"], m["verdict"], m["reason"] = f.payment.ID, "reject", "no\x00"
		}), payment.CodeMalformed},
		{"Oversized", decisionBody(t, func(m map[string]any) { m["reason"] = strings.Repeat("x", MaxDecisionBytes) }), payment.CodeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := amqp.Delivery{MessageId: "msg-" + rand.Text()[:8], UserId: "staff", Body: tt.body}
			key := original(d).Key

			// Delivered twice: recorded and dead-lettered once.
			require.NoError(t, f.h.Handle(t.Context(), d))
			require.NoError(t, f.h.Handle(t.Context(), d))

			var code string
			require.NoError(t, testPool(t).QueryRow(t.Context(), `SELECT code FROM intake_rejects WHERE message_key = $1`,
				"decision/"+key).Scan(&code))
			require.Equal(t, string(tt.code), code)
			require.Zero(t, countRows(t, `SELECT count(*) FROM intake_rejects WHERE message_key = $1`, key),
				"kept apart from intake's rejects")

			rows, err := testPool(t).Query(t.Context(), `SELECT exchange, routing_key, headers, body FROM outbox WHERE message_id = $1`, "dead/"+key)
			require.NoError(t, err)
			type dead struct {
				exchange, key string
				headers       map[string]string
				body          []byte
			}
			var letters []dead
			for rows.Next() {
				var l dead
				require.NoError(t, rows.Scan(&l.exchange, &l.key, &l.headers, &l.body))
				letters = append(letters, l)
			}
			require.NoError(t, rows.Err())
			require.Len(t, letters, 1, "dead-lettered once")
			l := letters[0]
			require.Equal(t, route.DeadLetterExchange, l.exchange)
			require.Equal(t, route.DecisionsDeadKey, l.key)
			require.Equal(t, string(tt.code), l.headers[route.HeaderReasonCode])
			require.NotEmpty(t, l.headers[route.HeaderReason])
			require.Equal(t, d.MessageId, l.headers[route.HeaderOriginalMessageID])
			// The body may carry a session token: only its digest is kept.
			require.Empty(t, l.body)
			sum := sha256.Sum256(tt.body)
			require.Equal(t, hex.EncodeToString(sum[:]), l.headers["x-b2bpay-body-sha256"])
		})
	}
	require.Zero(t, countRows(t, `SELECT count(*) FROM decisions WHERE payment_id = $1`, f.payment.ID), "no decision from a poison message")
	f.requireUnchanged(t)
}

// A batch decides the decisions it can read together (a repeat among them
// gets its first result) and sends everything else (unreadable, a bad
// token) through the single path in order; every delivery is acked once
// answered.
func TestDecisionsBatch(t *testing.T) {
	t.Parallel()
	f := newDecisionFixture(t)
	ctx := t.Context()
	var singles atomic.Int32
	bh := f.h.Batch(counting(f.h.Handle, &singles))
	reject, rejectID := f.delivery(t, func(m map[string]any) {
		m["token"], m["verdict"], m["reason"] = "token-of-"+f.applicant.ID, "reject", "wrong supplier"
	})
	forged, forgedID := f.delivery(t, func(m map[string]any) { m["token"] = "forged" })
	malformed := amqp.Delivery{MessageId: "bad", Body: []byte("{not json")}
	got := bh(ctx, []amqp.Delivery{reject, forged, malformed, reject})
	require.Equal(t, []rabbitmq.Disposition{rabbitmq.Ack, rabbitmq.Ack, rabbitmq.Ack, rabbitmq.Ack}, got)
	require.Equal(t, int32(2), singles.Load(), "the forged and the malformed went one at a time, the repeat with its batch")

	p, err := f.store.PaymentGetByID(ctx, f.payment.ID)
	require.NoError(t, err)
	require.Equal(t, payment.StateRejected, p.State)
	require.Equal(t, 1, countRows(t, `SELECT count(*) FROM decisions WHERE id = $1 AND outcome = 'applied'`, rejectID))
	require.Equal(t, 1, countRows(t, `SELECT count(*) FROM decisions WHERE id = $1 AND code = 'token_invalid'`, forgedID))
	require.Equal(t, 2, countRows(t, `SELECT count(*) FROM outbox WHERE message_id = $1`, "result/"+rejectID),
		"the repeat is answered with the first result")

	// The whole batch again: nothing changes, everything is answered.
	got = bh(ctx, []amqp.Delivery{reject, forged, malformed, reject})
	require.Equal(t, []rabbitmq.Disposition{rabbitmq.Ack, rabbitmq.Ack, rabbitmq.Ack, rabbitmq.Ack}, got)
	require.Equal(t, 1, countRows(t, `SELECT count(*) FROM decisions WHERE id = $1`, rejectID))
}
