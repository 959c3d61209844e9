package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/producers"
)

// TestIntakeEndToEnd runs requests through a real broker and database: the
// accepted path, idempotent repeats, every refusal with its dead letter,
// and hostile input that must not stop the worker.
func TestIntakeEndToEnd(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	erp, err := producers.Dial(ctx, producers.Config{URL: e.cfg.AMQPURL, UpstreamID: "erp", UserID: "guest"})
	require.NoError(t, err)
	defer erp.Close()
	answers, err := erp.Subscribe(ctx)
	require.NoError(t, err)
	defer answers.Close()
	wait := func(id string) payment.Event {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		ev, err := answers.Wait(wctx, id)
		require.NoError(t, err)
		return ev
	}

	t.Run("accepted and stored once", func(t *testing.T) {
		require.NoError(t, erp.Submit(ctx, request("e2e-ok-1")))
		ev := wait("e2e-ok-1")
		require.Equal(t, payment.EventAccepted, ev.Kind)
		require.Equal(t, payment.StateAwaitingConfirmation, ev.State)
		p, err := e.app.Store.PaymentGetByID(ctx, ev.PaymentID)
		require.NoError(t, err)
		require.Equal(t, int64(128640050), p.AmountMinor)
		require.Equal(t, "erp", p.UpstreamID)
		tl, err := e.app.Store.PaymentTimeline(ctx, p.ID)
		require.NoError(t, err)
		require.Len(t, tl, 2)
		require.Equal(t, 1, e.count(`SELECT count(*) FROM payments WHERE request_id = 'e2e-ok-1'`))
	})

	t.Run("same request three times: one payment, three identical answers", func(t *testing.T) {
		b := body(t, request("e2e-dup-1"))
		for range 3 {
			require.NoError(t, erp.Publish(ctx, "e2e-dup-1", b))
		}
		// The subscription takes every answer from erp's status queue: find the three.
		var got []payment.Event
		require.Eventually(t, func() bool {
			got = got[:0]
			for _, ev := range answers.Events() {
				if ev.RequestID == "e2e-dup-1" {
					got = append(got, ev)
				}
			}
			return len(got) >= 3
		}, 20*time.Second, 50*time.Millisecond)
		require.Len(t, got, 3)
		for _, ev := range got[1:] {
			require.Equal(t, got[0].ID, ev.ID)
			require.Equal(t, got[0].PaymentID, ev.PaymentID)
			require.Equal(t, payment.EventAccepted, ev.Kind)
		}
		require.Equal(t, 1, e.count(`SELECT count(*) FROM payments WHERE request_id = 'e2e-dup-1'`))
	})

	refusals := []struct {
		name   string
		mutate func(*payment.Request)
		code   payment.Code
	}{
		{"customer not enabled", func(r *payment.Request) {
			r.CustomerID, r.Applicant, r.DebtorAccount = "C2", "dan", accountC2
		}, payment.CodeCustomerNotEnabled},
		{"unknown customer", func(r *payment.Request) { r.CustomerID = "C9" }, payment.CodeUnknownCustomer},
		{"unknown bank", func(r *payment.Request) { r.BankID = "999999999999" }, payment.CodeUnknownBank},
		{"bank without B2B", func(r *payment.Request) { r.BankID, r.DebtorAccount = bankNoB2B, accountNoB2B }, payment.CodeBankNotB2B},
		{"order already paid", func(r *payment.Request) { r.OrderRef = "SO-e2e-ok-1" }, payment.CodeOrderInUse},
		{"bad amount", func(r *payment.Request) { r.Amount = "12.345" }, payment.CodeInvalidAmount},
		{"zero amount", func(r *payment.Request) { r.Amount = "0.00" }, payment.CodeInvalidAmount},
		{"bad currency", func(r *payment.Request) { r.Currency = "XYZ" }, payment.CodeInvalidCurrency},
		{"currency of another account", func(r *payment.Request) { r.Currency = "USD" }, payment.CodeCurrencyMismatch},
		{"bad account", func(r *payment.Request) { r.DebtorAccount = "62-17" }, payment.CodeInvalidAccount},
		{"past date", func(r *payment.Request) { r.ExecutionDate = "2020-01-01" }, payment.CodeInvalidDate},
		{"unknown version", func(r *payment.Request) { r.SchemaVersion = 7 }, payment.CodeUnknownVersion},
	}
	for i, tc := range refusals {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			r := request(fmt.Sprintf("e2e-refuse-%d", i))
			tc.mutate(&r)
			require.NoError(t, erp.Submit(ctx, r))
			ev := wait(r.RequestID)
			require.Equal(t, payment.EventRefused, ev.Kind)
			require.Equal(t, tc.code, ev.Code, ev.Reason)
			require.NotEmpty(t, ev.Reason)
			dead := e.deadLetter(t, r.RequestID)
			require.Equal(t, string(tc.code), dead.Headers["x-b2bpay-reason-code"])
			require.NotEmpty(t, dead.Headers["x-b2bpay-reason"])
			require.Equal(t, 0, e.count(`SELECT count(*) FROM payments WHERE request_id = $1`, r.RequestID))
		})
	}

	t.Run("malformed and oversized messages are dead-lettered and the worker goes on", func(t *testing.T) {
		hostile := map[string][]byte{
			"e2e-bad-json":  []byte(`{"schema_version":1,"request_id":`),
			"e2e-bad-utf8":  []byte("{\"schema_version\":1,\"request_id\":\"\xff\xfe\"}"),
			"e2e-oversized": append([]byte(`{"schema_version":1,"pad":"`), bytes.Repeat([]byte("x"), 10<<20)...),
			"e2e-number":    []byte(`{"schema_version":1,"amount":1e308}`),
			"e2e-empty":     {},
		}
		codes := map[string]payment.Code{"e2e-bad-json": payment.CodeMalformed, "e2e-bad-utf8": payment.CodeMalformed,
			"e2e-oversized": payment.CodeTooLarge, "e2e-number": payment.CodeMalformed, "e2e-empty": payment.CodeMalformed}
		for id, b := range hostile {
			require.NoError(t, erp.Publish(ctx, id, b))
		}
		for id, code := range codes {
			ev := wait(id)
			require.Equal(t, payment.EventRefused, ev.Kind, id)
			require.Equal(t, code, ev.Code, id)
			dead := e.deadLetterByMessageID(t, id)
			require.Equal(t, string(code), dead.Headers["x-b2bpay-reason-code"], id)
		}
		require.NoError(t, erp.Submit(ctx, request("e2e-after-poison")))
		require.Equal(t, payment.EventAccepted, wait("e2e-after-poison").Kind)
	})

	t.Run("unauthenticated messages are dead-lettered", func(t *testing.T) {
		b := body(t, request("e2e-noauth"))
		e.publish(amqp.Publishing{MessageId: "e2e-noauth", Body: b})
		dead := e.deadLetterByMessageID(t, "e2e-noauth")
		require.Equal(t, string(payment.CodeUnauthenticated), dead.Headers["x-b2bpay-reason-code"])

		forged := body(t, request("e2e-forged"))
		e.publish(amqp.Publishing{MessageId: "e2e-forged", Body: forged, Headers: amqp.Table{
			"x-b2bpay-upstream": "mall", "x-b2bpay-signature": intake.Sign([]byte("not the key"), forged)}})
		dead = e.deadLetterByMessageID(t, "e2e-forged")
		require.Equal(t, string(payment.CodeUnauthenticated), dead.Headers["x-b2bpay-reason-code"])
		require.Contains(t, dead.Headers["x-b2bpay-reason"], "signature")
		require.Equal(t, 0, e.count(`SELECT count(*) FROM payments WHERE request_id IN ('e2e-noauth', 'e2e-forged')`))
	})

	t.Run("an upstream may submit only for its customers", func(t *testing.T) {
		mall, err := producers.Dial(ctx, producers.Config{URL: e.cfg.AMQPURL, UpstreamID: "mall", HMACKey: e.mallKey})
		require.NoError(t, err)
		defer mall.Close()
		r := request("e2e-mall-c2")
		r.CustomerID, r.Applicant, r.DebtorAccount = "C2", "dan", accountC2
		require.NoError(t, mall.Submit(ctx, r))
		dead := e.deadLetter(t, "e2e-mall-c2")
		require.Equal(t, string(payment.CodeUpstreamNotPermitted), dead.Headers["x-b2bpay-reason-code"])
	})
}

// deadLetter finds the dead letter of a request in the intake dead-letter
// queue, keeping the others for later calls.
func (e *env) deadLetter(t *testing.T, requestID string) amqp.Delivery {
	return e.findDead(t, func(d amqp.Delivery) bool { return bytes.Contains(d.Body, []byte(`"`+requestID+`"`)) })
}

func (e *env) deadLetterByMessageID(t *testing.T, id string) amqp.Delivery {
	return e.findDead(t, func(d amqp.Delivery) bool { return d.Headers["x-b2bpay-original-message-id"] == id })
}

func (e *env) findDead(t *testing.T, match func(amqp.Delivery) bool) amqp.Delivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for i, d := range e.dead {
			if match(d) {
				e.dead = append(e.dead[:i], e.dead[i+1:]...)
				return d
			}
		}
		e.dead = append(e.dead, e.getAll("b2bpay.intake.dead", 1000, 100*time.Millisecond)...)
	}
	t.Fatal("no such dead letter within 20 s")
	return amqp.Delivery{}
}

// TestPlainAMQPClient publishes a request with Debian's amqp-publish, which
// is not ours, following only the README's contract: an HMAC-signed body.
func TestPlainAMQPClient(t *testing.T) {
	if _, err := exec.LookPath("amqp-publish"); err != nil {
		t.Fatal("amqp-publish is missing: apt-get install amqp-tools (scripts/services.sh does)")
	}
	e := newEnv(t)
	b := string(body(t, request("plain-client-1")))
	sig := intake.Sign(e.mallKey, []byte(b))
	// The same signature as the README's shell recipe computes with openssl.
	out, err := exec.Command("sh", "-c", fmt.Sprintf("printf '%%s' '%s' | openssl dgst -sha256 -mac HMAC -macopt hexkey:%x | awk '{print $NF}'", b, e.mallKey)).Output()
	require.NoError(t, err)
	require.Equal(t, sig, strings.TrimSpace(string(out)))

	cmd := exec.Command("amqp-publish", "--url", e.cfg.AMQPURL, "-e", "b2bpay.requests", "-r", "payment.request.v1", "-p",
		"-C", "application/json", "-H", "x-b2bpay-upstream: mall", "-H", "x-b2bpay-signature: "+sig, "-b", b)
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, string(msg))

	var got []payment.Event
	require.Eventually(t, func() bool {
		got = append(got, events(t, e.getAll("b2bpay.status.mall", 10, 100*time.Millisecond))...)
		return len(got) > 0
	}, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, payment.EventAccepted, got[0].Kind, got[0].Reason)
	require.Equal(t, "plain-client-1", got[0].RequestID)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM payments WHERE request_id = 'plain-client-1' AND upstream_id = 'mall'`))
}

// TestPlainAMQPClientRefusedRequest (issue 10, point 4): the README's
// amqp-publish recipe sends no message_id. A request refused for a field
// rule (amount "-1") is still answered as that request: request_id,
// correlation_id and order_ref, under the event id <upstream>/<request
// id>/answer, and a second publish of it gets the same answer again.
func TestPlainAMQPClientRefusedRequest(t *testing.T) {
	if _, err := exec.LookPath("amqp-publish"); err != nil {
		t.Fatal("amqp-publish is missing: apt-get install amqp-tools (scripts/services.sh does)")
	}
	e := newEnv(t)
	r := request("plain-refused-1")
	r.Amount = "-1"
	b := string(body(t, r))
	publish := func() {
		cmd := exec.Command("amqp-publish", "--url", e.cfg.AMQPURL, "-e", "b2bpay.requests", "-r", "payment.request.v1", "-p",
			"-C", "application/json", "-H", "x-b2bpay-upstream: mall", "-H", "x-b2bpay-signature: "+intake.Sign(e.mallKey, []byte(b)), "-b", b)
		msg, err := cmd.CombinedOutput()
		require.NoError(t, err, string(msg))
	}
	answer := func() amqp.Delivery {
		var got []amqp.Delivery
		require.Eventually(t, func() bool {
			got = append(got, e.getAll("b2bpay.status.mall", 10, 100*time.Millisecond)...)
			return len(got) > 0
		}, 20*time.Second, 50*time.Millisecond)
		require.Len(t, got, 1)
		return got[0]
	}

	publish()
	d := answer()
	require.Empty(t, d.Headers["x-b2bpay-original-message-id"])
	require.Equal(t, "plain-refused-1", d.CorrelationId)
	require.Equal(t, "mall/plain-refused-1/answer", d.MessageId)
	ev := events(t, []amqp.Delivery{d})[0]
	require.Equal(t, payment.EventRefused, ev.Kind)
	require.Equal(t, payment.CodeInvalidAmount, ev.Code, ev.Reason)
	require.Equal(t, "plain-refused-1", ev.RequestID)
	require.Equal(t, "SO-plain-refused-1", ev.OrderRef)
	require.Empty(t, ev.MessageID, "amqp-publish sets none")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM intake_requests WHERE upstream_id = 'mall' AND request_id = 'plain-refused-1' AND code = 'invalid_amount'`))

	publish() // the same request again: the same answer
	again := events(t, []amqp.Delivery{answer()})[0]
	require.Equal(t, ev.ID, again.ID)
	require.Equal(t, ev.Reason, again.Reason)
	require.Zero(t, e.count(`SELECT count(*) FROM payments WHERE request_id = 'plain-refused-1'`))
}
