package staff

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/b2bpay/b2bpay/payment"
)

// A person's task list: the payments waiting for them at a stage that they
// may decide, most urgent first, read from GET /v1/tasks.

// TaskPage is one page of GET /v1/tasks.
type TaskPage struct {
	Stage payment.Stage `json:"stage"`
	Tasks []TaskItem    `json:"tasks"`
	// Next is the cursor of the next page, "" after the last one.
	Next string `json:"next"`
}

// TaskItem is one payment of a task list: its content and digest, who
// applied, confirmed, reviewed and authorized it and when, at
// authorization how many authorizations it has of how many it needs, and
// when it expires.
type TaskItem struct {
	Payment        PaymentView     `json:"payment"`
	Applied        Act             `json:"applied"`
	Confirmed      *Act            `json:"confirmed,omitempty"`
	Reviewed       *Act            `json:"reviewed,omitempty"`
	Authorized     []Act           `json:"authorized"`
	Authorizations *Authorizations `json:"authorizations,omitempty"`
	ExpiresAt      *time.Time      `json:"expires_at,omitempty"`
}

// PaymentView is a payment as the API shows it.
type PaymentView struct {
	ID          string        `json:"id"`
	State       payment.State `json:"state"`
	UpstreamID  string        `json:"upstream_id"`
	RequestID   string        `json:"request_id"`
	OrderRef    string        `json:"order_ref"`
	CustomerID  string        `json:"customer_id"`
	ApplicantID string        `json:"applicant_id"`
	Amount      string        `json:"amount"`
	Currency    string        `json:"currency"`
	Debtor      struct {
		BankID  string `json:"bank_id"`
		Account string `json:"account"`
	} `json:"debtor"`
	Creditor            payment.Creditor `json:"creditor"`
	RemittanceInfo      string           `json:"remittance_info"`
	ExecutionDate       string           `json:"execution_date"`
	RequiredAuthorizers int              `json:"required_authorizers"`
	CreatedAt           time.Time        `json:"created_at"`
	UpdatedAt           time.Time        `json:"updated_at"`
	Digest              string           `json:"digest"`
}

// Act is who did a step and when.
type Act struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// Authorizations is how many authorizations a payment has and how many
// its tier needs.
type Authorizations struct {
	Done     int `json:"done"`
	Required int `json:"required"`
}

// String is "1 of 2".
func (a Authorizations) String() string { return fmt.Sprintf("%d of %d", a.Done, a.Required) }

// CheckDigest recomputes the digest from the content shown, as
// CheckTaskDigest does for a queued task: a person never chooses content
// other than what the digest they will approve covers.
func (v PaymentView) CheckDigest() error {
	amount, err := payment.ParseAmount(v.Amount, v.Currency)
	if err != nil {
		return fmt.Errorf("payment %s: %w", v.ID, err)
	}
	exec, err := time.Parse(payment.DateLayout, v.ExecutionDate)
	if err != nil {
		return fmt.Errorf("payment %s: %w", v.ID, err)
	}
	p := payment.Payment{ID: v.ID, OrderRef: v.OrderRef, AmountMinor: amount, Currency: v.Currency, BankID: v.Debtor.BankID,
		DebtorAccount: v.Debtor.Account, Creditor: v.Creditor, ExecutionDate: exec, Remittance: v.RemittanceInfo}
	if p.Digest() != v.Digest {
		return fmt.Errorf("payment %s: the digest listed does not match its content: refusing to show it", v.ID)
	}
	return nil
}

// maxTaskPage is the largest page the API serves.
const maxTaskPage = 500

// ListTasks reads the signed-in person's task list at stage through the API
// at api, page after page, up to max tasks (0: every one), and checks
// each task's digest against its content.
func ListTasks(ctx context.Context, api string, s Session, stage payment.Stage, max int) ([]TaskItem, error) {
	if !stage.Valid() {
		return nil, fmt.Errorf("--stage %q: want confirmation, review or authorization", stage)
	}
	if max < 0 {
		return nil, fmt.Errorf("--limit %d: want 0 (every task) or more", max)
	}
	out := []TaskItem{}
	after := ""
	for {
		size := maxTaskPage
		if max > 0 {
			size = min(size, max-len(out))
		}
		q := url.Values{"stage": {string(stage)}, "limit": {strconv.Itoa(size)}}
		if after != "" {
			q.Set("after", after)
		}
		var page TaskPage
		if err := Call(ctx, api, http.MethodGet, "/v1/tasks?"+q.Encode(), s.Token, nil, &page); err != nil {
			return nil, err
		}
		for _, t := range page.Tasks {
			if err := t.Payment.CheckDigest(); err != nil {
				return nil, err
			}
		}
		for _, t := range page.Tasks {
			// A payment that changed while the pages were read (the first
			// of two authorizations, by someone else) moved down the list
			// and comes again: keep it once, where it is now.
			out = slices.DeleteFunc(out, func(o TaskItem) bool { return o.Payment.ID == t.Payment.ID })
			out = append(out, t)
		}
		if max > 0 && len(out) >= max {
			return out[:max], nil
		}
		if page.Next == "" {
			return out, nil
		}
		after = page.Next
	}
}

// WriteTaskTable prints a task list as a table, one payment a line: id,
// order, amount, creditor, applicant, who confirmed and reviewed it, its
// authorizations ("1 of 2", at authorization), its execution date (the
// cutoff that takes it is the first one settling on or after that date)
// and when it expires. Times are in the zone the API gave them in (the
// customer's).
func WriteTaskTable(w io.Writer, stage payment.Stage, tasks []TaskItem) error {
	if len(tasks) == 0 {
		_, err := fmt.Fprintf(w, "no payment is waiting for you at %s\n", stage)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PAYMENT\tORDER\tAMOUNT\tCREDITOR\tAPPLICANT\tCONFIRMED\tREVIEWED\tAUTHORIZED\tEXECUTION\tEXPIRES")
	for _, t := range tasks {
		p := t.Payment
		auth := "-"
		if t.Authorizations != nil {
			auth = t.Authorizations.String()
		}
		expires := "-"
		if t.ExpiresAt != nil {
			expires = t.ExpiresAt.Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, cell(p.OrderRef, 20), p.Amount, p.Currency,
			cell(p.Creditor.Name, 24), cell(t.Applied.By, 16), actCell(t.Confirmed), actCell(t.Reviewed), auth, p.ExecutionDate, expires)
	}
	fmt.Fprintf(tw, "%d payments waiting for you at %s, most urgent first\n", len(tasks), stage)
	return tw.Flush()
}

// cell is s for a table cell: clipped, without tabs, line breaks or other
// control characters (a terminal escape in a creditor's name stays text).
func cell(s string, n int) string {
	return payment.Clip(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s), n)
}

// actCell is who did a step, or "-".
func actCell(a *Act) string {
	if a == nil {
		return "-"
	}
	return cell(a.By, 16)
}

// List prints the task list of the person signed in at sessionPath ("" for
// the default) at stage, up to max tasks (0: every one), to w: a table, or
// with asJSON one JSON document {"stage", "tasks"} (the API's task objects).
func List(ctx context.Context, api, sessionPath string, stage payment.Stage, max int, asJSON bool, w io.Writer) error {
	path, err := SessionPath(sessionPath)
	if err != nil {
		return err
	}
	s, err := LoadSession(path)
	if err != nil {
		return err
	}
	tasks, err := ListTasks(ctx, api, s, stage, max)
	if err != nil {
		return err
	}
	if !asJSON {
		return WriteTaskTable(w, stage, tasks)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Stage payment.Stage `json:"stage"`
		Tasks []TaskItem    `json:"tasks"`
	}{stage, tasks})
}
