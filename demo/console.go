package demo

import (
	"context"
	"encoding/base32"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/producers"
	"github.com/b2bpay/b2bpay/secret"
)

// The staff console on the demo's data: the demo's serve runs it, checks
// that its sign-in page answers, and with --console keeps serving it after
// the checks, with fresh payments waiting for alice's confirmation.

// checkConsole fetches the console's sign-in page.
func checkConsole(ctx context.Context, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/login", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("console: the sign-in page answered %s", resp.Status)
	}
	return nil
}

// writeSeeds writes each demo person's OTP seed (base32, as oathtool and
// authenticator apps read it) to dir/otp-seeds.txt, readable by its owner
// only, and returns the file's path.
func writeSeeds(dir string, people map[string]*demoStaff) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	ids := make([]string, 0, len(people))
	for id := range people {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "%s\t%s\n", id, base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(people[id].auth.Seed))
	}
	path := filepath.Join(dir, "otp-seeds.txt")
	return path, secret.WritePrivateFile(path, []byte(b.String()))
}

// consoleHelp says how to reach the console and who signs in.
func consoleHelp(addr, seeds string) {
	fmt.Printf("\nstaff console: http://%s (Simplified Chinese; English at the top right)\n", addr)
	fmt.Printf("  sign in as alice (applicant), bob (reviewer), carol or erin (authorizers), frank (applicant, reviewer)\n")
	fmt.Printf("  password %s; one-time passwords from the seeds in %s, e.g.\n", demoPassword, seeds)
	fmt.Printf("  oathtool --totp -b $(awk '$1==\"alice\"{print $2}' %s)\n", seeds)
}

// serveConsole publishes n payments for alice to confirm and keeps the
// console serving until ctx ends (Ctrl-C).
func serveConsole(ctx context.Context, erp *producers.Client, subs []*producers.Answers, addr, seeds string, n int) error {
	run := time.Now()
	reqs := make([]payment.Request, n)
	for i := range reqs {
		reqs[i] = batchRequest(run, 900+i, "alice", fmt.Sprintf("%d.00", 18000+i*7350))
		reqs[i].RequestID = "console-" + reqs[i].RequestID
	}
	if _, err := publishAndWait(ctx, erp, subs, reqs); err != nil {
		return err
	}
	fmt.Printf("\n%d payments wait for alice's confirmation in the console.\n", n)
	consoleHelp(addr, seeds)
	fmt.Println("serving until Ctrl-C")
	<-ctx.Done()
	return nil
}
