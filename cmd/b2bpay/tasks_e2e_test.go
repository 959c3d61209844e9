package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
)

// TestStaffListThroughTheBinary: people sign in with the built binary and
// `b2bpay staff list` shows each the payments waiting for them at a stage,
// most urgent first, as a table and as JSON; once decided through the
// real queue, a payment leaves the reviewer's list and joins the
// authorizer's. curl reads the same list from GET /v1/tasks, page by page.
func TestStaffListThroughTheBinary(t *testing.T) {
	e := newEnv(t)
	ann := e.enroll(t, "ann")
	rita := e.person(t, "rita", "C1", payment.RoleReviewer)
	e.person(t, "alex", "C1", payment.RoleAuthorizer)
	e.person(t, "carl", "C2", payment.RoleReviewer)

	later := request("list-later")
	later.ExecutionDate = "2026-12-20"
	pLater := e.submit(t, later)
	pSoon := e.submit(t, request("list-soon"))
	pWaiting := e.submit(t, request("list-waiting"))
	for _, p := range []*payment.Payment{pLater, pSoon} {
		res := e.decide(t, ann.token, p.ID, payment.StageConfirmation, payment.VerdictApprove, ann.code(t), p.Digest(), "")
		require.Equal(t, approval.Applied, res.Outcome, res.Reason)
	}

	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	require.NoError(t, os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600))
	api := "http://" + e.apiAddr
	run := func(user string, args ...string) ran {
		t.Helper()
		environ := []string{"B2BPAY_API_URL=" + api, "B2BPAY_SESSION_FILE=" + filepath.Join(dir, user+".json")}
		return e.b2bpay(t, dir, environ, args...)
	}
	for _, user := range []string{"ann", "rita", "alex", "carl"} {
		r := run(user, "login", "--user", user, "--password-file", pwFile)
		require.Zero(t, r.code, r.stderr)
	}

	// rita's review list: the payment executing sooner first.
	r := run("rita", "staff", "list", "--stage", "review")
	require.Zero(t, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 4, r.stdout)
	require.Regexp(t, `^PAYMENT\s+ORDER\s+AMOUNT\s+CREDITOR\s+APPLICANT\s+CONFIRMED\s+REVIEWED\s+AUTHORIZED\s+EXECUTION\s+EXPIRES$`, lines[0])
	require.Regexp(t, "^"+pSoon.ID+`\s+\S+\s+1286400.50 CNY\s+.+\s+ann\s+ann\s+-\s+-\s+`+pSoon.ExecutionDate.Format("2006-01-02")+`\s+\d{4}-\d\d-\d\d \d\d:\d\d$`, lines[1])
	require.True(t, strings.HasPrefix(lines[2], pLater.ID), lines[2])
	require.Equal(t, "2 payments waiting for you at review, most urgent first", lines[3])

	// --json: the content with its digest, who applied and confirmed.
	r = run("rita", "staff", "list", "--stage", "review", "--json", "--limit", "1")
	require.Zero(t, r.code, r.stderr)
	var list struct {
		Stage string `json:"stage"`
		Tasks []struct {
			Payment struct {
				ID     string `json:"id"`
				Digest string `json:"digest"`
			} `json:"payment"`
			Confirmed struct {
				By string `json:"by"`
			} `json:"confirmed"`
		} `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &list), r.stdout)
	require.Equal(t, "review", list.Stage)
	require.Len(t, list.Tasks, 1)
	require.Equal(t, pSoon.ID, list.Tasks[0].Payment.ID)
	require.Equal(t, pSoon.Digest(), list.Tasks[0].Payment.Digest)
	require.Equal(t, "ann", list.Tasks[0].Confirmed.By)

	// ann's confirmation list: her payment still waiting for her.
	r = run("ann", "staff", "list", "--stage", "confirmation")
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, pWaiting.ID)
	require.NotContains(t, r.stdout, pSoon.ID)
	// Another customer's reviewer: nothing of C1. The authorizer: nothing yet.
	r = run("carl", "staff", "list", "--stage", "review")
	require.Zero(t, r.code, r.stderr)
	require.Equal(t, "no payment is waiting for you at review\n", r.stdout)
	r = run("alex", "staff", "list", "--stage", "authorization")
	require.Equal(t, "no payment is waiting for you at authorization\n", r.stdout)

	// rita reviews the sooner one through the queue: it leaves her list
	// and joins alex's, with no authorization of one yet.
	res := e.decide(t, rita.token, pSoon.ID, payment.StageReview, payment.VerdictApprove, rita.code(t), pSoon.Digest(), "")
	require.Equal(t, approval.Applied, res.Outcome, res.Reason)
	r = run("rita", "staff", "list", "--stage", "review")
	require.NotContains(t, r.stdout, pSoon.ID)
	require.Contains(t, r.stdout, pLater.ID)
	r = run("alex", "staff", "list", "--stage", "authorization")
	require.Zero(t, r.code, r.stderr)
	require.Regexp(t, pSoon.ID+`\s+\S+\s+1286400.50 CNY\s+.+\s+ann\s+ann\s+rita\s+0 of 1\s+`, r.stdout)

	// Errors are the API's, said plainly, with a non-zero exit.
	r = run("rita", "staff", "list", "--stage", "audit")
	require.NotZero(t, r.code)
	require.Contains(t, r.stderr, "want confirmation, review or authorization")
	r = e.b2bpay(t, dir, []string{"B2BPAY_API_URL=" + api, "B2BPAY_SESSION_FILE=" + filepath.Join(dir, "nobody.json")}, "staff", "list", "--stage", "review")
	require.NotZero(t, r.code)
	require.Contains(t, r.stderr, "not signed in")
}

// TestTasksWithCurl: GET /v1/tasks read with curl, a tool we did not
// write: the bearer token, a page of one with its opaque cursor, the next
// page through it, and a bad stage answered 400 in the API's error format.
func TestTasksWithCurl(t *testing.T) {
	e := newEnv(t)
	ann := e.enroll(t, "ann")
	rita := e.person(t, "rita", "C1", payment.RoleReviewer)
	var ids []string
	for _, id := range []string{"curl-1", "curl-2"} {
		p := e.submit(t, request(id))
		res := e.decide(t, ann.token, p.ID, payment.StageConfirmation, payment.VerdictApprove, ann.code(t), p.Digest(), "")
		require.Equal(t, approval.Applied, res.Outcome, res.Reason)
		ids = append(ids, p.ID)
	}
	curl := func(query string) (int, map[string]any) {
		t.Helper()
		out, err := exec.Command("curl", "-sS", "-w", "\n%{http_code}", "-H", "Authorization: Bearer "+rita.token,
			"http://"+e.apiAddr+"/v1/tasks?"+query).Output()
		require.NoError(t, err)
		text := strings.TrimSpace(string(out))
		cut := strings.LastIndexByte(text, '\n')
		require.Positive(t, cut, text)
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(text[:cut]), &v), text)
		code, err := strconv.Atoi(text[cut+1:])
		require.NoError(t, err)
		return code, v
	}
	idOf := func(v map[string]any) string {
		tasks := v["tasks"].([]any)
		require.Len(t, tasks, 1)
		return tasks[0].(map[string]any)["payment"].(map[string]any)["id"].(string)
	}
	status, first := curl("stage=review&limit=1")
	require.Equal(t, 200, status)
	require.Equal(t, ids[0], idOf(first))
	next := first["next"].(string)
	require.Regexp(t, regexp.MustCompile(`^[A-Za-z0-9_-]+$`), next, "opaque, URL-safe")
	status, second := curl("stage=review&limit=1&after=" + next)
	require.Equal(t, 200, status)
	require.Equal(t, ids[1], idOf(second))

	status, bad := curl("stage=approval")
	require.Equal(t, 400, status)
	require.Equal(t, "invalid_input", bad["error"].(map[string]any)["code"])
	require.Contains(t, bad["error"].(map[string]any)["message"], "stage")
}
