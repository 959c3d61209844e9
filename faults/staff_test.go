package faults

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/route"
)

// The staff of the approval scenarios: people made with the command line
// (user add, password, enroll-otp), signed in with `b2bpay login`, who
// decide with `b2bpay confirm` and `b2bpay decide` and read their codes
// from an authenticator of their own, as the staff client's users do.

// ran is what one b2bpay command did.
type ran struct {
	stdout, stderr string
	code           int // exit status
}

// run runs one b2bpay command with more environment (which wins over the
// scenario's) and stdin. An exit status other than 0 is not an error: the
// caller reads code; err is for a command that could not run or timed out.
func (e *env) run(environ []string, stdin string, args ...string) (ran, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = e.environ(environ...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := ran{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return r, fmt.Errorf("b2bpay %s: %w\n%s", strings.Join(args, " "), ctx.Err(), r.stderr)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		return r, fmt.Errorf("b2bpay %s: %w", strings.Join(args, " "), err)
	}
	return r, nil
}

// parallel runs each function in a goroutine of its own and fails the
// test with every error (the test's goroutine is the only one to fail it).
func parallel(t *testing.T, fns ...func() error) {
	t.Helper()
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
}

// person is one member of a customer's staff.
type person struct {
	e       *env
	id      string
	seed    []byte // the TOTP seed shown at enrolment
	session string // the session file `b2bpay login` writes

	mu   sync.Mutex // one decision at a time, codes in the order drawn
	step int64      // the last step a code was drawn for
}

const staffPassword = annPassword

// people registers users of a customer with their roles, a password and an
// OTP seed each, all at once.
func (e *env) people(customer string, roles map[string][]payment.Role) map[string]*person {
	e.t.Helper()
	out := make(map[string]*person, len(roles))
	var fns []func() error
	for id, rs := range roles {
		p := &person{e: e, id: id, session: filepath.Join(e.dir, id+".session")}
		out[id] = p
		fns = append(fns, func() error {
			if id != "ann" && id != "dan" { // seeded
				args := []string{"user", "add", "--id", id, "--customer", customer, "--name", "员工 " + id}
				for _, r := range rs {
					args = append(args, "--role", string(r))
				}
				if err := e.runOK(nil, "", args...); err != nil {
					return err
				}
			}
			return p.enroll()
		})
	}
	parallel(e.t, fns...)
	return out
}

// runOK runs a command that must succeed: another exit status is an error.
func (e *env) runOK(environ []string, stdin string, args ...string) error {
	r, err := e.run(environ, stdin, args...)
	if err == nil && r.code != 0 {
		err = fmt.Errorf("b2bpay %s: exit status %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return err
}

// enroll sets the person's password and OTP seed with the command line.
func (p *person) enroll() error {
	if err := p.e.runOK(nil, staffPassword+"\n", "user", "password", "--id", p.id); err != nil {
		return err
	}
	r, err := p.e.run(nil, "", "user", "enroll-otp", "--id", p.id, "--qr", filepath.Join(p.e.dir, p.id+".png"))
	if err != nil || r.code != 0 {
		return fmt.Errorf("enroll-otp %s: %v %s", p.id, err, r.stderr)
	}
	seed, err := seedOf(otpURILine.FindString(r.stdout))
	if err != nil {
		return fmt.Errorf("enroll-otp %s: %w", p.id, err)
	}
	p.seed = seed
	return nil
}

// seedOf reads the seed of an otpauth:// URI.
func seedOf(uri string) ([]byte, error) {
	u, err := url.Parse(uri)
	if err != nil || uri == "" {
		return nil, fmt.Errorf("no otpauth URI: %q", uri)
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(u.Query().Get("secret")))
}

// loginAll signs everyone in through s's API, all at once.
func loginAll(s *server, ps ...*person) {
	s.e.t.Helper()
	api := s.apiURL()
	var fns []func() error
	for _, p := range ps {
		fns = append(fns, func() error {
			return p.e.runOK(nil, staffPassword+"\n", "login", "--user", p.id, "--api-url", api, "--session-file", p.session)
		})
	}
	parallel(s.e.t, fns...)
}

// code is the code of the next time step the person has not used yet,
// within the ±1 step b2bpay accepts; it waits for the clock when the
// window is used up. Near the end of a step the previous step's code is
// not used: it could expire on its way.
func (p *person) code() string { return p.codeFrom(-1) }

// lastingCode is like code but never the previous step's: a code that
// stays good for 30 s at least, for decisions that may be answered late.
func (p *person) lastingCode() string { return p.codeFrom(0) }

// codeFrom draws the code of the first unused step from the current step
// plus from, waiting for the clock when the window is used up.
func (p *person) codeFrom(from int64) string {
	for {
		now := time.Now()
		cur := now.Unix() / 30
		low := cur + from
		if now.Unix()%30 >= 26 {
			low = max(low, cur)
		}
		if next := max(low, p.step+1); next <= cur+1 {
			p.step = next
			c, err := otp.CodeAt(p.seed, next, otp.Options{})
			if err != nil {
				panic(err)
			}
			return c
		}
		time.Sleep(time.Until(time.Unix((cur+1)*30, 0)) + 50*time.Millisecond)
	}
}

// decide sends one decision with the staff client through s's API and
// waits for its result: `b2bpay confirm` for the applicant's approval,
// `b2bpay decide` otherwise. code "" sends none; a rejection gives a
// reason. A refusal is a result, not an error.
func (p *person) decide(s *server, paymentID string, stage payment.Stage, verdict payment.Verdict, code string) (approval.Result, error) {
	var args []string
	if stage == payment.StageConfirmation && verdict == payment.VerdictApprove {
		args = []string{"confirm", paymentID}
	} else {
		args = []string{"decide", paymentID, "--stage", string(stage), "--" + string(verdict)}
		if verdict == payment.VerdictReject {
			args = append(args, "--reason", "faults: "+p.id+" rejects")
		}
	}
	if code != "" {
		args = append(args, "--otp", code)
	}
	args = append(args, "--wait", "30s", "--api-url", s.apiURL(), "--session-file", p.session)
	r, err := p.e.run(nil, "", args...)
	if err != nil {
		return approval.Result{}, err
	}
	var res approval.Result
	if jerr := json.Unmarshal([]byte(r.stdout), &res); jerr != nil || (r.code != 0 && r.code != 3) {
		return res, fmt.Errorf("%s %s: exit status %d: %v\n%s%s", p.id, strings.Join(args[:3], " "), r.code, jerr, r.stdout, r.stderr)
	}
	return res, nil
}

// approve approves a payment at a stage, with a fresh code where the stage
// needs one, and requires it applied.
func (p *person) approve(s *server, paymentID string, stage payment.Stage) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	code := ""
	if payment.NeedsOTP(stage, payment.VerdictApprove) {
		code = p.code()
	}
	res, err := p.decide(s, paymentID, stage, payment.VerdictApprove, code)
	if err == nil && res.Outcome != approval.Applied {
		err = fmt.Errorf("%s approving %s at %s: %s %s", p.id, paymentID, stage, res.Code, res.Reason)
	}
	return err
}

// staffPayment is a payment of the scenario, its applicant, and its
// number in the scenario (reviewers and authorizers are taken in turn by it).
type staffPayment struct {
	requestID string
	id        string
	applicant *person
	index     int
	m         msg
}

// crew is the staff the export scenarios approve payments with: applicants
// (each payment names one), reviewers and authorizers, so that each person
// has at most three decisions needing a code (b2bpay takes one code per
// 30 s step and person, three at once within the ±1 step window).
type crew struct {
	applicants, reviewers, authorizers []*person
}

// newCrew registers enough staff of C1 for n payments, ann among the
// applicants, and signs them in.
func (e *env) newCrew(s *server, n int) crew {
	e.t.Helper()
	k := (n + 2) / 3
	roles := map[string][]payment.Role{}
	var c crew
	name := func(prefix string, i int) string {
		if prefix == "ap" && i == 0 {
			return "ann"
		}
		return fmt.Sprintf("%s%02d", prefix, i)
	}
	for i := range k {
		roles[name("ap", i)] = []payment.Role{payment.RoleApplicant}
		roles[name("au", i)] = []payment.Role{payment.RoleAuthorizer}
	}
	for i := range 2 {
		roles[name("rv", i)] = []payment.Role{payment.RoleReviewer}
	}
	ps := e.people("C1", roles)
	var all []*person
	for i := range k {
		c.applicants = append(c.applicants, ps[name("ap", i)])
		c.authorizers = append(c.authorizers, ps[name("au", i)])
	}
	for i := range 2 {
		c.reviewers = append(c.reviewers, ps[name("rv", i)])
	}
	for _, p := range ps {
		all = append(all, p)
	}
	loginAll(s, all...)
	return c
}

// requests are valid requests of C1 number first to first+n-1, named
// prefix-00000…, their applicants taken in turn from the crew, with
// amounts that differ.
func (c crew) requests(prefix string, first, n int) []staffPayment {
	var out []staffPayment
	for i := first; i < first+n; i++ {
		id := fmt.Sprintf("%s-%05d", prefix, i)
		a := c.applicants[i%len(c.applicants)]
		r := request(id)
		r.Applicant = a.id
		r.Amount = fmt.Sprintf("%d.%02d", 1000+i*137, (i*7)%100)
		out = append(out, staffPayment{requestID: id, applicant: a, index: i,
			m: msg{Upstream: "erp", RequestID: id, MessageID: id, UserID: "guest", Body: encode(r), Want: wantAccepted,
				What: "valid request, approved"}})
	}
	return out
}

// msgs are the requests' messages.
func msgs(ps []staffPayment) []msg {
	out := make([]msg, len(ps))
	for i, p := range ps {
		out[i] = p.m
	}
	return out
}

// submit publishes the requests and waits for their payments.
func (e *env) submit(pub *publisher, ps []staffPayment) []staffPayment {
	e.t.Helper()
	pub.mustSend(e.t, msgs(ps)...)
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.requestID
	}
	waitUntil(e.t, 30*time.Second, "the payments", func() bool {
		return e.count(`SELECT count(*) FROM payments WHERE request_id = ANY($1)`, ids) == len(ids)
	})
	out := append([]staffPayment(nil), ps...)
	for i := range out {
		out[i].id = e.paymentID(out[i].requestID)
	}
	return out
}

// paymentID is the id of the payment of an erp request.
func (e *env) paymentID(requestID string) string {
	e.t.Helper()
	return e.requestIDs(`SELECT id::text FROM payments WHERE upstream_id = 'erp' AND request_id = $1`, requestID)[0]
}

// approveAll takes the payments through the three stages with the staff
// client: each applicant confirms, then reviewers and then authorizers
// taken in turn approve; the people of a stage work at once, each one
// decision at a time.
func (c crew) approveAll(s *server, ps []staffPayment) {
	s.e.t.Helper()
	stage := func(st payment.Stage, who func(p staffPayment) *person) {
		byPerson := map[*person][]string{}
		for _, p := range ps {
			w := who(p)
			byPerson[w] = append(byPerson[w], p.id)
		}
		var fns []func() error
		for w, ids := range byPerson {
			fns = append(fns, func() error {
				for _, id := range ids {
					if err := w.approve(s, id, st); err != nil {
						return err
					}
				}
				return nil
			})
		}
		parallel(s.e.t, fns...)
	}
	stage(payment.StageConfirmation, func(p staffPayment) *person { return p.applicant })
	stage(payment.StageReview, func(p staffPayment) *person { return c.reviewers[p.index%len(c.reviewers)] })
	stage(payment.StageAuthorization, func(p staffPayment) *person { return c.authorizers[p.index%len(c.authorizers)] })
}

// eventSeq is the timeline entry whose state_changed event reports a
// payment reaching a state on the approval path.
var eventSeq = map[payment.State]int{
	payment.StateAwaitingReview:        3,
	payment.StateAwaitingAuthorization: 4,
	payment.StateAuthorized:            5,
	payment.StateExported:              6,
}

// eventsUpTo are the ids of the state_changed events of an erp request's
// payment that reached state along the approval path.
func eventsUpTo(requestID string, state payment.State) []string {
	var out []string
	for seq := 3; seq <= eventSeq[state]; seq++ {
		out = append(out, fmt.Sprintf("erp/%s/%d", requestID, seq))
	}
	return out
}

// rawDecision is a decision published straight to the decisions exchange
// with a person's session token, as a client that skips the API would
// (the staff client reads the payment through the API first, which hides
// other customers' payments). Its private reply queue is ready before it
// is sent, so that many can be sent at the same instant.
type rawDecision struct {
	d       route.Decision
	key     []byte // the session's decision key, which signs it
	conn    *amqp.Connection
	ch      *amqp.Channel
	replyTo string
	results <-chan amqp.Delivery
}

// prepare connects and opens the reply queue of a decision by the person.
func (p *person) prepare(paymentID string, stage payment.Stage, verdict payment.Verdict, code, digest string) (*rawDecision, error) {
	raw, err := os.ReadFile(p.session)
	if err != nil {
		return nil, err
	}
	var sess struct {
		Token       string `json:"token"`
		DecisionKey string `json:"decision_key"`
		UserID      string `json:"user_id"`
	}
	if err := json.Unmarshal(raw, &sess); err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(sess.DecisionKey)
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("session of %s has no decision key", p.id)
	}
	r := &rawDecision{d: route.Decision{Schema: route.DecisionSchema, DecisionID: "d-faults-" + uuid.NewString(),
		Token: sess.Token, PaymentID: paymentID, Stage: stage, Verdict: verdict, OTP: code, Digest: digest}, key: key}
	if verdict == payment.VerdictReject {
		r.d.Reason = "faults: " + p.id + " rejects"
	}
	if r.conn, err = amqp.Dial(p.e.amqpURL); err != nil {
		return nil, err
	}
	if r.ch, err = r.conn.Channel(); err == nil {
		var q amqp.Queue
		if q, err = r.ch.QueueDeclare(route.ReplyQueue(sess.UserID), false, true, true, false, nil); err == nil {
			r.replyTo = q.Name
			r.results, err = r.ch.Consume(q.Name, "", true, true, false, false, nil)
		}
	}
	if err != nil {
		_ = r.conn.Close()
		return nil, err
	}
	return r, nil
}

// send signs the decision with its session's decision key, as the staff
// client does, and publishes it.
func (r *rawDecision) send() error {
	r.d.Sign(r.key)
	body, err := json.Marshal(r.d)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.ch.PublishWithContext(ctx, route.DecisionsExchange, route.DecisionKey, true, false, amqp.Publishing{
		MessageId: r.d.DecisionID, CorrelationId: r.d.DecisionID, ReplyTo: r.replyTo, ContentType: "application/json",
		DeliveryMode: amqp.Persistent, Body: body,
	})
}

// result waits for the decision's result, and closes the connection.
func (r *rawDecision) result(wait time.Duration) (approval.Result, error) {
	defer r.conn.Close()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-r.results:
			if !ok {
				return approval.Result{}, errors.New("the reply queue closed")
			}
			var res approval.Result
			if json.Unmarshal(m.Body, &res) == nil && res.DecisionID == r.d.DecisionID {
				return res, nil
			}
		case <-timer.C:
			return approval.Result{}, fmt.Errorf("no result for decision %s of payment %s within %s", r.d.DecisionID, r.d.PaymentID, wait)
		}
	}
}

// sendRaw sends one decision straight to the queue and waits for its
// result.
func (p *person) sendRaw(paymentID string, stage payment.Stage, verdict payment.Verdict, code, digest string) (approval.Result, error) {
	r, err := p.prepare(paymentID, stage, verdict, code, digest)
	if err != nil {
		return approval.Result{}, err
	}
	if err := r.send(); err != nil {
		_ = r.conn.Close()
		return approval.Result{}, err
	}
	return r.result(30 * time.Second)
}

// digest is a payment's content digest as its viewer sees it through the
// status API.
func (p *person) digest(s *server, paymentID string) string {
	p.e.t.Helper()
	raw, err := os.ReadFile(p.session)
	require.NoError(p.e.t, err)
	var sess struct {
		Token string `json:"token"`
	}
	require.NoError(p.e.t, json.Unmarshal(raw, &sess))
	req, err := http.NewRequest(http.MethodGet, s.apiURL()+"/v1/payments/"+paymentID, nil)
	require.NoError(p.e.t, err)
	req.Header.Set("Authorization", "Bearer "+sess.Token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(p.e.t, err)
	defer resp.Body.Close()
	require.Equal(p.e.t, http.StatusOK, resp.StatusCode)
	var out struct {
		Payment struct {
			Digest string `json:"digest"`
		} `json:"payment"`
	}
	require.NoError(p.e.t, json.NewDecoder(resp.Body).Decode(&out))
	require.NotEmpty(p.e.t, out.Payment.Digest)
	return out.Payment.Digest
}
