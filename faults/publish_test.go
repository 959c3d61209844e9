package faults

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/producers"
)

// want is what a published message should become.
type want int

const (
	// wantAccepted: a payment, and an accepted answer.
	wantAccepted want = iota
	// wantRefused: a refused request in the intake ledger (a registry
	// rule, or a field rule of a body that names its request), a refused
	// answer and a dead letter.
	wantRefused
	// wantRejected: never a request (unreadable, unauthenticated): a row in
	// intake_rejects, a dead letter, and an answer if the sender is known.
	wantRejected
	// wantConflict: a request id reused with other content: refused with
	// idempotency_conflict, a dead letter, the first request standing.
	wantConflict
)

func (w want) String() string {
	return [...]string{"accepted", "refused", "rejected", "conflict"}[w]
}

// msg is one message a scenario publishes and what it should become.
type msg struct {
	Upstream  string // the sender b2bpay should recognise; "" for none
	RequestID string // "" when the body carries none b2bpay can read
	MessageID string
	UserID    string // the user_id property (broker-validated)
	Body      []byte
	Want      want
	Code      payment.Code // for every outcome but wantAccepted
	What      string       // a few words for the report
}

// key is how b2bpay identifies a delivery across redeliveries: a digest of
// message id, user id and body (consumers.original).
func (m msg) key() string {
	h := sha256.New()
	h.Write([]byte(m.MessageID))
	h.Write([]byte{0})
	h.Write([]byte(m.UserID))
	h.Write([]byte{0})
	h.Write(m.Body)
	return hex.EncodeToString(h.Sum(nil))
}

func (m msg) bodyHex() string {
	s := sha256.Sum256(m.Body)
	return hex.EncodeToString(s[:])
}

// answerID is the event id of the answer the sender gets ("" for none).
func (m msg) answerID() string {
	switch m.Want {
	case wantAccepted, wantRefused:
		return m.Upstream + "/" + m.RequestID + "/answer"
	case wantConflict:
		return m.Upstream + "/" + m.RequestID + "/conflict/" + m.bodyHex()[:16]
	}
	if m.Upstream == "" {
		return ""
	}
	return m.Upstream + "/message/" + m.key()
}

// deadID is the message id of its dead-letter copy ("" for none).
func (m msg) deadID() string {
	if m.Want == wantAccepted {
		return ""
	}
	return "dead/" + m.key()
}

// rejectKey is its row in intake_rejects ("" for a request in the ledger).
func (m msg) rejectKey() string {
	switch m.Want {
	case wantRejected:
		return m.key()
	case wantConflict:
		return "conflict:" + m.Upstream + "/" + m.RequestID + "/" + m.bodyHex()
	}
	return ""
}

// today is a valid execution date.
func today() string {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return time.Now().In(loc).Format(payment.DateLayout)
}

// request is a valid request of customer C1.
func request(id string) payment.Request {
	return payment.Request{
		SchemaVersion: 1, RequestID: id, OrderRef: "SO-" + id, CustomerID: "C1", Applicant: "ann",
		BankID: bankB2B, DebtorAccount: accountC1,
		Creditor: payment.Creditor{Name: "深圳南方电子材料有限公司", Account: "755912345610801", BankID: "308584000013"},
		Amount:   "1286400.50", Currency: "CNY", Remittance: "发票 INV-" + id, ExecutionDate: today(),
	}
}

func encode(r payment.Request) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return b
}

// valid is request id as erp (user_id guest), to be accepted.
func valid(id string) msg {
	return msg{Upstream: "erp", RequestID: id, MessageID: id, UserID: "guest", Body: encode(request(id)), Want: wantAccepted, What: "valid request"}
}

// validMall is request id as mall (HMAC), to be accepted.
func validMall(id string) msg {
	return msg{Upstream: "mall", RequestID: id, MessageID: id, Body: encode(request(id)), Want: wantAccepted, What: "valid signed request"}
}

// series is n valid erp requests named prefix-0000, prefix-0001, …
func series(prefix string, n int) []msg {
	out := make([]msg, n)
	for i := range out {
		out[i] = valid(fmt.Sprintf("%s-%05d", prefix, i))
	}
	return out
}

// publisher publishes messages for one upstream identity, retrying every
// publish the broker did not confirm: a message may reach the broker more
// than once, which intake must absorb.
type publisher struct {
	c         *producers.Client
	published atomic.Int64 // publishes, retries included
	confirmed atomic.Int64 // messages confirmed
}

// publisherFor connects as erp (user_id guest), as mall (the right HMAC
// key) or with key, a forged signature for mall.
func (e *env) publisher(upstream string, key []byte) *publisher {
	e.t.Helper()
	cfg := producers.Config{URL: e.amqpURL, UpstreamID: upstream}
	switch {
	case key != nil:
		cfg.HMACKey = key
	case upstream == "erp":
		cfg.UserID = e.amqpUser
	default:
		cfg.HMACKey = e.mallKey
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := producers.Dial(ctx, cfg)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = c.Close() })
	return &publisher{c: c}
}

// send publishes ms in batches of batch, each batch until every message is
// confirmed; pause waits between batches. It returns when all are
// confirmed or ctx ends.
func (p *publisher) send(ctx context.Context, ms []msg, batch int, pause time.Duration) error {
	for i := 0; i < len(ms); i += batch {
		part := ms[i:min(i+batch, len(ms))]
		if err := p.sendAll(ctx, part); err != nil {
			return err
		}
		if pause > 0 && i+batch < len(ms) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pause):
			}
		}
	}
	return nil
}

// sendAll publishes ms at once, pipelined, and publishes again those the
// broker did not confirm.
func (p *publisher) sendAll(ctx context.Context, ms []msg) error {
	for len(ms) > 0 {
		ids, bodies := make([]string, len(ms)), make([][]byte, len(ms))
		for i, m := range ms {
			ids[i], bodies[i] = m.MessageID, m.Body
		}
		p.published.Add(int64(len(ms)))
		var again []msg
		for i, err := range p.c.PublishMany(ctx, ids, bodies) {
			if err != nil {
				again = append(again, ms[i])
			} else {
				p.confirmed.Add(1)
			}
		}
		ms = again
		if len(ms) > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%d messages unconfirmed: %w", len(ms), ctx.Err())
			case <-time.After(100 * time.Millisecond): // the connection is coming back
			}
		}
	}
	return nil
}

// stream publishes ms in the background; the channel gets the result.
func (p *publisher) stream(ctx context.Context, ms []msg, batch int, pause time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() { done <- p.send(ctx, ms, batch, pause) }()
	return done
}

// waitUntil polls cond every 10 ms until it holds or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// plan is the set of messages a scenario means to publish, with the
// number of publishes counted by its publishers.
type plan struct {
	mu   sync.Mutex
	msgs []msg
	pubs []*publisher
}

func (p *plan) add(ms ...msg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, ms...)
}

func (p *plan) publishers(ps ...*publisher) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pubs = append(p.pubs, ps...)
}

func (p *plan) publishes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, pub := range p.pubs {
		n += int(pub.published.Load())
	}
	return n
}
