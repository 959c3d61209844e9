package check

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

const composeFile = "../compose/compose.yaml"

// composeEnv is what .env must set (env.example).
var composeEnv = []string{"POSTGRES_PASSWORD=p", "B2BPAY_OWNER_PASSWORD=o", "B2BPAY_DB_PASSWORD=d",
	"B2BPAY_AMQP_PASSWORD=a", "B2BPAY_MASTER_KEY=k", "GRAFANA_ADMIN_PASSWORD=g"}

func TestComposeLoadsStrictly(t *testing.T) {
	p, err := LoadCompose(t.Context(), composeFile, composeEnv)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]int{}
	for name, s := range p.Services {
		if len(s.Command) == 0 || s.Command[0] != "serve" {
			continue
		}
		rs, ok := flagValue(s.Command, "roles")
		if !ok {
			t.Errorf("service %s: serve without --roles", name)
		}
		for r := range strings.SplitSeq(rs, ",") {
			if !ValidRole(r) {
				t.Errorf("service %s: role %q is not one of %v", name, r, Roles)
			}
			roles[r]++
		}
		if v, _ := flagValue(s.Command, "metrics-addr"); v != ":9480" {
			t.Errorf("service %s: --metrics-addr %q, want :9480", name, v)
		}
		if !s.ReadOnly || s.User == "" || strings.HasPrefix(s.User, "0") || !slices.Contains(s.CapDrop, "ALL") {
			t.Errorf("service %s: want read_only, a non-root user, cap_drop ALL", name)
		}
		if s.HealthCheck == nil || !strings.Contains(strings.Join(s.HealthCheck.Test, " "), "/readyz") {
			t.Errorf("service %s: no health check on /readyz", name)
		}
		if d, ok := s.DependsOn["migrate"]; !ok || d.Condition != "service_completed_successfully" {
			t.Errorf("service %s: does not wait for the migrations", name)
		}
	}
	for _, r := range Roles {
		if roles[r] != 1 {
			t.Errorf("role %s run by %d services, want 1", r, roles[r])
		}
	}
	for _, want := range []string{"rabbitmq", "postgres", "migrate", "prometheus", "grafana"} {
		if _, ok := p.Services[want]; !ok {
			t.Errorf("no service %s", want)
		}
	}
	if m := p.Services["migrate"]; !slices.Equal(m.Command, []string{"migrate", "--app-role", "b2bpay"}) {
		t.Errorf("migrate runs %v", m.Command)
	}
}

func TestComposeRefusesUnknownKeysAndMissingSecrets(t *testing.T) {
	if _, err := LoadCompose(t.Context(), composeFile, composeEnv[1:]); err == nil ||
		!strings.Contains(err.Error(), "POSTGRES_PASSWORD") {
		t.Errorf("loaded without POSTGRES_PASSWORD: %v", err)
	}
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir() + "/compose.yaml"
	doc := strings.Replace(string(b), "    restart: unless-stopped\n", "    restart: unless-stopped\n    restrat: always\n", 1)
	if err := os.WriteFile(bad, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCompose(t.Context(), bad, composeEnv); err == nil || !strings.Contains(err.Error(), "restrat") {
		t.Errorf("an unknown key was accepted: %v", err)
	}
}

// Prometheus scrapes every role and RabbitMQ's dead-letter queues; Grafana's
// dashboard parses and shows the figures the alerts watch.
func TestComposeMonitoring(t *testing.T) {
	b, err := os.ReadFile("../compose/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Global        map[string]string `json:"global"`
		RuleFiles     []string          `json:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string              `json:"job_name"`
			MetricsPath   string              `json:"metrics_path"`
			Params        map[string][]string `json:"params"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	if err := strictDecode(b, &cfg); err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	for _, r := range Roles {
		if !slices.Contains(targets, r+":9480") {
			t.Errorf("prometheus does not scrape %s:9480", r)
		}
	}
	if !slices.Contains(targets, "rabbitmq:15692") {
		t.Error("prometheus does not scrape RabbitMQ")
	}
	d, err := os.ReadFile("../compose/grafana/dashboards/b2bpay.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(d, &dash); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	all := strings.Join(exprs, "\n")
	for _, m := range []string{"b2bpay_outbox_pending", "rabbitmq_detailed_queue_messages", "b2bpay_cutoff_last_completed_age_seconds",
		"b2bpay_batches_claimed_stuck", "b2bpay_calendar_days_left", "b2bpay_cutoffs_missed_total"} {
		if !strings.Contains(all, m) {
			t.Errorf("the dashboard shows no %s", m)
		}
	}
}
