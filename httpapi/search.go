package httpapi

import (
	"errors"
	"net/url"
	"unicode/utf8"

	"github.com/b2bpay/b2bpay/payment"
)

// The search parameters of GET /v1/payments, for the console's query page:
// an exact id, a currency with an amount range, a counterparty. Each one
// narrows the page; all combine with the list's other filters.

// parseSearch reads id, currency, amount_min, amount_max and counterparty
// into f, refusing each bad value with an error naming its parameter.
func parseSearch(values url.Values, f *PaymentFilter) error {
	if v := values.Get(paramID); v != "" {
		if err := checkPaymentID(paramID, v); err != nil {
			return err
		}
		f.ID = v
	}
	if v := values.Get(paramCurrency); v != "" {
		if !utf8.ValidString(v) || payment.ValidCurrency(v) != nil {
			return payment.FieldErrorf(payment.CodeInvalidInput, paramCurrency,
				"%q is not an active ISO 4217 currency code in capitals (CNY, USD, EUR)", payment.Clip(printable(v), 16))
		}
		f.Currency = v
	}
	var err error
	if f.AmountMin, err = parseAmountBound(values, paramAmountMin, f.Currency); err != nil {
		return err
	}
	if f.AmountMax, err = parseAmountBound(values, paramAmountMax, f.Currency); err != nil {
		return err
	}
	if f.AmountMin > 0 && f.AmountMax > 0 && f.AmountMin > f.AmountMax {
		return payment.FieldErrorf(payment.CodeInvalidInput, paramAmountMax, "%s is less than amount_min %s",
			values.Get(paramAmountMax), values.Get(paramAmountMin))
	}
	if v := values.Get(paramCounterparty); v != "" {
		if err := checkText(paramCounterparty, v); err != nil {
			return err
		}
		if n := utf8.RuneCountInString(v); n > MaxCounterparty {
			return payment.FieldErrorf(payment.CodeInvalidInput, paramCounterparty,
				"is %d characters long; give 1 to %d of the creditor's name or its whole account", n, MaxCounterparty)
		}
		f.Counterparty = v
	}
	return nil
}

// parseAmountBound reads one end of the amount range, in minor units of
// currency (0 when the parameter is absent): a plain positive decimal
// ("1000.00") with no more places than the currency has.
func parseAmountBound(values url.Values, name, currency string) (int64, error) {
	v := values.Get(name)
	if v == "" {
		return 0, nil
	}
	if currency == "" {
		return 0, payment.FieldErrorf(payment.CodeInvalidInput, name, "needs currency: an amount is in one currency")
	}
	minor, err := payment.ParseAmount(v, currency)
	if err != nil {
		msg := "is not an amount"
		var pe *payment.Error
		if errors.As(err, &pe) {
			msg = pe.Message
		}
		return 0, payment.FieldErrorf(payment.CodeInvalidInput, name, "%s", printable(msg))
	}
	return minor, nil
}
