package bench

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/b2bpay/b2bpay/iso20022"
)

// fileTx is the transaction the file measures write, shaped like the
// benchmark's requests, with ids derived from i.
func fileTx(i int) iso20022.Transaction {
	return iso20022.Transaction{
		InstructionID: fmt.Sprintf("B2B-%010d", i), EndToEndID: fmt.Sprintf("PO-bench-%010d", i), TransactionID: fmt.Sprintf("%032x", i),
		AmountMinor: 128640050, Currency: "CNY",
		DebtorName: CustomerName, DebtorAccount: DebtorAccount, DebtorAgent: BankID,
		CreditorName: CustomerName, CreditorAccount: "31001520313050012345", CreditorAgent: "105290036005",
		Remittance: "采购合同 HT-2026-0215 第二期货款",
	}
}

// fileTxs returns fileTx(1) to fileTx(k): one file's transactions, made
// before a measure starts so that it times the writer and not the
// benchmark's fmt.Sprintf of the ids (three a transaction).
func fileTxs(k int) []iso20022.Transaction {
	txs := make([]iso20022.Transaction, k)
	for i := range txs {
		txs[i] = fileTx(i + 1)
	}
	return txs
}

// writeSynced writes one file as the exporter does: through a buffer and
// SHA-256, synced, renamed into place.
func writeSynced(dir, name string, fill func(io.Writer) error) error {
	tmp := filepath.Join(dir, ".tmp-"+name)
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 256<<10)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	_ = h.Sum(nil)
	return os.Rename(tmp, filepath.Join(dir, name))
}

// files splits n into files of at most perFile.
func files(n, perFile int) []int {
	var out []int
	for n > 0 {
		k := min(n, perFile)
		out = append(out, k)
		n -= k
	}
	return out
}

// FileWrite is the baseline of the export writer: the same bytes a
// pacs.008 file of n transactions has, copied from memory into files of
// perFile transactions' worth, each checksummed, synced and renamed.
func FileWrite(dir string, n, perFile int) (Result, error) {
	// One transaction's share of a file, measured on a file of 1,000.
	var sample countWriter
	if err := pacs008(&sample, 0, fileTxs(1000)); err != nil {
		return Result{}, err
	}
	chunk := make([]byte, sample.n/1000)
	for i := range chunk {
		chunk[i] = 'x'
	}
	m := Start()
	for f, k := range files(n, perFile) {
		err := writeSynced(dir, fmt.Sprintf("baseline-%06d.xml", f), func(w io.Writer) error {
			for range k {
				if _, err := w.Write(chunk); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return Result{}, err
		}
	}
	r := m.Stop("baseline/file-write", n)
	r.LatencyOf = "-"
	return r, nil
}

// ExportWrite is the export writer alone, without the database: n
// transactions written as pacs.008 files of perFile, checksummed, synced
// and renamed.
//
// The transactions are made before the clock starts, so the stage
// measures the writer and not the making of its input (the ids'
// fmt.Sprintf cost about as much as the writer): one file's worth,
// perFile transactions with distinct ids, written into every file under
// that file's own message id. Memory stays that of one file's
// transactions whatever n is.
func ExportWrite(dir string, n, perFile int) (Result, error) {
	txs := fileTxs(min(n, perFile))
	m := Start()
	first := 0
	for f, k := range files(n, perFile) {
		err := writeSynced(dir, fmt.Sprintf("pacs008-%06d.xml", f), func(w io.Writer) error { return pacs008(w, first, txs[:k]) })
		if err != nil {
			return Result{}, err
		}
		first += k
	}
	r := m.Stop(fmt.Sprintf("export-write/%d", n), n)
	r.LatencyOf = "-"
	return r, nil
}

// pacs008 writes txs as the file of the transactions from first (which
// names it).
func pacs008(w io.Writer, first int, txs []iso20022.Transaction) error {
	at := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	var sum int64
	for _, tx := range txs {
		sum += tx.AmountMinor
	}
	g := iso20022.Group{MessageID: fmt.Sprintf("B2B-BENCH-%d", first), CreatedAt: at, SettlementDate: at, Currency: "CNY",
		Count: len(txs), ControlSumMinor: sum, InstructingAgent: BankID, InstructedAgent: "105290036005"}
	i := 0
	return iso20022.Pacs008().Write(w, g, func() (iso20022.Transaction, bool, error) {
		if i == len(txs) {
			return iso20022.Transaction{}, false, nil
		}
		i++
		return txs[i-1], true, nil
	})
}

type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }
