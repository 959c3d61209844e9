package faults

import (
	"bytes"
	"encoding/base32"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/crash"
	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/payment"
)

var (
	otpURILine = regexp.MustCompile(`otpauth://totp/\S+`)
	httpAddr   = regexp.MustCompile(`msg="b2bpay serving" .*http_addr=(\S+)`)
)

// TestCrashAfterDecision stops serve (exit 3) right after the applicant's
// confirmation is applied and committed, before the decision is acked:
// the serve started again gets it again, recognises the decision id and
// answers with the first result (not otp_replayed), so `b2bpay confirm`,
// waiting all along, prints "applied"; the payment moved once.
func TestCrashAfterDecision(t *testing.T) {
	e := newEnv(t, "crash-after-decision")
	secret := e.enrollApplicant()
	session := filepath.Join(e.dir, "ann.session")

	s := e.serveReady()
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	m := valid("dec-00000")
	p.add(m)
	pub.mustSend(t, m)
	waitUntil(t, 30*time.Second, "the payment", func() bool { return e.count(`SELECT count(*) FROM payments`) == 1 })
	paymentID := e.requestIDs(`SELECT id::text FROM payments`)[0]
	login := exec.Command(bin, "login", "--user", "ann", "--api-url", s.apiURL(), "--session-file", session)
	login.Env, login.Stdin = e.environ(), strings.NewReader(annPassword+"\n")
	out, err := login.CombinedOutput()
	require.NoError(t, err, string(out))
	s.stop()

	crashing := e.serve(crash.DecisionAfterCommit)
	crashing.ready()
	code, err := otp.CodeAt(secret, time.Now().Unix()/30, otp.Options{})
	require.NoError(t, err)
	confirm := exec.Command(bin, "confirm", paymentID, "--otp", code, "--wait", "60s",
		"--api-url", crashing.apiURL(), "--session-file", session)
	confirm.Env = e.environ()
	var confirmOut bytes.Buffer
	confirm.Stdout, confirm.Stderr = &confirmOut, &confirmOut
	require.NoError(t, confirm.Start())
	crashing.crashed(30 * time.Second)
	require.Equal(t, string(payment.StateAwaitingReview), e.state(paymentID), "the confirmation was committed before the crash")

	s = e.serveReady()
	require.NoError(t, confirm.Wait(), "confirm gets its result from the serve started again:\n%s", confirmOut.String())
	require.Contains(t, confirmOut.String(), `"outcome": "applied"`)
	require.NotContains(t, confirmOut.String(), string(payment.CodeOTPReplayed))

	e.check(p, checkOptions{states: []payment.State{payment.StateAwaitingReview}, events: []string{"erp/dec-00000/3"}})
	require.Equal(t, 1, e.count(`SELECT count(*) FROM decisions`), "one decision row")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM decisions WHERE outcome = 'applied'`))
	require.Equal(t, 3, e.count(`SELECT count(*) FROM payment_timeline WHERE payment_id = $1`, paymentID),
		"received, awaiting confirmation, awaiting review: each once")
	// The result can reach confirm before the worker has logged it.
	answered := regexp.MustCompile(`msg="decision answered" .*outcome=applied`)
	waitUntil(t, 10*time.Second, "the redelivery is answered", func() bool { return answered.MatchString(s.log.String()) })
	s.stop()
}

const annPassword = "correct horse battery staple"

// enrollApplicant gives ann a password and an OTP seed with the command
// line and returns the seed.
func (e *env) enrollApplicant() []byte {
	e.t.Helper()
	pw := exec.Command(bin, "user", "password", "--id", "ann")
	pw.Env, pw.Stdin = e.environ(), strings.NewReader(annPassword+"\n")
	out, err := pw.CombinedOutput()
	require.NoError(e.t, err, string(out))
	uri := otpURILine.FindString(e.cli("user", "enroll-otp", "--id", "ann", "--qr", filepath.Join(e.dir, "ann.png")))
	require.NotEmpty(e.t, uri)
	u, err := url.Parse(uri)
	require.NoError(e.t, err)
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(u.Query().Get("secret")))
	require.NoError(e.t, err)
	return secret
}

// apiURL is the status API of a serve that is ready.
func (s *server) apiURL() string {
	s.e.t.Helper()
	m := httpAddr.FindStringSubmatch(s.log.String())
	require.NotNil(s.e.t, m, "serve %d logged no http_addr", s.n)
	return "http://" + m[1]
}

// state is a payment's state.
func (e *env) state(id string) string {
	e.t.Helper()
	return e.requestIDs(`SELECT state FROM payments WHERE id = $1`, id)[0]
}
