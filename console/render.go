package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// pages are the parsed templates: each page with the layout.
type pages struct {
	t map[string]*template.Template
}

var pageNames = []string{"login", "inbox", "batch", "result", "payment", "query", "error", "ops", "admin"}

func parsePages() (*pages, error) {
	p := &pages{t: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		p.t[name] = t
	}
	return p, nil
}

// view is what every page gets.
type view struct {
	L     Lang
	Title string
	Nav   string
	User  string
	Cust  string
	CSRF  string
	Ops   bool // the person may see the operations area
	Admin bool // and the administration area
	Path  string
	Error string
	Note  string
	Data  any
	loc   *time.Location
}

// When is a time in the console's zone, to the second.
func (v view) When(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if v.loc != nil {
		t = t.In(v.loc)
	}
	return t.Format("2006-01-02 15:04:05")
}

// Zone is the name of the zone times are shown in.
func (v view) Zone() string {
	if v.loc == nil {
		return "UTC"
	}
	return v.loc.String()
}

// render writes page with status.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	v.L = langOf(r)
	v.Path = r.URL.RequestURI()
	v.loc = c.cfg.Location
	if s := sessionFrom(r.Context()); s.Token != "" {
		v.User, v.Cust, v.CSRF = s.UserID, s.CustomerID, s.CSRF
		v.Ops, v.Admin = c.mayOps(r), c.mayAdmin(r)
	}
	var buf bytes.Buffer
	t := c.pages.t[page]
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.cfg.Logger.Error("console: render", "page", page, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail renders the error page with a message in the person's language.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	l := langOf(r)
	c.render(w, r, status, "error", view{Title: l.T("err.title"), Error: msg})
}

// forbidden answers a POST without a valid CSRF token or from elsewhere.
func (c *Console) forbidden(w http.ResponseWriter, r *http.Request, _ session) {
	c.cfg.Logger.Warn("console: refused a form without a valid CSRF token or from another origin", "path", r.URL.Path,
		"client", clientAddr(r))
	c.fail(w, r, http.StatusForbidden, langOf(r).T("err.forbidden"))
}

var funcs = template.FuncMap{
	"amount": groupAmount,
	"printf": fmt.Sprintf,
	"shortDigest": func(d string) string {
		if len(d) > 16 {
			return d[:16] + "…"
		}
		return d
	},
	"minor": func(minor int64, currency string) string { return groupAmount(payment.FormatAmount(minor, currency)) },
}

// groupAmount groups a decimal amount's integer digits by thousands:
// 1234567.89 → 1,234,567.89. The minor units are the currency's, as the
// API gave them.
func groupAmount(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, d := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	out := b.String()
	if hasFrac {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}
