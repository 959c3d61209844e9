package payment_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

func TestParseAmount(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		in       string
		currency string
		want     int64
		code     payment.Code // "" when the amount is accepted
		field    string
	}{
		{name: "One", in: "1", currency: "CNY", want: 100},
		{name: "OneFen", in: "0.01", currency: "CNY", want: 1},
		{name: "TwoDecimals", in: "1234.50", currency: "CNY", want: 123450},
		{name: "OneDecimal", in: "1234.5", currency: "CNY", want: 123450},
		{name: "TrailingZeros", in: "1.500", currency: "CNY", want: 150},
		{name: "ManyTrailingZeros", in: "2.000000000000000000", currency: "CNY", want: 200},
		{name: "Max", in: "9999999999999.99", currency: "CNY", want: payment.MaxAmountMinor},
		{name: "USD", in: "250000.75", currency: "USD", want: 25000075},
		{name: "JPYWhole", in: "100", currency: "JPY", want: 100},
		{name: "JPYTrailingZero", in: "100.0", currency: "JPY", want: 100},
		{name: "BHDThreeDecimals", in: "12.345", currency: "BHD", want: 12345},
		{name: "BHDOneFils", in: "0.001", currency: "BHD", want: 1},
		{name: "ZeroInteger", in: "0.5", currency: "CNY", want: 50},

		{name: "JPYFraction", in: "100.5", currency: "JPY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "CNYThreeDecimals", in: "1.001", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "BHDFourDecimals", in: "1.0001", currency: "BHD", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "BelowOneFen", in: "0.001", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "Empty", in: "", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "Zero", in: "0", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "ZeroFraction", in: "0.00", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "Negative", in: "-1", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "Plus", in: "+1", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "Exponent", in: "1e3", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "LeadingSpace", in: " 1", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "TrailingSpace", in: "1 ", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "Grouping", in: "1,000.00", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "DecimalComma", in: "1000,00", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "LeadingZero", in: "01", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "NoInteger", in: ".5", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "NoFraction", in: "5.", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "NaN", in: "NaN", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "Infinity", in: "Infinity", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "Hex", in: "0x10", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "Fraction", in: "1/3", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "FullwidthDigits", in: "１００", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "Overflow", in: "99999999999999999999", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "AboveMaxByOneFen", in: "10000000000000.00", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "AboveMaxJPY", in: "1000000000000000", currency: "JPY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "AboveInt64AfterScaling", in: "999999999999999999", currency: "CNY", code: payment.CodeInvalidAmount, field: "amount"},
		{name: "UnknownCurrency", in: "1.00", currency: "XXX", code: payment.CodeInvalidCurrency, field: "currency"},
		{name: "LowercaseCurrency", in: "1.00", currency: "cny", code: payment.CodeInvalidCurrency, field: "currency"},
		{name: "EmptyCurrency", in: "1.00", currency: "", code: payment.CodeInvalidCurrency, field: "currency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := payment.ParseAmount(tt.in, tt.currency)
			if tt.code == "" {
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
				return
			}
			require.Error(t, err)
			require.Zero(t, got)
			require.Equal(t, tt.code, payment.ErrorCode(err), "error: %v", err)
			var e *payment.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.field, e.Field)
		})
	}
}

// TestParseAmountNamesTheLimit: an amount above the largest accepted is
// refused with a reason that says so and names the limit in the currency,
// however many digits it has.
func TestParseAmountNamesTheLimit(t *testing.T) {
	t.Parallel()

	tests := []struct{ in, currency, limit string }{
		{"10000000000000.00", "CNY", "9999999999999.99 CNY"},
		{"10000000000000", "CNY", "9999999999999.99 CNY"},
		{"999999999999999999", "CNY", "9999999999999.99 CNY"},
		{"99999999999999999999", "CNY", "9999999999999.99 CNY"},
		{"99999999999999999999999.99", "CNY", "9999999999999.99 CNY"},
		{"1000000000000000", "JPY", "999999999999999 JPY"},
		{"1000000000000.000", "BHD", "999999999999.999 BHD"},
	}
	for _, tt := range tests {
		t.Run(tt.in+tt.currency, func(t *testing.T) {
			t.Parallel()

			_, err := payment.ParseAmount(tt.in, tt.currency)
			require.Equal(t, payment.CodeInvalidAmount, payment.ErrorCode(err), "error: %v", err)
			require.Contains(t, err.Error(), "exceeds the largest amount accepted, "+tt.limit)
		})
	}
}

func TestFormatAmount(t *testing.T) {
	t.Parallel()

	tests := []struct {
		minor    int64
		currency string
		want     string
	}{
		{1, "CNY", "0.01"},
		{10, "CNY", "0.10"},
		{100, "CNY", "1.00"},
		{123450, "CNY", "1234.50"},
		{payment.MaxAmountMinor, "CNY", "9999999999999.99"},
		{100, "JPY", "100"},
		{7, "KRW", "7"},
		{1, "BHD", "0.001"},
		{12345, "KWD", "12.345"},
		{25000075, "USD", "250000.75"},
		{-150, "EUR", "-1.50"},
		{0, "CNY", "0.00"},
	}
	for _, tt := range tests {
		t.Run(tt.want+"_"+tt.currency, func(t *testing.T) {
			t.Parallel()

			got := payment.FormatAmount(tt.minor, tt.currency)
			require.Equal(t, tt.want, got)
			if tt.minor > 0 {
				back, err := payment.ParseAmount(got, tt.currency)
				require.NoError(t, err)
				require.Equal(t, tt.minor, back)
			}
		})
	}
}

func TestFormatAmountParseAmountRoundTrip(t *testing.T) {
	t.Parallel()

	rng := rand.New(rand.NewPCG(20260310, 1))
	currencies := []string{"CNY", "JPY", "BHD", "USD", "KWD", "CLP"}
	for _, c := range currencies {
		exp, ok := payment.CurrencyExponent(c)
		require.True(t, ok, c)
		// The edges, then random amounts in (0, MaxAmountMinor].
		samples := []int64{1, 9, 10, 99, 100, 101, payment.MaxAmountMinor - 1, payment.MaxAmountMinor}
		for range 2000 {
			samples = append(samples, 1+rng.Int64N(payment.MaxAmountMinor))
		}
		for _, n := range samples {
			s := payment.FormatAmount(n, c)
			got, err := payment.ParseAmount(s, c)
			require.NoError(t, err, "%s %s", s, c)
			require.Equal(t, n, got, "%s %s", s, c)
			if exp > 0 {
				require.Equal(t, byte('.'), s[len(s)-exp-1], "%s has %d decimals", s, exp)
			} else {
				require.NotContains(t, s, ".")
			}
		}
	}
}

func TestCurrencies(t *testing.T) {
	t.Parallel()

	for code, want := range map[string]int{"CNY": 2, "HKD": 2, "USD": 2, "EUR": 2, "JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3} {
		got, ok := payment.CurrencyExponent(code)
		require.True(t, ok, code)
		require.Equal(t, want, got, code)
		require.NoError(t, payment.ValidCurrency(code))
	}
	for _, code := range []string{"", "XXX", "cny", "CN", "CNYY", "RMB", "XAU"} {
		_, ok := payment.CurrencyExponent(code)
		require.False(t, ok, code)
		err := payment.ValidCurrency(code)
		require.Equal(t, payment.CodeInvalidCurrency, payment.ErrorCode(err), code)
	}
}
