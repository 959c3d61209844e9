package iso20022

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// many returns n sample transactions.
func many(n int) []Transaction {
	txs := make([]Transaction, n)
	for i := range txs {
		txs[i] = sampleTx(i + 1)
	}
	return txs
}

// with returns sampleTx(1) changed by f.
func with(f func(*Transaction)) []Transaction {
	tx := sampleTx(1)
	f(&tx)
	return []Transaction{tx}
}

// TestPacs008ValidatesAgainstXSD writes each case, validates it with
// xmllint against the official XSD, and reads it back.
func TestPacs008ValidatesAgainstXSD(t *testing.T) {
	t.Parallel()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	maxAmount := make([]Transaction, 1000)
	for i := range maxAmount {
		maxAmount[i] = sampleTx(i)
		maxAmount[i].AmountMinor = payment.MaxAmountMinor
	}
	cases := []struct {
		name  string
		txs   []Transaction
		group func(*Group)
		want  []string // substrings of the file
	}{
		{name: "one transaction", txs: many(1)},
		{name: "1000 transactions", txs: many(1000)},
		{name: "BIC agents", txs: with(func(tx *Transaction) {
			tx.DebtorAgent, tx.CreditorAgent = "BKCHCNBJ", "ICBKCNBJSHI"
		}), group: func(g *Group) { g.InstructingAgent, g.InstructedAgent = "BKCHCNBJXXX", "PBOCCNBJ" },
			want: []string{"<BICFI>ICBKCNBJSHI</BICFI>", "<BICFI>PBOCCNBJ</BICFI>"}},
		{name: "CNAPS agents", txs: many(2), group: func(g *Group) { g.InstructedAgent = "001100000015" },
			want: []string{"<Cd>CNAPS</Cd>", "<MmbId>001100000015</MmbId>"}},
		{name: "no group agents", txs: many(1), group: func(g *Group) { g.InstructingAgent, g.InstructedAgent = "", "" }},
		{name: "empty remittance and optional ids", txs: with(func(tx *Transaction) {
			tx.Remittance, tx.InstructionID, tx.TransactionID = "", "", ""
		})},
		{name: "Chinese names", txs: with(func(tx *Transaction) {
			tx.DebtorName = "中国银行股份有限公司上海市分行"
			tx.CreditorName = "深圳市腾飞电子科技有限公司（华南区）"
			tx.Remittance = "货款：发票号 №0042，含税 13%"
		}), want: []string{"<Nm>中国银行股份有限公司上海市分行</Nm>"}},
		{name: "characters needing escaping", txs: with(func(tx *Transaction) {
			tx.EndToEndID = `PO<1>&"2"'3'`
			tx.DebtorName = `A & B <Holdings> "Ltd" 'HK'`
			tx.CreditorName = "]]> <![CDATA[x]]> &amp;"
			tx.Remittance = "tab\there\nnew line\r\nCRLF"
		}), want: []string{"A &amp; B &lt;Holdings&gt; &#34;Ltd&#34; &#39;HK&#39;", "]]&gt;"}},
		{name: "maximum lengths", txs: with(func(tx *Transaction) {
			tx.InstructionID = strings.Repeat("I", 35)
			tx.EndToEndID = strings.Repeat("E", 35)
			tx.TransactionID = strings.Repeat("T", 35)
			tx.DebtorName = strings.Repeat("汇", 140)
			tx.DebtorAccount = strings.Repeat("9", 34)
			tx.CreditorName = strings.Repeat("😀", 140)
			tx.CreditorAccount = strings.Repeat("A1", 17)
			tx.Remittance = strings.Repeat("&", 140)
		}), group: func(g *Group) { g.MessageID = strings.Repeat("M", 35) }},
		{name: "largest amount", txs: with(func(tx *Transaction) { tx.AmountMinor = payment.MaxAmountMinor }),
			want: []string{`<IntrBkSttlmAmt Ccy="CNY">9999999999999.99</IntrBkSttlmAmt>`}},
		{name: "largest amounts sum to 18 digits", txs: maxAmount,
			want: []string{"<CtrlSum>9999999999999990.00</CtrlSum>"}},
		{name: "JPY has no minor digits", txs: with(func(tx *Transaction) { tx.Currency, tx.AmountMinor = "JPY", 1234567 }),
			want: []string{`<IntrBkSttlmAmt Ccy="JPY">1234567</IntrBkSttlmAmt>`}},
		{name: "BHD has three", txs: with(func(tx *Transaction) { tx.Currency, tx.AmountMinor = "BHD", 1005 }),
			want: []string{`<IntrBkSttlmAmt Ccy="BHD">1.005</IntrBkSttlmAmt>`, "<CtrlSum>1.005</CtrlSum>"}},
		{name: "times in another zone", txs: many(1), group: func(g *Group) {
			g.CreatedAt = time.Date(2026, 11, 28, 1, 30, 0, 999, shanghai)
			g.SettlementDate = time.Date(2026, 11, 28, 0, 0, 0, 0, shanghai)
		}, want: []string{"<CreDtTm>2026-11-27T17:30:00+00:00</CreDtTm>", "<IntrBkSttlmDt>2026-11-28</IntrBkSttlmDt>"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			g := sampleGroup(c.txs)
			if c.group != nil {
				c.group(&g)
			}
			doc := write(t, g, c.txs)
			validate(t, pacs008XSD, doc)
			for _, w := range c.want {
				if !bytes.Contains(doc, []byte(w)) {
					t.Errorf("file lacks %s", w)
				}
			}
			gotG, gotTxs, err := readPacs008(doc)
			if err != nil {
				t.Fatalf("read back: %v", err)
			}
			if want := normalGroup(g); gotG != want {
				t.Errorf("group read back\n got %+v\nwant %+v", gotG, want)
			}
			if !reflect.DeepEqual(gotTxs, c.txs) {
				t.Errorf("transactions read back differ")
			}
		})
	}
}

// TestPacs008Golden pins the exact bytes of a small file (go test -update
// rewrites it after an intended change).
func TestPacs008Golden(t *testing.T) {
	t.Parallel()
	txs := many(2)
	txs[1].Remittance = ""
	txs[1].CreditorAgent = "ICBKCNBJSHI"
	doc := write(t, sampleGroup(txs), txs)
	const golden = "testdata/pacs.008.001.08.golden.xml"
	if *update {
		if err := os.WriteFile(golden, doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(doc, want) {
		t.Errorf("output differs from %s (go test -run Golden -update to accept):\n%s", golden, doc)
	}
	validate(t, pacs008XSD, want)
}

// TestPacs008Deterministic writes the same input twice.
func TestPacs008Deterministic(t *testing.T) {
	t.Parallel()
	txs := many(300)
	g := sampleGroup(txs)
	a, b := write(t, g, txs), write(t, g, txs)
	if !bytes.Equal(a, b) {
		t.Fatal("two writes of the same input differ")
	}
	g.CreatedAt = g.CreatedAt.Add(500 * time.Millisecond) // below the written precision
	if c := write(t, g, txs); !bytes.Equal(a, c) {
		t.Fatal("sub-second creation time changed the output")
	}
}

// TestPacs008Mismatch refuses transactions that disagree with the group.
func TestPacs008Mismatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		group func(*Group)
		txs   []Transaction
		want  string
	}{
		{"fewer transactions", func(g *Group) { g.Count = 4; g.ControlSumMinor += 7 }, many(3), "3 transactions, the group says 4"},
		{"more transactions", func(g *Group) { g.Count = 2 }, many(3), "more than the group's 2 transactions"},
		{"control sum too high", func(g *Group) { g.ControlSumMinor++ }, many(3), "amounts sum to 0.09, the group says 0.10"},
		{"control sum too low", func(g *Group) { g.ControlSumMinor-- }, many(3), "amounts exceed the control sum 0.08"},
		{"other currency", nil, append(many(1), with(func(tx *Transaction) { tx.Currency = "USD" })...), `transaction 2 (end-to-end id "PO-2026-00000001"): currency "USD" in a CNY file`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := sampleGroup(c.txs)
			g.Currency = "CNY"
			if c.group != nil {
				c.group(&g)
			}
			err := Pacs008().Write(new(bytes.Buffer), g, slice(c.txs))
			if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrMismatch with %q", err, c.want)
			}
		})
	}
	t.Run("source error", func(t *testing.T) {
		boom := errors.New("database gone")
		err := Pacs008().Write(new(bytes.Buffer), sampleGroup(many(1)), func() (Transaction, bool, error) {
			return Transaction{}, false, boom
		})
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "reading transaction 1") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestPacs008InvalidFields refuses what the XSD or XML cannot hold.
func TestPacs008InvalidFields(t *testing.T) {
	t.Parallel()
	txCases := []struct {
		name string
		f    func(*Transaction)
		want string
	}{
		{"no end-to-end id", func(tx *Transaction) { tx.EndToEndID = "" }, "end-to-end id is empty"},
		{"id too long", func(tx *Transaction) { tx.TransactionID = strings.Repeat("x", 36) }, "transaction id is 36 characters, at most 35"},
		{"name too long", func(tx *Transaction) { tx.CreditorName = strings.Repeat("汇", 141) }, "creditor name is 141 characters, at most 140"},
		{"account too long", func(tx *Transaction) { tx.DebtorAccount = strings.Repeat("1", 35) }, "debtor account is 35 characters"},
		{"remittance too long", func(tx *Transaction) { tx.Remittance = strings.Repeat("r", 141) }, "remittance is 141 characters"},
		{"control character", func(tx *Transaction) { tx.DebtorName = "ACME\x01" }, "debtor name contains U+0001"},
		{"NUL", func(tx *Transaction) { tx.Remittance = "a\x00b" }, "remittance contains U+0000"},
		{"U+FFFE", func(tx *Transaction) { tx.CreditorName = "a\uFFFE" }, "contains U+FFFE"},
		{"invalid UTF-8", func(tx *Transaction) { tx.CreditorName = "caf\xe9" }, "creditor name is not valid UTF-8"},
		{"short BIC", func(tx *Transaction) { tx.CreditorAgent = "BKCHCN" }, `creditor agent "BKCHCN" is neither`},
		{"lowercase BIC", func(tx *Transaction) { tx.DebtorAgent = "bkchcnbj" }, "debtor agent"},
		{"11-digit CNAPS", func(tx *Transaction) { tx.DebtorAgent = "10410000000" }, "debtor agent"},
		{"no agent", func(tx *Transaction) { tx.CreditorAgent = "" }, "creditor agent"},
		{"zero amount", func(tx *Transaction) { tx.AmountMinor = 0 }, "amount is 0 minor units"},
		{"negative amount", func(tx *Transaction) { tx.AmountMinor = -5 }, "amount is -5"},
		{"amount too large", func(tx *Transaction) { tx.AmountMinor = payment.MaxAmountMinor + 1 }, "amount is 1000000000000000"},
	}
	for _, c := range txCases {
		t.Run(c.name, func(t *testing.T) {
			txs := append(many(1), with(c.f)...)
			g := sampleGroup(many(2))
			err := Pacs008().Write(new(bytes.Buffer), g, slice(txs))
			if !errors.Is(err, ErrInvalidField) || !strings.Contains(err.Error(), c.want) ||
				!strings.Contains(err.Error(), "transaction 2 (end-to-end id") {
				t.Fatalf("got %v, want ErrInvalidField with %q", err, c.want)
			}
		})
	}
	groupCases := []struct {
		name string
		f    func(*Group)
		want string
	}{
		{"no message id", func(g *Group) { g.MessageID = "" }, "message id is empty"},
		{"message id too long", func(g *Group) { g.MessageID = strings.Repeat("M", 36) }, "message id is 36 characters"},
		{"no creation time", func(g *Group) { g.CreatedAt = time.Time{} }, "creation time is missing"},
		{"year 10000", func(g *Group) { g.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "year 10000"},
		{"no settlement date", func(g *Group) { g.SettlementDate = time.Time{} }, "settlement date is missing"},
		{"unknown currency", func(g *Group) { g.Currency = "XXX" }, `currency "XXX" is not an active ISO 4217 code`},
		{"lowercase currency", func(g *Group) { g.Currency = "cny" }, `currency "cny"`},
		{"no transactions", func(g *Group) { g.Count = 0 }, "count is 0"},
		{"zero control sum", func(g *Group) { g.ControlSumMinor = 0 }, "control sum is 0"},
		{"control sum over 18 digits", func(g *Group) { g.ControlSumMinor = MaxControlSumMinor + 1 }, "control sum is 1000000000000000000"},
		{"bad instructing agent", func(g *Group) { g.InstructingAgent = "CNAPS" }, "instructing agent"},
		{"bad instructed agent", func(g *Group) { g.InstructedAgent = "12345678901X" }, "instructed agent"},
	}
	for _, c := range groupCases {
		t.Run(c.name, func(t *testing.T) {
			g := sampleGroup(many(1))
			c.f(&g)
			var buf bytes.Buffer
			err := Pacs008().Write(&buf, g, slice(many(1)))
			if !errors.Is(err, ErrInvalidField) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrInvalidField with %q", err, c.want)
			}
			if buf.Len() != 0 {
				t.Errorf("an invalid group wrote %d bytes", buf.Len())
			}
		})
	}
}

// TestPacs008Names checks the constants a caller files by.
func TestPacs008Names(t *testing.T) {
	t.Parallel()
	f := Pacs008()
	if f.Name() != "pacs.008.001.08" || f.Extension() != ".xml" {
		t.Fatalf("got %q %q", f.Name(), f.Extension())
	}
}
