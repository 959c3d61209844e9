package schema_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

const (
	schemaFile = "payment-request.v1.json"
	sampleFile = "../payment/testdata/request-valid.json"
)

// compileRequestSchema compiles the published request schema, with formats
// asserted (2020-12 treats "format" as an annotation unless asked).
func compileRequestSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaFile)
	require.NoError(t, err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)

	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	require.NoError(t, c.AddResource(schemaFile, doc))
	sch, err := c.Compile(schemaFile)
	require.NoError(t, err)
	return sch
}

// schemaErr validates one body against the schema; a body that is not JSON
// fails as it would in any validator.
func schemaErr(sch *jsonschema.Schema, body []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

func sample(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(sampleFile)
	require.NoError(t, err)
	return b
}

// mutate returns the sample with change applied to its decoded form.
func mutate(t *testing.T, change func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(sample(t), &m))
	change(m)
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

func set(key string, v any) func(map[string]any) {
	return func(m map[string]any) { m[key] = v }
}

func del(key string) func(map[string]any) {
	return func(m map[string]any) { delete(m, key) }
}

func setCreditor(key string, v any) func(map[string]any) {
	return func(m map[string]any) { m["creditor"].(map[string]any)[key] = v }
}

func delCreditor(key string) func(map[string]any) {
	return func(m map[string]any) { delete(m["creditor"].(map[string]any), key) }
}

func TestSchemaDescribesTheContract(t *testing.T) {
	t.Parallel()

	var s struct {
		Schema               string         `json:"$schema"`
		Title                string         `json:"title"`
		Description          string         `json:"description"`
		Required             []string       `json:"required"`
		AdditionalProperties *bool          `json:"additionalProperties"`
		Properties           map[string]any `json:"properties"`
		Examples             []any          `json:"examples"`
	}
	b, err := os.ReadFile(schemaFile)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &s))

	require.Equal(t, "https://json-schema.org/draft/2020-12/schema", s.Schema)
	require.NotEmpty(t, s.Title)
	require.NotEmpty(t, s.Description)
	require.NotNil(t, s.AdditionalProperties)
	require.False(t, *s.AdditionalProperties)
	require.ElementsMatch(t, []string{
		"schema_version", "request_id", "order_ref", "customer_id", "applicant", "bank_id",
		"debtor_account", "creditor", "amount", "currency", "execution_date",
	}, s.Required)
	require.Len(t, s.Properties, len(s.Required)+1, "every member but remittance_info is required")
	require.Contains(t, s.Properties, "remittance_info")

	// Every example is a valid request, and the first is the shared sample.
	require.NotEmpty(t, s.Examples)
	sch := compileRequestSchema(t)
	for i, ex := range s.Examples {
		body, err := json.Marshal(ex)
		require.NoError(t, err)
		require.NoError(t, schemaErr(sch, body), "example %d", i)
		_, err = payment.Decode(body)
		require.NoError(t, err, "example %d", i)
	}
	var want any
	require.NoError(t, json.Unmarshal(sample(t), &want))
	require.Equal(t, want, s.Examples[0])
}

func TestValidRequestsPassSchemaAndDecode(t *testing.T) {
	t.Parallel()

	sch := compileRequestSchema(t)
	tests := []struct {
		name string
		body func(t *testing.T) []byte
	}{
		{"Sample", sample},
		{"NoRemittance", func(t *testing.T) []byte { return mutate(t, del("remittance_info")) }},
		{"EmptyRemittance", func(t *testing.T) []byte { return mutate(t, set("remittance_info", "")) }},
		{"CreditorName140Runes", func(t *testing.T) []byte { return mutate(t, setCreditor("name", strings.Repeat("华", 140))) }},
		{"OrderRef35Runes", func(t *testing.T) []byte { return mutate(t, set("order_ref", strings.Repeat("订", 35))) }},
		{"OrderRefWithInnerSpace", func(t *testing.T) []byte { return mutate(t, set("order_ref", " PO 2026 ")) }},
		{"RequestID64", func(t *testing.T) []byte { return mutate(t, set("request_id", "a"+strings.Repeat("-", 63))) }},
		{"BICs", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) {
				m["bank_id"] = "BKCHCNBJ"
				m["creditor"].(map[string]any)["bank_id"] = "ICBKCNBJSHI"
			})
		}},
		{"JPY", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) { m["currency"] = "JPY"; m["amount"] = "1500000" })
		}},
		{"TrailingZeros", func(t *testing.T) []byte { return mutate(t, set("amount", "1286400.500")) }},
		{"NextYearsDate", func(t *testing.T) []byte { return mutate(t, set("execution_date", "2027-01-05")) }},
		{"LastDecodableDate", func(t *testing.T) []byte { return mutate(t, set("execution_date", "2099-12-31")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			body := tt.body(t)
			require.NoError(t, schemaErr(sch, body))
			_, err := payment.Decode(body)
			require.NoError(t, err)
		})
	}
}

func TestInvalidRequestsFailSchemaAndDecode(t *testing.T) {
	t.Parallel()

	sch := compileRequestSchema(t)
	tests := []struct {
		name   string
		change func(m map[string]any)
	}{
		{"NoSchemaVersion", del("schema_version")},
		{"SchemaVersion2", set("schema_version", 2)},
		{"SchemaVersionString", set("schema_version", "1")},
		{"UnknownField", set("priority", "urgent")},
		{"UnknownCreditorField", setCreditor("address", "上海市浦东新区")},
		{"NullRemittance", set("remittance_info", nil)},
		{"NullCreditor", set("creditor", nil)},
		{"NoRequestID", del("request_id")},
		{"RequestIDSpace", set("request_id", "erp 123")},
		{"RequestIDLeadingDot", set("request_id", ".erp")},
		{"RequestIDTooLong", set("request_id", strings.Repeat("a", 65))},
		{"RequestIDNumber", set("request_id", 123)},
		{"NoOrderRef", del("order_ref")},
		{"OrderRefEmpty", set("order_ref", "")},
		{"OrderRefBlank", set("order_ref", "  ")},
		{"OrderRefIdeographicSpace", set("order_ref", "\u3000\u3000")},
		{"OrderRefTooLong", set("order_ref", strings.Repeat("订", 36))},
		{"OrderRefTab", set("order_ref", "PO\t1")},
		{"NoCustomerID", del("customer_id")},
		{"CustomerIDSlash", set("customer_id", "CUST/1")},
		{"NoApplicant", del("applicant")},
		{"ApplicantEmail", set("applicant", "zhang.wei@example.cn")},
		{"NoBankID", del("bank_id")},
		{"BankIDElevenDigits", set("bank_id", "10410000000")},
		{"BankIDLowercaseBIC", set("bank_id", "bkchcnbj")},
		{"BankIDName", set("bank_id", "中国银行")},
		{"NoDebtorAccount", del("debtor_account")},
		{"DebtorAccountSpaces", set("debtor_account", "3400 5871 2345")},
		{"DebtorAccountTooLong", set("debtor_account", strings.Repeat("9", 35))},
		{"NoCreditor", del("creditor")},
		{"CreditorString", set("creditor", "上海华东机电设备有限公司")},
		{"NoCreditorName", delCreditor("name")},
		{"CreditorNameBlank", setCreditor("name", " ")},
		{"CreditorName141Runes", setCreditor("name", strings.Repeat("华", 141))},
		{"CreditorNameControl", setCreditor("name", "华东\u0007机电")},
		{"NoCreditorAccount", delCreditor("account")},
		{"CreditorAccountDashes", setCreditor("account", "3100-1520")},
		{"NoCreditorBankID", delCreditor("bank_id")},
		{"CreditorBankIDShort", setCreditor("bank_id", "105290")},
		{"NoAmount", del("amount")},
		{"AmountNumber", set("amount", 1286400.5)},
		{"AmountInteger", set("amount", 1286400)},
		{"AmountNegative", set("amount", "-1.00")},
		{"AmountPlus", set("amount", "+1.00")},
		{"AmountExponent", set("amount", "1e3")},
		{"AmountGrouped", set("amount", "1,286,400.50")},
		{"AmountLeadingZero", set("amount", "01.00")},
		{"AmountNoInteger", set("amount", ".50")},
		{"AmountNoFraction", set("amount", "5.")},
		{"AmountSpace", set("amount", " 1.00")},
		{"AmountNaN", set("amount", "NaN")},
		{"AmountOverflow", set("amount", "99999999999999999999")},
		{"NoCurrency", del("currency")},
		{"CurrencyLowercase", set("currency", "cny")},
		{"CurrencyNumeric", set("currency", "156")},
		{"RemittanceNewline", set("remittance_info", "第二期\n货款")},
		{"RemittanceNUL", set("remittance_info", "第二期\x00货款")},
		{"RemittanceDEL", set("remittance_info", "第二期\x7f货款")},
		{"RemittanceC1", set("remittance_info", "第二期\u0085货款")},
		{"Remittance141", set("remittance_info", strings.Repeat("款", 141))},
		{"NoExecutionDate", del("execution_date")},
		{"DateMonth13", set("execution_date", "2026-13-01")},
		{"DateSlashes", set("execution_date", "2026/01/01")},
		{"DateFeb30", set("execution_date", "2026-02-30")},
		{"DateNoPadding", set("execution_date", "2026-3-12")},
		{"DateTime", set("execution_date", "2026-03-12T00:00:00Z")},
		{"DateYear0001", set("execution_date", "0001-01-01")},
		{"DateYear1999", set("execution_date", "1999-12-31")},
		{"DateYear2100", set("execution_date", "2100-01-01")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			body := mutate(t, tt.change)
			require.Error(t, schemaErr(sch, body), "schema accepts %s", body)
			_, err := payment.Decode(body)
			require.Error(t, err, "Decode accepts %s", body)
			require.True(t, payment.IsRefusal(err))
		})
	}

	t.Run("JSONArray", func(t *testing.T) {
		t.Parallel()

		body := append(append([]byte("["), sample(t)...), ']')
		require.Error(t, schemaErr(sch, body))
		_, err := payment.Decode(body)
		require.Error(t, err)
	})
	t.Run("NotJSON", func(t *testing.T) {
		t.Parallel()

		body := []byte("schema_version=1&amount=100")
		require.Error(t, schemaErr(sch, body))
		_, err := payment.Decode(body)
		require.Error(t, err)
	})
}

// TestRulesBeyondTheSchema covers what JSON Schema cannot say, so only
// Decode is asserted: the list of active currencies, the decimal places each
// currency allows, amount > 0 and its upper bound (both numeric, in a
// string), schema_version written as 1 rather than 1.0 (JSON Schema compares
// numbers by value), member names that differ only in case when a validator
// folds duplicates, and invalid UTF-8 (validators decode the body first).
func TestRulesBeyondTheSchema(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		body func(t *testing.T) []byte
		code payment.Code
	}{
		{"CurrencyUnknown", func(t *testing.T) []byte { return mutate(t, set("currency", "XXX")) }, payment.CodeInvalidCurrency},
		{"CurrencyRMB", func(t *testing.T) []byte { return mutate(t, set("currency", "RMB")) }, payment.CodeInvalidCurrency},
		{"AmountZero", func(t *testing.T) []byte { return mutate(t, set("amount", "0.00")) }, payment.CodeInvalidAmount},
		{"AmountThreeDecimalsCNY", func(t *testing.T) []byte { return mutate(t, set("amount", "1.005")) }, payment.CodeInvalidAmount},
		{"AmountFractionJPY", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) { m["currency"] = "JPY"; m["amount"] = "100.5" })
		}, payment.CodeInvalidAmount},
		{"AmountAboveMax", func(t *testing.T) []byte { return mutate(t, set("amount", "10000000000000.00")) }, payment.CodeInvalidAmount},
		{"SchemaVersionFloat", func(t *testing.T) []byte {
			return bytes.Replace(sample(t), []byte(`"schema_version": 1,`), []byte(`"schema_version": 1.0,`), 1)
		}, payment.CodeUnknownVersion},
		{"InvalidUTF8", func(t *testing.T) []byte {
			return bytes.Replace(sample(t), []byte("上海"), []byte("\xff\xfe"), 1)
		}, payment.CodeMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			_, err := payment.Decode(tt.body(t))
			require.Equal(t, tt.code, payment.ErrorCode(err), "error: %v", err)
		})
	}
}
