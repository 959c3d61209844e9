package faults

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/crash"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/route"
)

// The quick scenarios run in the default test run with small counts;
// B2BPAY_FAULTS=1 runs them with bigger ones.

// TestBrokerDropsConnections closes every connection of the vhost twice
// while a stream is published: serve, its relay and the publisher
// reconnect, the publisher publishes again what was not confirmed, and
// intake stores each request once. While each close is on its way the
// publisher sends one message at a time and waits for its confirm, so
// the close finds a publish in flight.
func TestBrokerDropsConnections(t *testing.T) {
	e := newEnv(t, "broker-drops")
	s := e.serveReady()
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	next := 0
	take := func(k int) []msg {
		ms := make([]msg, k)
		for i := range ms {
			ms[i] = valid(fmt.Sprintf("drop-%05d", next))
			next++
		}
		p.add(ms...)
		return ms
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	restored := func() int { return strings.Count(s.log.String(), `msg="rabbitmq connection restored"`) }

	require.NoError(t, pub.send(ctx, take(size(100, 2000)), 25, 0))
	for i := range 2 {
		waitUntil(t, 30*time.Second, "serve connected", func() bool { return restored() == i })
		require.GreaterOrEqual(t, e.connections(), 2, "serve and the publisher are connected")
		closed := make(chan error, 1)
		go func() { closed <- e.closeConnections(fmt.Sprintf("faults: drop %d", i+1)) }()
		for burst := true; burst; {
			select {
			case err := <-closed:
				require.NoError(t, err)
				burst = false
			default:
			}
			require.NoError(t, pub.send(ctx, take(1), 1, 0))
		}
		require.NoError(t, pub.send(ctx, take(size(50, 1000)), 25, 0))
	}
	e.check(p, checkOptions{})
	require.Equal(t, 2, restored(), "serve's connection was dropped twice and came back")
	t.Logf("%d messages, %d publishes: %d published again after a drop", next, pub.published.Load(), pub.published.Load()-int64(next))
	s.stop()
}

// TestCrashBeforeCommit stops serve (exit 3) just before the first request
// is committed: nothing is stored, and the serve started again stores every
// request once.
func TestCrashBeforeCommit(t *testing.T) {
	e := newEnv(t, "crash-before-commit")
	n := size(20, 500)
	p := &plan{}
	pub := e.publisher("erp", nil)
	p.publishers(pub)
	ms := series("before", n)
	p.add(ms...)
	e.cli("topology")
	require.NoError(t, pub.send(context.Background(), ms, 50, 0))

	e.serve(crash.IntakeBeforeCommit).crashed(30 * time.Second)
	require.Zero(t, e.count(`SELECT count(*) FROM payments`), "nothing is committed before the crash point")
	require.Zero(t, e.count(`SELECT count(*) FROM intake_requests`))

	s := e.serveReady()
	e.check(p, checkOptions{})
	s.stop()
}

// TestCrashAfterCommit stops serve (exit 3) right after the first request
// is committed, before its delivery is acked: the broker delivers it again,
// intake recognises it, stores nothing more and sends the answer again.
func TestCrashAfterCommit(t *testing.T) {
	e := newEnv(t, "crash-after-commit")
	n := size(20, 500)
	p := &plan{}
	pub := e.publisher("erp", nil)
	p.publishers(pub)
	ms := series("after", n)
	p.add(ms...)
	e.cli("topology")
	require.NoError(t, pub.send(context.Background(), ms, 50, 0))

	e.serve(crash.IntakeAfterCommit).crashed(30 * time.Second)
	committed := e.requestIDs(`SELECT request_id FROM intake_requests`)
	// Each of the 4 concurrent handlers dies at the point at the latest,
	// after its first batch (serve's --intake-batch, 50) committed.
	require.NotEmpty(t, committed, "the first batch was committed before the crash")
	require.LessOrEqual(t, len(committed), 4*50)

	s := e.serveReady()
	opts := checkOptions{pendingOK: !long}
	if long {
		opts.timeout = 2 * time.Minute // a row the relay had leased waits for its lease (30 s)
	}
	e.check(p, opts)
	// The check can end before every redelivery is handled: an answer the
	// crashed process's relay sent first is not waited for again. The
	// relay deletes what the broker confirmed, so "sent again" is the log
	// line of the duplicate's answer and no copy of it left pending.
	for _, id := range committed {
		answer := "erp/" + id + "/answer"
		redelivered := regexp.MustCompile(`msg="request answered" .*request_id=` + regexp.QuoteMeta(id) + ` .*duplicate=true`)
		waitUntil(t, 30*time.Second, "the redelivery of "+id+" recognised and its answer sent again", func() bool {
			return redelivered.MatchString(s.log.String()) &&
				e.count(`SELECT count(*) FROM outbox WHERE message_id = $1 AND sent_at IS NULL`, answer) == 0
		})
	}
	s.stop()
}

// TestUnroutableAnswer removes the binding of the upstream's status queue:
// answers stay pending in the outbox with the error and an ERROR log
// alert=unroutable; bound again, they are delivered.
func TestUnroutableAnswer(t *testing.T) {
	e := newEnv(t, "unroutable")
	s := e.serveReady()
	ch := e.channel()
	statusQueue, key := route.StatusQueue("erp"), route.StatusKey("erp")
	require.NoError(t, ch.QueueUnbind(statusQueue, key, route.EventsExchange, nil))
	e.injected(1)

	p := &plan{}
	pub := e.publisher("erp", nil)
	p.publishers(pub)
	ms := series("unroutable", 3)
	p.add(ms...)
	require.NoError(t, pub.send(context.Background(), ms, 10, 0))

	for _, m := range ms {
		waitUntil(t, 30*time.Second, "answer "+m.answerID()+" tried and held back", func() bool {
			return e.count(`SELECT count(*) FROM outbox WHERE message_id = $1 AND sent_at IS NULL AND attempts > 0
				AND last_error LIKE '%unroutable%'`, m.answerID()) == 1
		})
	}
	require.Equal(t, 3, e.count(`SELECT count(*) FROM payments`))
	require.Contains(t, s.log.String(), "alert=unroutable")
	require.Regexp(t, `level=ERROR msg="outbox message is unroutable; it stays pending" message_id=erp/unroutable-00000/answer .*alert=unroutable`, s.log.String())
	require.Zero(t, e.collect().copiesOf(ms[0].answerID()), "no answer arrived while unbound")

	require.NoError(t, ch.QueueBind(statusQueue, key, route.EventsExchange, false, nil))
	e.check(p, checkOptions{timeout: 40 * time.Second})
	s.stop()
}

// TestHostileInput mixes poison and hostile messages into valid traffic:
// each lands once in the dead-letter queue with its reason, valid traffic
// keeps flowing, and dead-lettered + stored = published.
func TestHostileInput(t *testing.T) {
	e := newEnv(t, "hostile-input")
	s := e.serveReady()
	erp, mall, forger := e.publisher("erp", nil), e.publisher("mall", nil), e.publisher("mall", []byte("not the key of mall"))
	p := &plan{}
	p.publishers(erp, mall, forger)

	rounds, perRound := size(1, 5), size(60, 120)
	step := perRound / (len(hostileKinds) + 1)
	var hostile int
	for r := range rounds {
		for i := range perRound {
			var m msg
			if i%3 == 2 {
				m = validMall(fmt.Sprintf("mall-%d-%04d", r, i))
			} else {
				m = valid(fmt.Sprintf("erp-%d-%04d", r, i))
			}
			pubFor(m, erp, mall).mustSend(t, m)
			p.add(m)
			if j := i / step; i%step == step-1 && j < len(hostileKinds) {
				h := hostileKinds[j](fmt.Sprintf("hostile-%d-%d", r, j))
				pubFor(h, erp, forger).mustSend(t, h)
				p.add(h)
				hostile++
			}
		}
	}
	require.Equal(t, rounds*len(hostileKinds), hostile, "every kind was sent")

	res := e.check(p, checkOptions{})
	require.Equal(t, hostile, res.deadGot, "one dead letter per hostile message")
	require.Equal(t, res.messages, res.deadGot+e.count(`SELECT count(*) FROM payments`), "dead-lettered + stored = published")
	s.stop()
}

// hostileKinds make one hostile message each, named by id.
var hostileKinds = []func(id string) msg{
	func(id string) msg {
		return rejected(id, []byte(`{"schema_version":1,"request_id":`), payment.CodeMalformed, "malformed JSON")
	},
	func(id string) msg {
		return rejected(id, []byte("{\"schema_version\":1,\"request_id\":\"\xff\xfe\"}"), payment.CodeMalformed, "bad UTF-8")
	},
	func(id string) msg {
		r := request(id)
		r.Amount = "-100.00"
		return refusedField(id, encode(r), payment.CodeInvalidAmount, "negative amount")
	},
	func(id string) msg {
		r := request(id)
		r.Amount = "99999999999999999999999.99"
		return refusedField(id, encode(r), payment.CodeInvalidAmount, "amount of 23 digits")
	},
	func(id string) msg {
		r := request(id)
		r.Amount = "999999999999999999.99"
		return refusedField(id, encode(r), payment.CodeInvalidAmount, "amount over int64 minor units")
	},
	func(id string) msg {
		b := bytes.Replace(encode(request(id)), []byte(`"amount":"1286400.50"`), []byte(`"amount":1286400.5`), 1)
		return refusedField(id, b, payment.CodeMalformed, "amount as a JSON number")
	},
	func(id string) msg {
		b := append([]byte(`{"schema_version":1,"pad":"`), bytes.Repeat([]byte("x"), 10<<20)...)
		return rejected(id, append(b, `"}`...), payment.CodeTooLarge, "10 MB body")
	},
	func(id string) msg {
		r := request(id)
		r.SchemaVersion = 7
		return rejected(id, encode(r), payment.CodeUnknownVersion, "schema version 7")
	},
	func(id string) msg {
		return rejected(id, nil, payment.CodeMalformed, "empty body")
	},
	func(id string) msg {
		// Signed with a key that is not mall's: nobody vouches for it.
		return msg{MessageID: id, Body: encode(request(id)), Want: wantRejected, Code: payment.CodeUnauthenticated, What: "forged HMAC"}
	},
	func(id string) msg {
		r := request(id)
		r.CustomerID, r.Applicant, r.DebtorAccount = "C2", "dan", accountC2
		return msg{Upstream: "erp", RequestID: id, MessageID: id, UserID: "guest", Body: encode(r), Want: wantRefused,
			Code: payment.CodeCustomerNotEnabled, What: "customer not enabled"}
	},
}

func rejected(id string, body []byte, code payment.Code, what string) msg {
	return msg{Upstream: "erp", MessageID: id, UserID: "guest", Body: body, Want: wantRejected, Code: code, What: what}
}

// refusedField is a request the decoder refuses that still names itself
// (request id id): refused as that request, in the intake ledger.
func refusedField(id string, body []byte, code payment.Code, what string) msg {
	return msg{Upstream: "erp", RequestID: id, MessageID: id, UserID: "guest", Body: body, Want: wantRefused, Code: code, What: what}
}

// pubFor picks the publisher of a message: by user id (erp), else the HMAC
// one given.
func pubFor(m msg, byUser, byHMAC *publisher) *publisher {
	if m.UserID != "" {
		return byUser
	}
	return byHMAC
}

func (p *publisher) mustSend(t *testing.T, ms ...msg) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.sendAll(ctx, ms))
}

// TestDuplicates publishes each message three times at once: one payment
// and three identical answers each. Then a request id comes again with
// another amount: refused with idempotency_conflict (dead-lettered once,
// one ERROR alert), and the first request stands.
func TestDuplicates(t *testing.T) {
	e := newEnv(t, "duplicates")
	k := size(10, 200)
	p := &plan{}
	pub := e.publisher("erp", nil)
	p.publishers(pub)
	ms := series("dup", k)
	e.cli("topology")
	// Three copies side by side, published before serve starts, so its
	// four handlers take them at the same time.
	var triple []msg
	for _, m := range ms {
		triple = append(triple, m, m, m)
	}
	p.add(triple...)
	pub.mustSend(t, triple...)
	s := e.serveReady()
	waitUntil(t, 30*time.Second, "the first requests", func() bool {
		return e.count(`SELECT count(*) FROM intake_requests`) == k
	})

	conflicts := min(k, 3)
	for _, m := range ms[:conflicts] {
		r := request(m.RequestID)
		r.Amount = "1.00"
		c := msg{Upstream: "erp", RequestID: m.RequestID, MessageID: m.RequestID, UserID: "guest", Body: encode(r),
			Want: wantConflict, Code: payment.CodeIdempotencyConflict, What: "request id reused with another amount"}
		p.add(c, c)
		pub.mustSend(t, c, c) // the conflict twice: refused twice, dead-lettered and alerted once
	}

	e.check(p, checkOptions{})
	for _, m := range ms {
		require.Equal(t, 3, e.collect().copiesOf(m.answerID()), "three answers to %s", m.RequestID)
	}
	require.Equal(t, 0, e.count(`SELECT count(*) FROM payments WHERE amount_minor <> 128640050`), "the first requests stand")
	require.Equal(t, conflicts, strings.Count(s.log.String(), "alert=idempotency_conflict"))
	require.Regexp(t, `level=ERROR msg="idempotency key reused with different content" alert=idempotency_conflict upstream_id=erp request_id=dup-00000`, s.log.String())
	s.stop()
}

// channel opens an AMQP channel on the scenario's vhost for the test.
func (e *env) channel() *amqp.Channel {
	e.t.Helper()
	conn, err := amqp.Dial(e.amqpURL)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(e.t, err)
	return ch
}

// requestIDs runs a query that returns request ids.
func (e *env) requestIDs(sql string, args ...any) []string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), sql, args...)
	require.NoError(e.t, err)
	var out []string
	for rows.Next() {
		var id string
		require.NoError(e.t, rows.Scan(&id))
		out = append(out, id)
	}
	require.NoError(e.t, rows.Err())
	return out
}
