package postgres

import (
	"strings"
	"unicode/utf8"

	"github.com/b2bpay/b2bpay/httpapi"
	"github.com/b2bpay/b2bpay/payment"
)

// checkSearch refuses the search fields of a filter that no query could
// honour: an id that is not a payment id, an unknown currency, amount
// bounds without their currency or out of order, a counterparty that is
// empty of meaning or too long.
func checkSearch(f httpapi.PaymentFilter) error {
	switch {
	case f.ID != "" && !canonicalUUID(f.ID):
		return payment.FieldErrorf(payment.CodeInvalidInput, "id", "%q is not a payment id", payment.Clip(f.ID, 64))
	case f.Currency != "" && payment.ValidCurrency(f.Currency) != nil:
		return payment.FieldErrorf(payment.CodeInvalidInput, "currency", "%q is not an active ISO 4217 currency code", payment.Clip(f.Currency, 16))
	case f.AmountMin < 0:
		return payment.FieldErrorf(payment.CodeInvalidInput, "amount_min", "is negative")
	case f.AmountMax < 0:
		return payment.FieldErrorf(payment.CodeInvalidInput, "amount_max", "is negative")
	case f.AmountMin > 0 && f.Currency == "":
		return payment.FieldErrorf(payment.CodeInvalidInput, "amount_min", "needs currency: an amount is in one currency")
	case f.AmountMax > 0 && f.Currency == "":
		return payment.FieldErrorf(payment.CodeInvalidInput, "amount_max", "needs currency: an amount is in one currency")
	case f.AmountMin > 0 && f.AmountMax > 0 && f.AmountMin > f.AmountMax:
		return payment.FieldErrorf(payment.CodeInvalidInput, "amount_max", "is less than amount_min")
	case !utf8.ValidString(f.Counterparty) || strings.ContainsRune(f.Counterparty, 0):
		return payment.FieldErrorf(payment.CodeInvalidInput, "counterparty", "is not valid UTF-8 text without NUL")
	case utf8.RuneCountInString(f.Counterparty) > httpapi.MaxCounterparty:
		return payment.FieldErrorf(payment.CodeInvalidInput, "counterparty", "is longer than %d characters", httpapi.MaxCounterparty)
	}
	return nil
}

// likeEscaper escapes LIKE's metacharacters with a backslash, the escape
// character the query names.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// likePattern is the ILIKE pattern that finds s anywhere in a text, s
// itself taken literally.
func likePattern(s string) string { return "%" + likeEscaper.Replace(s) + "%" }
