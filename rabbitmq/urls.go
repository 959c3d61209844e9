package rabbitmq

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// SplitURLs splits a comma-separated list of AMQP URLs (the nodes of one
// cluster, normally with the same user and vhost), trimming spaces and
// dropping empty entries. One URL gives a list of one.
func SplitURLs(raw string) []string {
	var out []string
	for _, s := range strings.Split(raw, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// FirstURL is the first URL of a comma-separated list: what helpers that
// manage the broker with rabbitmqctl, or only need the user or the vhost,
// read.
func FirstURL(raw string) string {
	if us := SplitURLs(raw); len(us) > 0 {
		return us[0]
	}
	return ""
}

// MapURLs applies f to each URL of a comma-separated list and joins the
// results again with commas.
func MapURLs(raw string, f func(*url.URL)) (string, error) {
	us := SplitURLs(raw)
	for i, s := range us {
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", RedactURL(s), err)
		}
		f(u)
		us[i] = u.String()
	}
	return strings.Join(us, ","), nil
}

// RedactURL returns raw, one AMQP URL or a comma-separated list of them,
// with each password replaced by "xxxxx", fit for logs and errors.
func RedactURL(raw string) string {
	us := SplitURLs(raw)
	if len(us) == 0 {
		return ""
	}
	for i, s := range us {
		u, err := url.Parse(s)
		if err != nil {
			us[i] = "(unparsable amqp url)"
			continue
		}
		us[i] = u.Redacted()
	}
	return strings.Join(us, ",")
}

// urls is the list a connection dials: URLs, else URL (itself possibly a
// comma-separated list), each checked.
func (cfg Config) urls() ([]string, error) {
	var us []string
	for _, s := range cfg.URLs {
		us = append(us, SplitURLs(s)...)
	}
	if len(us) == 0 {
		us = SplitURLs(cfg.URL)
	}
	if len(us) == 0 {
		return nil, errors.New("rabbitmq: dial: empty URL")
	}
	for _, s := range us {
		if _, err := amqp.ParseURI(s); err != nil {
			return nil, fmt.Errorf("rabbitmq: dial %s: %w", RedactURL(s), err)
		}
	}
	return us, nil
}

// randomStart is where a connection's first dial starts in its list, so
// that processes spread over the nodes.
func randomStart(n int) int {
	if n <= 1 {
		return 0
	}
	return rand.IntN(n)
}
