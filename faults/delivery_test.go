package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/export/sftptest"
)

// TestDeliveryGatewayFaults delivers the files of a cutoff to a real
// OpenSSH sshd standing in for the clearing gateway, through faults: the
// gateway is down over the cutoff (the cutoff writes its files, each
// delivery fails and waits for its retry); it comes back and serve dies
// right after its first upload, before recording it
// (delivery-after-upload); serve starts again and delivers the rest,
// recording the crashed upload without sending it again. The checker:
// every batch delivered; the gateway holds every file exactly once, by
// name and bytes (the SHA-256 recorded when written), and nothing else (no
// partial upload); each payment's upstream got one file_status
// "delivered" event naming its batch; nothing lost, duplicated or
// unexpected. (A transfer cut mid-file is TestDeliveryCutMidFile.)
func TestDeliveryGatewayFaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "delivery-gateway")
	e.exportSetup()
	outbound := filepath.Join(e.dir, "outbound")
	g := sftptest.New(t)
	g.Stop()
	e.scenarioEnv = append(e.scenarioEnv, "B2BPAY_DELIVER="+g.Spec(), "B2BPAY_DELIVER_KEY="+g.KeyFile,
		"B2BPAY_DELIVER_KNOWN_HOSTS="+g.KnownHosts, "B2BPAY_DELIVER_RETRY=1s")
	n := size(5, 9)
	s := e.approvalServe()
	c := e.newCrew(s, n)
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	group := c.requests("deliver", 0, n)
	p.add(msgs(group)...)
	group = e.submit(pub, group)
	c.approveAll(s, group)
	first := nextSecond(e.lastAuthorized(group))
	sleepUntil(first)
	s.stop()

	// The gateway down over the cutoff: the files are written, each
	// delivery fails and is retried later.
	r, err := e.cutoffRun(first)
	require.NoError(t, err)
	require.Zero(t, r.code, r.stdout+r.stderr)
	files := (n + maxPerFile - 1) / maxPerFile
	require.Contains(t, r.stdout, fmt.Sprintf("delivered 0 files to %s, %d failed", g.Spec(), files), r.stdout+r.stderr)
	require.Equal(t, files, e.count(`SELECT count(*) FROM batches WHERE state = 'delivery_failed' AND delivery_attempts = 1
		AND last_error LIKE '%connection refused%'`))
	require.Empty(t, g.Files(t))
	e.injected(1)

	// Up again; serve dies after its first upload, before recording it.
	g.Start()
	e.exporterServe(export.CrashDeliveryAfterUpload).crashed(30 * time.Second)
	require.Len(t, g.Files(t), 1, "one file uploaded before the crash")
	require.Equal(t, files, e.count(`SELECT count(*) FROM batches WHERE state = 'delivery_failed'`), "the upload is not recorded")
	crashed := g.Files(t)[0]
	before, err := os.Stat(filepath.Join(g.Dir, crashed))
	require.NoError(t, err)

	// Up again: the rest delivered, the crashed upload recorded as it is.
	s = e.exporterServe("")
	s.ready()
	waitUntil(t, 60*time.Second, "every batch delivered", func() bool {
		return e.count(`SELECT count(*) FROM batches WHERE state = 'delivered'`) == files
	})
	s.stop()
	after, err := os.Stat(filepath.Join(g.Dir, crashed))
	require.NoError(t, err)
	require.True(t, os.SameFile(before, after) && before.ModTime().Equal(after.ModTime()), "the file uploaded before the crash was not sent again")

	// Every file on the gateway exactly once, by name and bytes, as written;
	// the upstream told of each delivery once.
	written := e.requireFiles(e.pool, outbound)
	requireOnGateway(t, g, written)
	require.Len(t, g.Files(t), files)
	e.checkDelivered(p, group)
}
