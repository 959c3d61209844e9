package bench

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// The registry the benchmark's requests name: the parties of
// payment/testdata/request-valid.json, so every message has the size and
// shape of a real request.
const (
	CustomerID    = "CUST-310115000123"
	CustomerName  = "上海华东机电设备有限公司"
	Applicant     = "zhang.wei"
	BankID        = "104100000004"
	DebtorAccount = "340058712345"
	Upstream      = "erp"
)

// RequestBody is the body of the run's i-th request: request-valid.json
// with its own request id and order reference and today's date in loc.
func RequestBody(run string, i int, loc *time.Location) []byte {
	return RequestBodyBy(run, i, Applicant, loc)
}

// RequestBodyBy is RequestBody with another applicant.
func RequestBodyBy(run string, i int, applicant string, loc *time.Location) []byte {
	b, err := json.MarshalIndent(payment.Request{
		SchemaVersion: 1, RequestID: RequestID(run, i), OrderRef: fmt.Sprintf("PO-%s-%07d", run, i),
		CustomerID: CustomerID, Applicant: applicant, BankID: BankID, DebtorAccount: DebtorAccount,
		Creditor: payment.Creditor{Name: CustomerName, Account: "31001520313050012345", BankID: "105290036005"},
		Amount:   "1286400.50", Currency: "CNY", Remittance: "采购合同 HT-2026-0215 第二期货款",
		ExecutionDate: time.Now().In(loc).Format(time.DateOnly),
	}, "", "  ")
	if err != nil {
		panic(err) // only strings and an int
	}
	return b
}

// RequestID is the run's i-th request id.
func RequestID(run string, i int) string { return fmt.Sprintf("erp-%s-%07d", run, i) }
