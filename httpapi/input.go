package httpapi

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/b2bpay/b2bpay/payment"
)

// Checks of client input that the database would otherwise refuse with an
// error of its own (an infrastructure error, answered 500): a UUID in a
// form PostgreSQL cannot read, a NUL byte, invalid UTF-8. They are the
// client's mistakes and answered 400, naming the field.

// checkPaymentID refuses an id that is not a UUID in its canonical form
// (36 characters, hyphens; no urn:uuid: prefix, no braces).
func checkPaymentID(field, id string) error {
	if len(id) != 36 || uuid.Validate(id) != nil {
		return payment.FieldErrorf(payment.CodeInvalidInput, field, "%q is not a payment id (a UUID such as 019cd2a0-5d3e-7c41-9a0b-3f6e2d1c4b5a)", payment.Clip(printable(id), 64))
	}
	return nil
}

// checkID refuses what cannot be a b2bpay identifier (user, upstream):
// payment.ValidID's alphabet. The input is not echoed: a password typed
// in the wrong field must not come back in a message.
func checkID(field, id, what string) error {
	if payment.ValidID(field, id) != nil {
		return payment.FieldErrorf(payment.CodeInvalidInput, field, "is not %s: 1-64 letters, digits or . _ : - starting with a letter or digit", what)
	}
	return nil
}

// checkText refuses free text that is not valid UTF-8 or holds a control
// character (NUL among them).
func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return payment.FieldErrorf(payment.CodeInvalidInput, field, "is not valid UTF-8 text")
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return payment.FieldErrorf(payment.CodeInvalidInput, field, "contains a control character")
		}
	}
	return nil
}

// printable is s with every invalid byte and control character replaced,
// safe to echo in a message.
func printable(s string) string {
	out := []rune{}
	for _, c := range s {
		if c == utf8.RuneError || unicode.IsControl(c) {
			c = '?'
		}
		out = append(out, c)
	}
	return string(out)
}

// queryValues parses the query string of an endpoint that takes the known
// parameters: each at most once (but those named repeatable), none empty,
// nothing else; a name it does not know is refused, naming the known ones.
func queryValues(raw string, known []string, repeatable ...string) (url.Values, error) {
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, payment.Errorf(payment.CodeInvalidInput, "the query string is malformed")
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names) // the same refusal for the same query
	for _, name := range names {
		vs := values[name]
		switch {
		case !slices.Contains(known, name):
			return nil, payment.Errorf(payment.CodeInvalidInput, "unknown query parameter %q; known are %s",
				payment.Clip(printable(name), 64), strings.Join(known, ", "))
		case len(vs) > 1 && !slices.Contains(repeatable, name):
			return nil, payment.FieldErrorf(payment.CodeInvalidInput, name, "give it once")
		case slices.Contains(vs, ""):
			return nil, payment.FieldErrorf(payment.CodeInvalidInput, name, "is empty")
		}
	}
	return values, nil
}

// parseLimit reads a page size: a whole number from 1 to MaxPageSize.
func parseLimit(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxPageSize {
		return 0, payment.FieldErrorf(payment.CodeInvalidInput, paramLimit, "%q is not a whole number from 1 to %d",
			payment.Clip(printable(v), 64), MaxPageSize)
	}
	return n, nil
}
