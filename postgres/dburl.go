package postgres

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// A database URL is either a URL, postgres://user:pass@h1:5432,h2:5432/db?
// target_session_attrs=read-write (several hosts, tried in order, as pgx
// does), or keyword/value settings (host=h1,h2 port=5432,5432 dbname=db).
// The helpers here rewrite and redact both forms without losing hosts.

// isURL reports whether raw is the URL form of a connection string.
func isURL(raw string) bool {
	return strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://")
}

// WithDatabase returns raw naming database name instead (on the same
// hosts, with the same user and parameters).
func WithDatabase(raw, name string) (string, error) {
	if !isURL(raw) {
		return strings.TrimSpace(raw) + " dbname=" + quoteKV(name), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("postgres: parse database url %s: %w", RedactURL(raw), err)
	}
	u.Path, u.RawPath = "/"+name, ""
	return u.String(), nil
}

// WithParam returns raw with the run-time or connection parameter k set
// to v (replacing any value it had).
func WithParam(raw, k, v string) (string, error) {
	if !isURL(raw) {
		return strings.TrimSpace(raw) + " " + k + "=" + quoteKV(v), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("postgres: parse database url %s: %w", RedactURL(raw), err)
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// quoteKV quotes a keyword/value setting's value.
func quoteKV(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// kvPassword matches a password in keyword/value settings.
var kvPassword = regexp.MustCompile(`(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// RedactURL returns raw with its password replaced by "xxxxx", fit for
// logs and errors, in either form and with every host kept.
func RedactURL(raw string) string {
	if !isURL(raw) {
		return kvPassword.ReplaceAllString(raw, "${1}xxxxx")
	}
	if u, err := url.Parse(raw); err == nil {
		if q := u.Query(); q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	// Unparsable as a URL: cut what lies between the scheme and the last
	// '@' down to the user.
	at, scheme := strings.LastIndex(raw, "@"), strings.Index(raw, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return "(unparsable database url)"
	}
	creds := raw[scheme+3 : at]
	if i := strings.IndexByte(creds, ':'); i >= 0 {
		return raw[:scheme+3] + creds[:i] + ":xxxxx" + raw[at:]
	}
	return raw
}

// severalHosts reports whether cfg names more than one server (TLS
// fallbacks to the same host and port do not count).
func severalHosts(cfg *pgconn.Config) bool {
	for _, f := range cfg.Fallbacks {
		if f.Host != cfg.Host || f.Port != cfg.Port {
			return true
		}
	}
	return false
}

// requirePrimary makes a connection configured with several hosts and no
// target_session_attrs accept only a read-write server: b2bpay writes, and
// its elector's advisory lock must be taken on the one primary (a hot
// standby grants advisory locks of its own, which would make two leaders).
func requirePrimary(cfg *pgconn.Config) {
	if cfg.ValidateConnect == nil && severalHosts(cfg) {
		cfg.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsReadWrite
	}
}

// connectPrimary connects one session to raw, to a read-write server when
// raw names several hosts (requirePrimary).
func connectPrimary(ctx context.Context, raw string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database url: %w", err)
	}
	requirePrimary(&cfg.Config)
	return pgx.ConnectConfig(ctx, cfg)
}
