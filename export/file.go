package export

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
)

// Manifest describes a delivered file; it sits beside the file as
// <file>.manifest.json.
type Manifest struct {
	BatchID        string    `json:"batch_id"`
	File           string    `json:"file"`
	Format         string    `json:"format"`
	Count          int       `json:"count"`
	ControlSum     string    `json:"control_sum"`
	Currency       string    `json:"currency"`
	DebtorBankID   string    `json:"debtor_bank_id"`
	SettlementDate string    `json:"settlement_date"`
	SHA256         string    `json:"sha256"`
	CreatedAt      time.Time `json:"created_at"`
}

// writeBatch streams a batch's file into dir under a temporary name,
// fsyncs it, renames it into place, and does the same for its manifest. It
// returns the file's SHA-256. The content depends only on the batch, so
// writing it again gives the same bytes. When want is set, a file whose
// SHA-256 differs is refused before it replaces anything in dir.
func (x *Exporter) writeBatch(ctx context.Context, b postgres.Batch, dir, want string) (string, error) {
	g := iso20022.Group{
		MessageID: b.ID, CreatedAt: b.CreatedAt, SettlementDate: b.SettlementDate, Currency: b.Currency,
		Count: b.Count, ControlSumMinor: b.ControlSumMinor,
		InstructingAgent: x.cfg.InstructingAgent, InstructedAgent: x.cfg.InstructedAgent,
	}
	h := sha256.New()
	err := atomicWrite(filepath.Join(dir, b.FileName), func(w io.Writer) error {
		if err := x.streamBatch(ctx, b, g, io.MultiWriter(w, h)); err != nil {
			return err
		}
		if sum := hex.EncodeToString(h.Sum(nil)); want != "" && sum != want {
			return fmt.Errorf("batch %s: the file written again has SHA-256 %s, not %s as delivered", b.ID, sum, want)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	m := Manifest{
		BatchID: b.ID, File: b.FileName, Format: b.Format, Count: b.Count,
		ControlSum: payment.FormatAmount(b.ControlSumMinor, b.Currency), Currency: b.Currency, DebtorBankID: b.DebtorBankID,
		SettlementDate: b.SettlementDate.Format(payment.DateLayout), SHA256: sum, CreatedAt: b.CreatedAt.UTC(),
	}
	err = atomicWrite(filepath.Join(dir, b.FileName+".manifest.json"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	})
	return sum, err
}

// streamBatch feeds the batch's payments from the store to the format,
// one at a time.
func (x *Exporter) streamBatch(ctx context.Context, b postgres.Batch, g iso20022.Group, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items := make(chan postgres.BatchItem, 512)
	read := make(chan error, 1)
	go func() {
		defer close(items)
		read <- x.store.BatchItems(ctx, b.ID, func(it postgres.BatchItem) error {
			select {
			case items <- it:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	next := func() (iso20022.Transaction, bool, error) {
		it, ok := <-items
		if !ok {
			return iso20022.Transaction{}, false, <-read
		}
		return transaction(b, it), true, nil
	}
	err := x.cfg.Format.Write(w, g, next)
	cancel()
	for range items { //nolint:revive // drain so the reader can stop
	}
	return err
}

// transaction maps a stored payment to a file's transaction.
func transaction(b postgres.Batch, it postgres.BatchItem) iso20022.Transaction {
	p := it.Payment
	return iso20022.Transaction{
		InstructionID: fmt.Sprintf("%s-%06d", b.ID, it.Seq),
		EndToEndID:    p.OrderRef,
		TransactionID: strings.ReplaceAll(p.ID, "-", ""),
		AmountMinor:   p.AmountMinor, Currency: p.Currency,
		DebtorName: it.DebtorName, DebtorAccount: p.DebtorAccount, DebtorAgent: p.BankID,
		CreditorName: p.Creditor.Name, CreditorAccount: p.Creditor.Account, CreditorAgent: p.Creditor.BankID,
		Remittance: p.Remittance,
	}
}

// atomicWrite writes a file under a temporary name in the same directory,
// fsyncs it, renames it over path and fsyncs the directory: readers see the
// old file or the whole new one, never part of one.
func atomicWrite(path string, fill func(io.Writer) error) (err error) {
	var r [6]byte
	_, _ = rand.Read(r[:])
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-"+hex.EncodeToString(r[:]))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 256<<10)
	if err = fill(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
