package payment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SchemaVersion is the version of the request contract this build reads.
const SchemaVersion = 1

// MaxRequestBytes is the largest request body accepted.
const MaxRequestBytes = 64 << 10

// DateLayout is the layout of dates in the contract (ISO 8601 calendar date).
const DateLayout = "2006-01-02"

// MinExecutionYear and MaxExecutionYear bound the years of an execution
// date the decoder reads: anything outside them (0001-01-01, which is Go's
// zero time, or 9999-12-31) is refused as invalid_date before intake looks
// at it. Intake then narrows the date to today up to MaxDaysAhead.
const (
	MinExecutionYear = 2000
	MaxExecutionYear = 2099
)

// Request is a payment request as an upstream system publishes it: version 1
// of the contract, published as JSON Schema in schema/payment-request.v1.json.
type Request struct {
	SchemaVersion int      `json:"schema_version"`
	RequestID     string   `json:"request_id"`
	OrderRef      string   `json:"order_ref"`
	CustomerID    string   `json:"customer_id"`
	Applicant     string   `json:"applicant"`
	BankID        string   `json:"bank_id"`
	DebtorAccount string   `json:"debtor_account"`
	Creditor      Creditor `json:"creditor"`
	Amount        string   `json:"amount"`
	Currency      string   `json:"currency"`
	Remittance    string   `json:"remittance_info,omitempty"`
	ExecutionDate string   `json:"execution_date"`

	// AmountMinor is Amount in minor units of Currency, set by Decode.
	AmountMinor int64 `json:"-"`
	// Execution is ExecutionDate parsed, midnight UTC, set by Decode.
	Execution time.Time `json:"-"`
}

// Creditor is the party paid.
type Creditor struct {
	Name    string `json:"name"`
	Account string `json:"account"`
	BankID  string `json:"bank_id"`
}

// Decode reads and checks one request body: size, UTF-8, JSON syntax, the
// schema version, unknown fields and every field's format. It never panics,
// whatever the input; the error is an *Error whose code says why.
func Decode(body []byte) (Request, error) {
	if len(body) > MaxRequestBytes {
		return Request{}, Errorf(CodeTooLarge, "body is %d bytes, the limit is %d", len(body), MaxRequestBytes)
	}
	if !utf8.Valid(body) {
		return Request{}, Errorf(CodeMalformed, "body is not valid UTF-8")
	}
	var head map[string]json.RawMessage
	if err := json.Unmarshal(body, &head); err != nil {
		return Request{}, Errorf(CodeMalformed, "body is not a JSON object: %s", jsonReason(err))
	}
	if head == nil {
		return Request{}, Errorf(CodeMalformed, "body is not a JSON object: null")
	}
	version, ok := head["schema_version"]
	if !ok {
		return Request{}, Errorf(CodeUnknownVersion, "schema_version is missing; this build reads version %d", SchemaVersion)
	}
	if v := strings.TrimSpace(string(version)); v != fmt.Sprint(SchemaVersion) {
		return Request{}, Errorf(CodeUnknownVersion, "schema_version %s is not supported; this build reads version %d", Clip(v, 20), SchemaVersion)
	}
	var r Request
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Request{}, Errorf(CodeMalformed, "body does not match the version %d contract: %s", SchemaVersion, jsonReason(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Request{}, Errorf(CodeMalformed, "body has data after the JSON object")
	}
	if err := exactNames(head); err != nil {
		return Request{}, err
	}
	if err := r.check(); err != nil {
		return Request{}, err
	}
	return r, nil
}

// Identify reads which request a body names, for a body Decode refused: a
// JSON object of schema version 1 whose request_id is a valid id names that
// request, and its order_ref too when that keeps its rule. The refusal then
// answers that request (its request id, correlation id and order
// reference), and intake records it under the request id like any other
// refusal. ok is false for anything less (too large, not UTF-8, not a JSON
// object, another or no schema version, no valid request_id): the refusal
// answers only the message.
func Identify(body []byte) (r Request, ok bool) {
	if len(body) > MaxRequestBytes || !utf8.Valid(body) {
		return Request{}, false
	}
	var head map[string]json.RawMessage
	if err := json.Unmarshal(body, &head); err != nil || head == nil {
		return Request{}, false
	}
	if v, ok := head["schema_version"]; !ok || strings.TrimSpace(string(v)) != fmt.Sprint(SchemaVersion) {
		return Request{}, false
	}
	if json.Unmarshal(head["request_id"], &r.RequestID) != nil || ValidID("request_id", r.RequestID) != nil {
		return Request{}, false
	}
	if json.Unmarshal(head["order_ref"], &r.OrderRef) != nil || validText("order_ref", r.OrderRef, 35, true) != nil {
		r.OrderRef = ""
	}
	return r, true
}

// check validates every field's format and fills the parsed fields.
func (r *Request) check() error {
	if err := ValidID("request_id", r.RequestID); err != nil {
		return err
	}
	if err := validText("order_ref", r.OrderRef, 35, true); err != nil {
		return err
	}
	if err := ValidID("customer_id", r.CustomerID); err != nil {
		return err
	}
	if err := ValidID("applicant", r.Applicant); err != nil {
		return err
	}
	if err := ValidBankID("bank_id", r.BankID); err != nil {
		return err
	}
	if err := ValidAccountNumber("debtor_account", r.DebtorAccount); err != nil {
		return err
	}
	if err := validText("creditor.name", r.Creditor.Name, 140, true); err != nil {
		return err
	}
	if err := ValidAccountNumber("creditor.account", r.Creditor.Account); err != nil {
		return err
	}
	if err := ValidBankID("creditor.bank_id", r.Creditor.BankID); err != nil {
		return err
	}
	if err := ValidCurrency(r.Currency); err != nil {
		return err
	}
	amount, err := ParseAmount(r.Amount, r.Currency)
	if err != nil {
		return err
	}
	r.AmountMinor = amount
	if err := validText("remittance_info", r.Remittance, 140, false); err != nil {
		return err
	}
	d, err := time.Parse(DateLayout, r.ExecutionDate)
	if err != nil {
		return FieldErrorf(CodeInvalidDate, "execution_date", "%q is not a date in the form YYYY-MM-DD", Clip(r.ExecutionDate, 20))
	}
	if y := d.Year(); y < MinExecutionYear || y > MaxExecutionYear {
		return FieldErrorf(CodeInvalidDate, "execution_date", "%s is not a date from %d to %d", r.ExecutionDate, MinExecutionYear, MaxExecutionYear)
	}
	r.Execution = d
	return nil
}

// requestNames and creditorNames are the contract's member names.
var (
	requestNames = []string{
		"schema_version", "request_id", "order_ref", "customer_id", "applicant", "bank_id",
		"debtor_account", "creditor", "amount", "currency", "remittance_info", "execution_date",
	}
	creditorNames = []string{"name", "account", "bank_id"}
)

// exactNames checks what encoding/json lets through: it matches member names
// without regard to case (so "AMOUNT" would override "amount") and reads
// null as an absent member. The contract allows neither.
func exactNames(head map[string]json.RawMessage) error {
	if err := exactObject("", head, requestNames); err != nil {
		return err
	}
	raw, ok := head["creditor"]
	if !ok {
		return nil
	}
	var creditor map[string]json.RawMessage
	if err := json.Unmarshal(raw, &creditor); err != nil {
		return Errorf(CodeMalformed, "creditor is not a JSON object: %s", jsonReason(err))
	}
	return exactObject("creditor.", creditor, creditorNames)
}

// exactObject refuses a member of obj whose name is not one of names or
// whose value is null.
func exactObject(prefix string, obj map[string]json.RawMessage, names []string) error {
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if !slices.Contains(names, k) {
			return Errorf(CodeMalformed, "body does not match the version %d contract: unknown field %q", SchemaVersion, Clip(prefix+k, 70))
		}
		if string(obj[k]) == "null" {
			return Errorf(CodeMalformed, "body does not match the version %d contract: %s is null", SchemaVersion, prefix+k)
		}
	}
	return nil
}

// validText checks free text: length in characters, no control characters.
func validText(field, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return FieldErrorf(CodeInvalidField, field, "is required")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return FieldErrorf(CodeInvalidField, field, "is %d characters, the limit is %d", n, max)
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return FieldErrorf(CodeInvalidField, field, "contains a control character")
		}
	}
	return nil
}

// jsonReason shortens a decoder error to something safe to echo back.
func jsonReason(err error) string {
	return Clip(err.Error(), 200)
}
