package payment

import (
	"math/big"
	"regexp"
	"strings"
)

// MaxAmountMinor is the largest amount accepted, in minor units (10^15 - 1:
// 9999999999999.99 CNY, 999999999999999 JPY, 999999999999.999 BHD): far
// above any single business payment, far below int64 overflow (the
// payments table keeps a bigint), and within the 18 digits ISO 20022
// amounts allow. Above it ParseAmount refuses with invalid_amount and a
// reason that names the limit.
const MaxAmountMinor int64 = 999_999_999_999_999

// currencyExponents maps the active ISO 4217 codes to their minor-unit
// exponents (digits after the decimal point).
var currencyExponents = map[string]int{
	"AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2, "AZN": 2,
	"BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2, "BOB": 2, "BRL": 2,
	"BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2, "CHF": 2, "CLP": 0, "CNY": 2,
	"COP": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2,
	"ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2,
	"GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2,
	"IQD": 3, "IRR": 2, "ISK": 0, "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0,
	"KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2,
	"LYD": 3, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2,
	"MVR": 2, "MWK": 2, "MXN": 2, "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2,
	"NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2, "PYG": 0, "QAR": 2,
	"RON": 2, "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2,
	"SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2, "SVC": 2, "SYP": 2, "SZL": 2, "THB": 2,
	"TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0,
	"USD": 2, "UYU": 2, "UZS": 2, "VES": 2, "VND": 0, "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2, "XOF": 0,
	"XPF": 0, "YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2,
}

// CurrencyExponent returns the number of minor-unit digits of an ISO 4217
// currency code, and false for a code that is not an active currency.
func CurrencyExponent(code string) (int, bool) {
	e, ok := currencyExponents[code]
	return e, ok
}

// ValidCurrency checks an ISO 4217 code.
func ValidCurrency(code string) error {
	if _, ok := currencyExponents[code]; !ok {
		return FieldErrorf(CodeInvalidCurrency, "currency", "%q is not an active ISO 4217 currency code", code)
	}
	return nil
}

// amountPattern is the only amount syntax accepted: plain digits, an
// optional fraction, no sign, exponent, spaces or grouping.
var amountPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,17})(\.[0-9]{1,18})?$`)

// digitsPattern is the syntax of amountPattern without its length limits.
var digitsPattern = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// ParseAmount turns a decimal string such as "1234.50" into minor units of
// currency (123450 for CNY). The amount must be positive, have no more
// fraction digits than the currency allows, and not exceed MaxAmountMinor.
// Parsing is exact (math/big); no float is ever involved.
func ParseAmount(s, currency string) (int64, error) {
	exp, ok := CurrencyExponent(currency)
	if !ok {
		return 0, ValidCurrency(currency)
	}
	if !amountPattern.MatchString(s) {
		if digitsPattern.MatchString(s) && len(strings.SplitN(s, ".", 2)[0]) > 18 {
			return 0, tooLarge(s, currency)
		}
		return 0, FieldErrorf(CodeInvalidAmount, "amount", "%q is not a plain positive decimal such as \"1234.50\"", Clip(s, 40))
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		frac := strings.TrimRight(s[i+1:], "0")
		if len(frac) > exp {
			return 0, FieldErrorf(CodeInvalidAmount, "amount", "%s allows %d decimal places, got %q", currency, exp, s)
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, FieldErrorf(CodeInvalidAmount, "amount", "%q is not a decimal number", s)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil)))
	if !r.IsInt() {
		return 0, FieldErrorf(CodeInvalidAmount, "amount", "%q has more precision than %s allows", s, currency)
	}
	n := r.Num()
	if n.Sign() <= 0 {
		return 0, FieldErrorf(CodeInvalidAmount, "amount", "amount must be greater than zero")
	}
	if !n.IsInt64() || n.Int64() > MaxAmountMinor {
		return 0, tooLarge(s, currency)
	}
	return n.Int64(), nil
}

// tooLarge is the refusal of an amount above MaxAmountMinor: it names the
// largest amount accepted in the currency.
func tooLarge(s, currency string) error {
	return FieldErrorf(CodeInvalidAmount, "amount", "%q exceeds the largest amount accepted, %s %s",
		Clip(s, 40), FormatAmount(MaxAmountMinor, currency), currency)
}

// FormatAmount renders minor units as a decimal string with exactly the
// currency's number of fraction digits ("1234.50").
func FormatAmount(minor int64, currency string) string {
	exp, ok := CurrencyExponent(currency)
	if !ok {
		exp = 2
	}
	neg := minor < 0
	u := new(big.Int).Abs(big.NewInt(minor)).String()
	if exp > 0 {
		for len(u) <= exp {
			u = "0" + u
		}
		u = u[:len(u)-exp] + "." + u[len(u)-exp:]
	}
	if neg {
		return "-" + u
	}
	return u
}
