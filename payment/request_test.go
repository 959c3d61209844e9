package payment_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

// validSample is the contract's reference request, shared with the schema
// contract test.
func validSample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/request-valid.json")
	require.NoError(t, err)
	return b
}

// mutated returns the valid sample with change applied to its decoded form.
func mutated(t testing.TB, change func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(validSample(t), &m))
	change(m)
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

// creditorOf returns the creditor object of a decoded sample.
func creditorOf(m map[string]any) map[string]any { return m["creditor"].(map[string]any) }

func TestDecodeValidSample(t *testing.T) {
	t.Parallel()

	r, err := payment.Decode(validSample(t))
	require.NoError(t, err)
	require.Equal(t, payment.Request{
		SchemaVersion: 1,
		RequestID:     "erp-sh-20260310-000123",
		OrderRef:      "PO-2026-0310-8841",
		CustomerID:    "CUST-310115000123",
		Applicant:     "zhang.wei",
		BankID:        "104100000004",
		DebtorAccount: "340058712345",
		Creditor: payment.Creditor{
			Name:    "上海华东机电设备有限公司",
			Account: "31001520313050012345",
			BankID:  "105290036005",
		},
		Amount:        "1286400.50",
		Currency:      "CNY",
		Remittance:    "采购合同 HT-2026-0215 第二期货款",
		ExecutionDate: "2026-03-12",
		AmountMinor:   128640050,
		Execution:     time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC),
	}, r)
}

func TestDecodeAcceptsVariants(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		change func(m map[string]any)
		check  func(t *testing.T, r payment.Request)
	}{
		{"NoRemittance", func(m map[string]any) { delete(m, "remittance_info") },
			func(t *testing.T, r payment.Request) { require.Empty(t, r.Remittance) }},
		{"EmptyRemittance", func(m map[string]any) { m["remittance_info"] = "" },
			func(t *testing.T, r payment.Request) { require.Empty(t, r.Remittance) }},
		{"Remittance140", func(m map[string]any) { m["remittance_info"] = strings.Repeat("款", 140) },
			func(t *testing.T, r payment.Request) { require.Equal(t, strings.Repeat("款", 140), r.Remittance) }},
		{"CreditorName140Runes", func(m map[string]any) { creditorOf(m)["name"] = strings.Repeat("华", 140) },
			func(t *testing.T, r payment.Request) { require.Equal(t, strings.Repeat("华", 140), r.Creditor.Name) }},
		{"OrderRef35", func(m map[string]any) { m["order_ref"] = strings.Repeat("订", 35) },
			func(t *testing.T, r payment.Request) { require.Equal(t, strings.Repeat("订", 35), r.OrderRef) }},
		{"RequestID64", func(m map[string]any) { m["request_id"] = strings.Repeat("a", 64) },
			func(t *testing.T, r payment.Request) { require.Len(t, r.RequestID, 64) }},
		{"BICs", func(m map[string]any) { m["bank_id"] = "BKCHCNBJ"; creditorOf(m)["bank_id"] = "ICBKCNBJSHI" },
			func(t *testing.T, r payment.Request) {
				require.Equal(t, "BKCHCNBJ", r.BankID)
				require.Equal(t, "ICBKCNBJSHI", r.Creditor.BankID)
			}},
		{"Account34", func(m map[string]any) { m["debtor_account"] = strings.Repeat("9", 34) },
			func(t *testing.T, r payment.Request) { require.Len(t, r.DebtorAccount, 34) }},
		{"JPY", func(m map[string]any) { m["currency"] = "JPY"; m["amount"] = "1500000" },
			func(t *testing.T, r payment.Request) { require.Equal(t, int64(1500000), r.AmountMinor) }},
		{"FirstDecodableDate", func(m map[string]any) { m["execution_date"] = "2000-01-01" },
			func(t *testing.T, r payment.Request) {
				require.Equal(t, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), r.Execution)
			}},
		{"LastDecodableDate", func(m map[string]any) { m["execution_date"] = "2099-12-31" },
			func(t *testing.T, r payment.Request) {
				require.Equal(t, time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC), r.Execution)
			}},
		{"NextYearsDate", func(m map[string]any) { m["execution_date"] = "2027-01-05" },
			func(t *testing.T, r payment.Request) {
				require.Equal(t, time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC), r.Execution)
			}},
		{"FieldOrder", func(m map[string]any) {}, // json.Marshal sorts the keys
			func(t *testing.T, r payment.Request) { require.Equal(t, int64(128640050), r.AmountMinor) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			r, err := payment.Decode(mutated(t, tt.change))
			require.NoError(t, err)
			tt.check(t, r)
		})
	}

	t.Run("WhitespaceAroundTheObject", func(t *testing.T) {
		t.Parallel()

		_, err := payment.Decode(append(append([]byte("\n\t "), validSample(t)...), "\r\n  "...))
		require.NoError(t, err)
	})
	t.Run("ExactlyMaxRequestBytes", func(t *testing.T) {
		t.Parallel()

		body := validSample(t)
		body = append(body, bytes.Repeat([]byte(" "), payment.MaxRequestBytes-len(body))...)
		require.Len(t, body, payment.MaxRequestBytes)
		_, err := payment.Decode(body)
		require.NoError(t, err)
	})
}

func TestDecodeRefuses(t *testing.T) {
	t.Parallel()

	raw := func(s string) func(t testing.TB) []byte {
		return func(testing.TB) []byte { return []byte(s) }
	}
	mut := func(change func(m map[string]any)) func(t testing.TB) []byte {
		return func(t testing.TB) []byte { return mutated(t, change) }
	}
	set := func(key string, v any) func(t testing.TB) []byte {
		return mut(func(m map[string]any) { m[key] = v })
	}
	del := func(key string) func(t testing.TB) []byte {
		return mut(func(m map[string]any) { delete(m, key) })
	}
	setCreditor := func(key string, v any) func(t testing.TB) []byte {
		return mut(func(m map[string]any) { creditorOf(m)[key] = v })
	}
	delCreditor := func(key string) func(t testing.TB) []byte {
		return mut(func(m map[string]any) { delete(creditorOf(m), key) })
	}
	// replace swaps one exact piece of the sample's text, for what a
	// decoded map cannot express (key case, invalid bytes, duplicates).
	replace := func(old, new string) func(t testing.TB) []byte {
		return func(t testing.TB) []byte {
			b := validSample(t)
			require.Equal(t, 1, bytes.Count(b, []byte(old)), "sample holds %q once", old)
			return bytes.Replace(b, []byte(old), []byte(new), 1)
		}
	}

	tests := []struct {
		name  string
		body  func(t testing.TB) []byte
		code  payment.Code
		field string
	}{
		// The envelope.
		{"Oversized", func(t testing.TB) []byte {
			b := validSample(t)
			return append(b, bytes.Repeat([]byte(" "), payment.MaxRequestBytes+1-len(b))...)
		}, payment.CodeTooLarge, ""},
		{"OversizedGarbage", raw(strings.Repeat("x", payment.MaxRequestBytes+1)), payment.CodeTooLarge, ""},
		{"InvalidUTF8", replace("上海华东", "\xff\xfe华东"), payment.CodeMalformed, ""},
		{"Empty", raw(""), payment.CodeMalformed, ""},
		{"NotJSON", raw("schema_version=1&amount=100"), payment.CodeMalformed, ""},
		{"TruncatedJSON", func(t testing.TB) []byte { b := validSample(t); return b[:len(b)/2] }, payment.CodeMalformed, ""},
		{"JSONArray", func(t testing.TB) []byte { return append(append([]byte("["), validSample(t)...), ']') }, payment.CodeMalformed, ""},
		{"JSONString", raw(`"{\"schema_version\":1}"`), payment.CodeMalformed, ""},
		{"JSONNumber", raw(`1`), payment.CodeMalformed, ""},
		{"JSONNull", raw(`null`), payment.CodeMalformed, ""},
		{"TrailingObject", func(t testing.TB) []byte { return append(validSample(t), "{}"...) }, payment.CodeMalformed, ""},
		{"TrailingGarbage", func(t testing.TB) []byte { return append(validSample(t), " x"...) }, payment.CodeMalformed, ""},
		{"TwoRequests", func(t testing.TB) []byte { return append(validSample(t), validSample(t)...) }, payment.CodeMalformed, ""},

		// The version.
		{"NoSchemaVersion", del("schema_version"), payment.CodeUnknownVersion, ""},
		{"SchemaVersion2", set("schema_version", 2), payment.CodeUnknownVersion, ""},
		{"SchemaVersion0", set("schema_version", 0), payment.CodeUnknownVersion, ""},
		{"SchemaVersionString", set("schema_version", "1"), payment.CodeUnknownVersion, ""},
		{"SchemaVersionNull", set("schema_version", nil), payment.CodeUnknownVersion, ""},
		{"SchemaVersionFloat", replace(`"schema_version": 1,`, `"schema_version": 1.0,`), payment.CodeUnknownVersion, ""},
		{"SchemaVersionExponent", replace(`"schema_version": 1,`, `"schema_version": 1e0,`), payment.CodeUnknownVersion, ""},
		{"SchemaVersionObject", set("schema_version", map[string]any{"major": 1}), payment.CodeUnknownVersion, ""},

		// Names: exact, known, and each value of its type.
		{"UnknownField", set("priority", "urgent"), payment.CodeMalformed, ""},
		{"UnknownCreditorField", setCreditor("address", "上海市浦东新区"), payment.CodeMalformed, ""},
		{"FieldNameCase", replace(`"amount":`, `"Amount":`), payment.CodeMalformed, ""},
		{"SchemaVersionNameCase", replace(`"schema_version":`, `"SCHEMA_VERSION":`), payment.CodeUnknownVersion, ""},
		{"SchemaVersionTwiceByCase", replace(`"schema_version": 1,`, `"schema_version": 1, "Schema_Version": 2,`), payment.CodeMalformed, ""},
		{"SchemaVersionLongS", replace(`"schema_version": 1,`, `"schema_version": 1, "\u017fchema_version": 1,`), payment.CodeMalformed, ""},
		{"CreditorFieldNameCase", replace(`"account": "3100`, `"ACCOUNT": "3100`), payment.CodeMalformed, ""},
		{"CaseVariantOverridesAmount", replace(`"currency": "CNY",`, `"currency": "CNY", "AMOUNT": "9999999.00",`), payment.CodeMalformed, ""},
		{"AmountNumber", replace(`"amount": "1286400.50"`, `"amount": 1286400.50`), payment.CodeMalformed, ""},
		{"AmountInteger", set("amount", 1286400), payment.CodeMalformed, ""},
		{"RequestIDNumber", set("request_id", 123), payment.CodeMalformed, ""},
		{"CreditorString", set("creditor", "上海华东机电设备有限公司"), payment.CodeMalformed, ""},
		{"CreditorArray", set("creditor", []any{}), payment.CodeMalformed, ""},
		{"RemittanceNull", set("remittance_info", nil), payment.CodeMalformed, ""},
		{"RequestIDNull", set("request_id", nil), payment.CodeMalformed, ""},
		{"CreditorNull", set("creditor", nil), payment.CodeMalformed, ""},
		{"CreditorNameNull", setCreditor("name", nil), payment.CodeMalformed, ""},

		// request_id, customer_id, applicant.
		{"NoRequestID", del("request_id"), payment.CodeInvalidField, "request_id"},
		{"RequestIDSpace", set("request_id", "erp 123"), payment.CodeInvalidField, "request_id"},
		{"RequestIDLeadingDash", set("request_id", "-erp-123"), payment.CodeInvalidField, "request_id"},
		{"RequestIDTooLong", set("request_id", strings.Repeat("a", 65)), payment.CodeInvalidField, "request_id"},
		{"RequestIDChinese", set("request_id", "请求123"), payment.CodeInvalidField, "request_id"},
		{"NoCustomerID", del("customer_id"), payment.CodeInvalidField, "customer_id"},
		{"CustomerIDSlash", set("customer_id", "CUST/310115"), payment.CodeInvalidField, "customer_id"},
		{"NoApplicant", del("applicant"), payment.CodeInvalidField, "applicant"},
		{"ApplicantEmail", set("applicant", "zhang.wei@example.cn"), payment.CodeInvalidField, "applicant"},

		// order_ref.
		{"NoOrderRef", del("order_ref"), payment.CodeInvalidField, "order_ref"},
		{"OrderRefBlank", set("order_ref", "   "), payment.CodeInvalidField, "order_ref"},
		{"OrderRefIdeographicSpace", set("order_ref", "\u3000"), payment.CodeInvalidField, "order_ref"},
		{"OrderRefTooLong", set("order_ref", strings.Repeat("订", 36)), payment.CodeInvalidField, "order_ref"},
		{"OrderRefNewline", set("order_ref", "PO-1\nPO-2"), payment.CodeInvalidField, "order_ref"},

		// Banks and accounts.
		{"NoBankID", del("bank_id"), payment.CodeInvalidField, "bank_id"},
		{"BankIDElevenDigits", set("bank_id", "10410000000"), payment.CodeInvalidField, "bank_id"},
		{"BankIDThirteenDigits", set("bank_id", "1041000000041"), payment.CodeInvalidField, "bank_id"},
		{"BankIDLowercaseBIC", set("bank_id", "bkchcnbj"), payment.CodeInvalidField, "bank_id"},
		{"BankIDName", set("bank_id", "中国银行"), payment.CodeInvalidField, "bank_id"},
		{"NoDebtorAccount", del("debtor_account"), payment.CodeInvalidAccount, "debtor_account"},
		{"DebtorAccountSpaces", set("debtor_account", "3400 5871 2345"), payment.CodeInvalidAccount, "debtor_account"},
		{"DebtorAccountDashes", set("debtor_account", "3400-5871-2345"), payment.CodeInvalidAccount, "debtor_account"},
		{"DebtorAccountTooLong", set("debtor_account", strings.Repeat("9", 35)), payment.CodeInvalidAccount, "debtor_account"},

		// The creditor.
		{"NoCreditor", del("creditor"), payment.CodeInvalidField, "creditor.name"},
		{"EmptyCreditor", set("creditor", map[string]any{}), payment.CodeInvalidField, "creditor.name"},
		{"NoCreditorName", delCreditor("name"), payment.CodeInvalidField, "creditor.name"},
		{"CreditorNameBlank", setCreditor("name", " \t "), payment.CodeInvalidField, "creditor.name"},
		{"CreditorName141Runes", setCreditor("name", strings.Repeat("华", 141)), payment.CodeInvalidField, "creditor.name"},
		{"CreditorNameControl", setCreditor("name", "上海华东\u0007机电"), payment.CodeInvalidField, "creditor.name"},
		{"NoCreditorAccount", delCreditor("account"), payment.CodeInvalidAccount, "creditor.account"},
		{"CreditorAccountChinese", setCreditor("account", "账号31001520313050012345"), payment.CodeInvalidAccount, "creditor.account"},
		{"NoCreditorBankID", delCreditor("bank_id"), payment.CodeInvalidField, "creditor.bank_id"},
		{"CreditorBankIDShort", setCreditor("bank_id", "105290"), payment.CodeInvalidField, "creditor.bank_id"},

		// Money.
		{"NoCurrency", del("currency"), payment.CodeInvalidCurrency, "currency"},
		{"CurrencyLowercase", set("currency", "cny"), payment.CodeInvalidCurrency, "currency"},
		{"CurrencyUnknown", set("currency", "XXX"), payment.CodeInvalidCurrency, "currency"},
		{"CurrencyRMB", set("currency", "RMB"), payment.CodeInvalidCurrency, "currency"},
		{"NoAmount", del("amount"), payment.CodeInvalidAmount, "amount"},
		{"AmountZero", set("amount", "0.00"), payment.CodeInvalidAmount, "amount"},
		{"AmountNegative", set("amount", "-1286400.50"), payment.CodeInvalidAmount, "amount"},
		{"AmountGrouped", set("amount", "1,286,400.50"), payment.CodeInvalidAmount, "amount"},
		{"AmountThreeDecimals", set("amount", "1286400.505"), payment.CodeInvalidAmount, "amount"},
		{"AmountExponent", set("amount", "1.2864005e6"), payment.CodeInvalidAmount, "amount"},
		{"AmountTooLarge", set("amount", "10000000000000.00"), payment.CodeInvalidAmount, "amount"},
		{"AmountYuanSign", set("amount", "¥1286400.50"), payment.CodeInvalidAmount, "amount"},

		// Remittance.
		{"RemittanceNewline", set("remittance_info", "第二期\n货款"), payment.CodeInvalidField, "remittance_info"},
		{"RemittanceTab", set("remittance_info", "第二期\t货款"), payment.CodeInvalidField, "remittance_info"},
		{"RemittanceNUL", set("remittance_info", "第二期\x00货款"), payment.CodeInvalidField, "remittance_info"},
		{"RemittanceDEL", set("remittance_info", "第二期\x7f货款"), payment.CodeInvalidField, "remittance_info"},
		{"RemittanceEscape", set("remittance_info", "\x1b[2J货款"), payment.CodeInvalidField, "remittance_info"},
		{"RemittanceC1Control", set("remittance_info", "第二期\u0085货款"), payment.CodeInvalidField, "remittance_info"},
		{"RemittanceCSI", set("remittance_info", "\u009b2J货款"), payment.CodeInvalidField, "remittance_info"},
		{"Remittance141", set("remittance_info", strings.Repeat("款", 141)), payment.CodeInvalidField, "remittance_info"},

		// The execution date.
		{"NoExecutionDate", del("execution_date"), payment.CodeInvalidDate, "execution_date"},
		{"DateMonth13", set("execution_date", "2026-13-01"), payment.CodeInvalidDate, "execution_date"},
		{"DateSlashes", set("execution_date", "2026/01/01"), payment.CodeInvalidDate, "execution_date"},
		{"DateFeb30", set("execution_date", "2026-02-30"), payment.CodeInvalidDate, "execution_date"},
		{"DateNoPadding", set("execution_date", "2026-3-12"), payment.CodeInvalidDate, "execution_date"},
		{"DateCompact", set("execution_date", "20260312"), payment.CodeInvalidDate, "execution_date"},
		{"DateTime", set("execution_date", "2026-03-12T00:00:00Z"), payment.CodeInvalidDate, "execution_date"},
		{"DateChinese", set("execution_date", "2026年3月12日"), payment.CodeInvalidDate, "execution_date"},
		{"DateYear0001", set("execution_date", "0001-01-01"), payment.CodeInvalidDate, "execution_date"},
		{"DateYear1999", set("execution_date", "1999-12-31"), payment.CodeInvalidDate, "execution_date"},
		{"DateYear2100", set("execution_date", "2100-01-01"), payment.CodeInvalidDate, "execution_date"},
		{"DateYear9999", set("execution_date", "9999-12-31"), payment.CodeInvalidDate, "execution_date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			r, err := payment.Decode(tt.body(t))
			require.Error(t, err)
			require.Equal(t, payment.Request{}, r, "a refused request is the zero Request")
			var e *payment.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.code, e.Code, "error: %v", err)
			require.Equal(t, tt.field, e.Field, "error: %v", err)
			require.True(t, payment.IsRefusal(err))
			require.LessOrEqual(t, len(err.Error()), 600, "a refusal never echoes the whole body")
		})
	}
}

func FuzzDecode(f *testing.F) {
	sample := validSample(f)
	f.Add(sample)
	f.Add(mutated(f, func(m map[string]any) { delete(m, "remittance_info") }))
	f.Add(mutated(f, func(m map[string]any) { m["currency"] = "JPY"; m["amount"] = "1500000" }))
	f.Add(mutated(f, func(m map[string]any) { m["currency"] = "BHD"; m["amount"] = "0.001" }))
	f.Add(mutated(f, func(m map[string]any) { m["bank_id"] = "BKCHCNBJ"; m["remittance_info"] = "<b>&amp;</b> \u2028" }))
	f.Add(bytes.Replace(sample, []byte(`"1286400.50"`), []byte(`1286400.50`), 1))
	f.Add(bytes.Replace(sample, []byte(`"amount":`), []byte(`"Amount":`), 1))
	f.Add(mutated(f, func(m map[string]any) { m["amount"] = "-1" })) // refused, names its request
	f.Add(mutated(f, func(m map[string]any) { m["execution_date"] = "2027-01-05" }))
	f.Add([]byte(`{"schema_version":1}`))
	f.Add([]byte(`{"schema_version":1,"schema_version":2}`))
	f.Add([]byte(`{"schema_version":1,"remittance_info":"\ud800"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[]`))
	f.Add([]byte("\xff"))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := payment.Decode(body)
		named, ok := payment.Identify(body)
		if ok {
			require.NoError(t, payment.ValidID("request_id", named.RequestID), "Identify names only valid ids")
		}
		if err != nil {
			require.True(t, payment.IsRefusal(err), "every error is a refusal: %v", err)
			require.Equal(t, payment.Request{}, r)
			return
		}
		require.True(t, ok, "a request Decode reads names itself")
		require.Equal(t, payment.Request{RequestID: r.RequestID, OrderRef: r.OrderRef}, named)
		require.Equal(t, payment.SchemaVersion, r.SchemaVersion)
		require.Positive(t, r.AmountMinor)
		require.LessOrEqual(t, r.AmountMinor, payment.MaxAmountMinor)
		require.NoError(t, payment.ValidCurrency(r.Currency))
		require.False(t, r.Execution.IsZero())
		require.GreaterOrEqual(t, r.Execution.Year(), payment.MinExecutionYear)
		require.LessOrEqual(t, r.Execution.Year(), payment.MaxExecutionYear)

		again, err := json.Marshal(r)
		require.NoError(t, err)
		r2, err := payment.Decode(again)
		require.NoError(t, err, "re-encoded: %s", again)
		require.Equal(t, r, r2)
	})
}

// TestIdentify: a body Decode refuses still names its request when it is a
// JSON object of schema version 1 with a valid request_id, so the refusal
// can answer that request; anything less answers only the message.
func TestIdentify(t *testing.T) {
	t.Parallel()

	set := func(kv ...any) []byte {
		return mutated(t, func(m map[string]any) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == nil {
					delete(m, kv[i].(string))
					continue
				}
				m[kv[i].(string)] = kv[i+1]
			}
		})
	}
	const id, order = "erp-sh-20260310-000123", "PO-2026-0310-8841"
	named := []struct {
		name  string
		body  []byte
		order string
	}{
		{"NegativeAmount", set("amount", "-1"), order},
		{"AmountTooLarge", set("amount", "10000000000000.00"), order},
		{"UnknownCurrency", set("currency", "XXX"), order},
		{"DateNotYYYYMMDD", set("execution_date", "12/03/2026"), order},
		{"DateYear0001", set("execution_date", "0001-01-01"), order},
		{"AmountAsNumber", set("amount", 100), order},
		{"UnknownField", set("priority", "urgent"), order},
		{"OrderRefTooLong", set("order_ref", strings.Repeat("订", 36)), ""},
		{"OrderRefControl", set("order_ref", "PO\n1"), ""},
		{"NoOrderRef", set("order_ref", nil), ""},
		{"OrderRefNumber", set("order_ref", 42), ""},
		{"OnlyTheID", []byte(`{"schema_version":1,"request_id":"` + id + `"}`), ""},
	}
	for _, tt := range named {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			_, err := payment.Decode(tt.body)
			require.True(t, payment.IsRefusal(err), "Decode refuses it: %v", err)
			r, ok := payment.Identify(tt.body)
			require.True(t, ok)
			require.Equal(t, payment.Request{RequestID: id, OrderRef: tt.order}, r)
		})
	}

	unnamed := map[string][]byte{
		"NotJSON":          []byte("{not json"),
		"NotUTF8":          []byte("{\"schema_version\":1,\"request_id\":\"\xff\xfe\"}"),
		"Array":            []byte(`[{"schema_version":1,"request_id":"a"}]`),
		"Null":             []byte(`null`),
		"Empty":            {},
		"TrailingData":     append(validSample(t), " x"...),
		"NoRequestID":      set("request_id", nil),
		"RequestIDInvalid": set("request_id", "erp 123"),
		"RequestIDNumber":  set("request_id", 123),
		"RequestIDCase":    bytes.Replace(set("amount", "-1"), []byte(`"request_id"`), []byte(`"Request_ID"`), 1),
		"SchemaVersion2":   set("schema_version", 2, "amount", "-1"),
		"NoSchemaVersion":  set("schema_version", nil, "amount", "-1"),
		"Oversized":        append(set("amount", "-1"), bytes.Repeat([]byte(" "), payment.MaxRequestBytes)...),
	}
	for name, body := range unnamed {
		t.Run(name, func(t *testing.T) {
			t.Parallel()

			r, ok := payment.Identify(body)
			require.False(t, ok)
			require.Equal(t, payment.Request{}, r)
		})
	}
}
