package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/b2bpay/b2bpay/export/sftptest"
	"github.com/b2bpay/b2bpay/payment"
)

// TestDeliveryCutMidFile cuts serve's upload of a cutoff's file to the
// clearing gateway (a real OpenSSH sshd) mid-file: the cutoff writes all
// the payments in one file of several SFTP write packets (more than
// 32 KiB); serve delivers it over a slow link (slowLink: the upload takes
// about four seconds) and, once the gateway's directory holds the
// temporary .part- file with part of the bytes, sshd is killed with its
// session processes. The cut leaves a strict prefix of the file under the
// temporary name and nothing under the final one; serve records the
// failure and, the gateway up again, the same serve process retries
// (--deliver-retry 1s) and delivers it. The checker: the batch delivered;
// the gateway holds the file exactly once, by name and bytes (the SHA-256
// recorded when written), and nothing else (the cut attempt's .part gone);
// each payment's upstream got one file_status "delivered" event; nothing
// lost, duplicated or unexpected.
func TestDeliveryCutMidFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "delivery-cut")
	e.exportSetup()
	n := size(60, 200)
	// One file for all the payments: about 1.2 KB each, so several 32 KiB
	// write packets (the later value of the variable wins).
	e.scenarioEnv = append(e.scenarioEnv, "B2BPAY_MAX_PER_FILE="+strconv.Itoa(n))
	outbound := filepath.Join(e.dir, "outbound")
	s := e.approvalServe()
	ppl := e.people("C1", map[string][]payment.Role{"ann": {payment.RoleApplicant},
		"rv0": {payment.RoleReviewer}, "au0": {payment.RoleAuthorizer}})
	loginAll(s, ppl["ann"], ppl["rv0"], ppl["au0"])
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	group := crew{applicants: []*person{ppl["ann"]}}.requests("cut", 0, n)
	p.add(msgs(group)...)
	group = e.submit(pub, group)
	// One batch decision (one code) a stage: many payments, few codes.
	ids := make([]string, len(group))
	for i, sp := range group {
		ids[i] = sp.id
	}
	ppl["ann"].approveBatch(s, payment.StageConfirmation, ids)
	ppl["rv0"].approveBatch(s, payment.StageReview, ids)
	ppl["au0"].approveBatch(s, payment.StageAuthorization, ids)
	first := nextSecond(e.lastAuthorized(group))
	sleepUntil(first)
	s.stop()

	// The cutoff writes the file (no --deliver yet: it waits for serve).
	r, err := e.cutoffRun(first)
	require.NoError(t, err)
	require.Zero(t, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, fmt.Sprintf(": %d payments in 1 files\n", n), r.stdout+r.stderr)
	written := e.requireFiles(e.pool, outbound)
	var name string
	for f := range written {
		if !strings.HasSuffix(f, ".manifest.json") {
			name = f
		}
	}
	full := written[name]
	require.Greater(t, len(full), 32<<10, "the file takes more than one SFTP write packet")

	// serve delivers it to the gateway over a link slow enough for the
	// upload to take about four seconds.
	g := sftptest.New(t)
	link := newSlowLink(t, g.Addr())
	link.rate.Store(int64(len(full) / 4))
	hosts := filepath.Join(e.dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(link.Addr())}, g.HostKey)
	require.NoError(t, os.WriteFile(hosts, []byte(line+"\n"), 0o600))
	spec := strings.Replace(g.Spec(), g.Addr(), link.Addr(), 1)
	e.scenarioEnv = append(e.scenarioEnv, "B2BPAY_DELIVER="+spec, "B2BPAY_DELIVER_KEY="+g.KeyFile,
		"B2BPAY_DELIVER_KNOWN_HOSTS="+hosts, "B2BPAY_DELIVER_RETRY=1s")
	s = e.exporterServe("")
	s.ready()

	// The cut: sshd and its sessions killed while the .part file grows.
	var part string
	waitUntil(t, 30*time.Second, "a .part- file with part of the bytes on the gateway", func() bool {
		part = growingPart(g, name)
		return part != ""
	})
	g.Stop()
	e.injected(1)
	require.NotContains(t, g.Files(t), name, "a cut upload never has the final name")
	got, err := os.ReadFile(filepath.Join(g.Dir, part))
	require.NoError(t, err, "the cut attempt's temporary file stays until the retry")
	require.True(t, len(got) > 0 && len(got) < len(full) && bytes.HasPrefix(full, got),
		"cut mid-file: %d of %d bytes, a prefix of the file", len(got), len(full))
	waitUntil(t, 30*time.Second, "the cut delivery recorded as failed", func() bool {
		return e.count(`SELECT count(*) FROM batches WHERE state = 'delivery_failed'`) == 1
	})
	require.Zero(t, e.count(`SELECT count(*) FROM batches WHERE state = 'delivered'`))

	// The gateway up again (the link fast again): the retry delivers it.
	link.rate.Store(0)
	g.Start()
	waitUntil(t, 30*time.Second, "the batch delivered", func() bool {
		return e.count(`SELECT count(*) FROM batches WHERE state = 'delivered'`) == 1
	})
	s.stop()
	// The first attempt failed in the upload itself (later ones, while
	// sshd was down, at the handshake), the file delivered once.
	var failed []string
	for l := range strings.Lines(s.log.String()) {
		if strings.Contains(l, "interbank file delivery failed") {
			failed = append(failed, l)
		}
	}
	require.NotEmpty(t, failed)
	require.Contains(t, failed[0], "attempts=1 ")
	require.Contains(t, failed[0], `error="sftp upload `+name+": ", "the cut upload failed")
	require.Equal(t, 1, strings.Count(s.log.String(), `msg="interbank file delivered"`))
	t.Logf("cut after %d of %d bytes; %d failed attempts, then delivered", len(got), len(full), len(failed))
	requireOnGateway(t, g, written)
	e.checkDelivered(p, group)
}

// approveBatch approves the payments at a stage in one batch decision,
// with one code, through the staff client (b2bpay staff approve), and
// requires every one applied.
func (p *person) approveBatch(s *server, stage payment.Stage, ids []string) {
	s.e.t.Helper()
	p.mu.Lock()
	code := p.code()
	p.mu.Unlock()
	r, err := p.e.run(nil, "", "staff", "approve", "--stage", string(stage), "--ids", strings.Join(ids, ","), "--approve",
		"--otp", code, "--wait", "60s", "--api-url", s.apiURL(), "--session-file", p.session)
	require.NoError(s.e.t, err)
	require.Zero(s.e.t, r.code, "%s approves %d payments at %s:\n%s%s", p.id, len(ids), stage, r.stdout, r.stderr)
}

// growingPart is the name of the temporary file of an upload of name on
// the gateway once it holds some bytes, "" before.
func growingPart(g *sftptest.Gateway, name string) string {
	entries, err := os.ReadDir(g.Dir)
	if err != nil {
		return ""
	}
	for _, de := range entries {
		if !strings.HasPrefix(de.Name(), "."+name+".part-") {
			continue
		}
		if fi, err := de.Info(); err == nil && fi.Size() > 0 {
			return de.Name()
		}
	}
	return ""
}

// requireOnGateway checks that the gateway holds every file written (the
// manifests stay home) exactly once, by its name and bytes, and nothing
// else: no temporary file of a cut upload.
func requireOnGateway(t *testing.T, g *sftptest.Gateway, written map[string][]byte) {
	t.Helper()
	var want []string
	for name, raw := range written {
		if strings.HasSuffix(name, ".manifest.json") {
			continue
		}
		want = append(want, name)
		got, err := os.ReadFile(filepath.Join(g.Dir, name))
		require.NoError(t, err, name)
		require.Equal(t, raw, got, "%s: the bytes written", name)
	}
	slices.Sort(want)
	require.Equal(t, want, g.Files(t), "each file once by its name, nothing partial, nothing else")
}

// checkDelivered runs the checker over exported payments whose upstream
// was told of each one's delivery once, naming its batch.
func (e *env) checkDelivered(p *plan, group []staffPayment) {
	e.t.Helper()
	batchOf := map[string]string{}
	rows, err := e.pool.Query(context.Background(), `SELECT payment_id::text, batch_id FROM batch_payments WHERE live`)
	require.NoError(e.t, err)
	for rows.Next() {
		var id, b string
		require.NoError(e.t, rows.Scan(&id, &b))
		batchOf[id] = b
	}
	require.NoError(e.t, rows.Err())
	s := e.approvalServe()
	var events []string
	for _, sp := range group {
		events = append(events, eventsUpTo(sp.requestID, payment.StateExported)...)
		events = append(events, fmt.Sprintf("erp/%s/file/%s/%s", sp.requestID, batchOf[sp.id], payment.FileDelivered))
	}
	e.check(p, checkOptions{states: []payment.State{payment.StateExported}, events: events})
	s.stop()
}

// slowLink is a TCP relay on the loopback in front of the gateway, a slow
// line to the clearing house: what the client sends passes at most rate
// bytes a second (0: at once), the gateway's answers at once. A
// connection ends on both sides when either side ends (the gateway killed
// cuts the client's connection as a crash would).
type slowLink struct {
	l    net.Listener
	to   string
	rate atomic.Int64
}

// newSlowLink listens on a free loopback port and relays to addr until
// the test ends.
func newSlowLink(t *testing.T, addr string) *slowLink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &slowLink{l: l, to: addr}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.relay(c)
		}
	}()
	return s
}

// Addr is the link's host:port.
func (s *slowLink) Addr() string { return s.l.Addr().String() }

func (s *slowLink) relay(c net.Conn) {
	defer c.Close()
	up, err := net.DialTimeout("tcp", s.to, 5*time.Second)
	if err != nil {
		return // the gateway down: refused as it would be
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	go func() { s.throttled(up, c); done <- struct{}{} }()
	<-done
}

// throttled copies src to dst at most rate bytes a second, in slices of
// 20 ms.
func (s *slowLink) throttled(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		rate := s.rate.Load()
		chunk := len(buf)
		if rate > 0 {
			chunk = int(min(int64(chunk), max(1, rate/50)))
		}
		n, err := src.Read(buf[:chunk])
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			if rate > 0 {
				time.Sleep(time.Duration(n) * time.Second / time.Duration(rate))
			}
		}
		if err != nil {
			return
		}
	}
}
