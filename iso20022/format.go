package iso20022

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// ErrInvalidField marks a group or transaction field that cannot be written:
// missing, too long, not valid XML text, an unknown currency, a bank id that
// is neither a CNAPS code nor a BIC, an amount out of range.
var ErrInvalidField = errors.New("invalid field")

// ErrMismatch marks transactions that do not match their group header: a
// different count, control sum or currency.
var ErrMismatch = errors.New("transactions do not match the group header")

// MaxControlSumMinor bounds a file's control sum in minor units (10^18 - 1):
// ISO 20022 amounts and decimal numbers have at most 18 digits.
const MaxControlSumMinor int64 = 999_999_999_999_999_999

// Group is what a file's group header says. The transactions a Format
// writes must add up to it.
type Group struct {
	// MessageID identifies the file (the batch id): unique per file, 1-35
	// characters.
	MessageID string
	// CreatedAt is when the file was made. It is written in UTC with
	// seconds precision and an explicit offset: 2026-11-27T09:30:00+00:00.
	CreatedAt time.Time
	// SettlementDate is the interbank settlement date. Only its calendar
	// date in its own location counts: 2026-03-12 in Asia/Shanghai is
	// written 2026-03-12.
	SettlementDate time.Time
	// Currency is the ISO 4217 code of every transaction in the file.
	Currency string
	// Count is the number of transactions, at least 1.
	Count int
	// ControlSumMinor is the sum of the transactions' amounts in minor
	// units, at most MaxControlSumMinor.
	ControlSumMinor int64
	// InstructingAgent and InstructedAgent are the sending and receiving
	// banks: a 12-digit CNAPS code or a BIC. Either may be empty.
	InstructingAgent, InstructedAgent string
}

// Transaction is one payment in a file.
type Transaction struct {
	// InstructionID, EndToEndID and TransactionID are 1-35 characters.
	// EndToEndID is the order reference and is required; the other two are
	// left out of the file when empty.
	InstructionID, EndToEndID, TransactionID string
	// AmountMinor is the amount in minor units of Currency, from 1 to
	// payment.MaxAmountMinor.
	AmountMinor int64
	// Currency must be the group's currency.
	Currency string
	// DebtorName (1-140 characters), DebtorAccount (1-34) and DebtorAgent
	// (a CNAPS code or a BIC) identify the payer.
	DebtorName, DebtorAccount, DebtorAgent string
	// CreditorName, CreditorAccount and CreditorAgent identify the payee,
	// with the same limits.
	CreditorName, CreditorAccount, CreditorAgent string
	// Remittance is unstructured remittance information, 0-140 characters;
	// empty leaves it out.
	Remittance string
}

// Format writes files of one standard. Implementations are stateless and
// safe for concurrent use.
type Format interface {
	// Name is the message identifier, e.g. "pacs.008.001.08".
	Name() string
	// Extension is the file name extension, e.g. ".xml".
	Extension() string
	// Write streams a whole file to w: the header, then every transaction
	// next yields (until it returns false or an error), then the end.
	// Memory does not grow with the number of transactions, and the same
	// group and transactions give byte-identical output. It returns an
	// error wrapping ErrInvalidField for a field it cannot write and
	// ErrMismatch when the transactions do not match the group (count,
	// control sum, currency). After an error the output is incomplete and
	// must be discarded: write to a temporary file and rename on success.
	Write(w io.Writer, g Group, next func() (Transaction, bool, error)) error
}

// fieldError wraps ErrInvalidField with the field's name.
func fieldError(field, format string, args ...any) error {
	return fmt.Errorf("%s %s: %w", field, fmt.Sprintf(format, args...), ErrInvalidField)
}

// checkGroup validates a group header before anything is written.
func checkGroup(g Group) error {
	if err := checkText("message id", g.MessageID, 35); err != nil {
		return err
	}
	if err := checkTime("creation time", g.CreatedAt); err != nil {
		return err
	}
	if err := checkTime("settlement date", g.SettlementDate); err != nil {
		return err
	}
	if _, err := exponent(g.Currency); err != nil {
		return err
	}
	if g.Count < 1 {
		return fieldError("count", "is %d, a file holds at least 1 transaction", g.Count)
	}
	if g.ControlSumMinor < 1 || g.ControlSumMinor > MaxControlSumMinor {
		return fieldError("control sum", "is %d minor units, want 1 to %d", g.ControlSumMinor, MaxControlSumMinor)
	}
	for _, a := range []struct{ field, id string }{
		{"instructing agent", g.InstructingAgent},
		{"instructed agent", g.InstructedAgent},
	} {
		if a.id != "" {
			if _, err := checkAgent(a.field, a.id); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkTransaction validates one transaction against its group's currency.
func checkTransaction(tx Transaction, currency string) error {
	if tx.Currency != currency {
		return fmt.Errorf("currency %q in a %s file: %w", payment.Clip(tx.Currency, 8), currency, ErrMismatch)
	}
	if tx.AmountMinor < 1 || tx.AmountMinor > payment.MaxAmountMinor {
		return fieldError("amount", "is %d minor units, want 1 to %d", tx.AmountMinor, payment.MaxAmountMinor)
	}
	texts := []struct {
		field, s string
		max      int
		optional bool
	}{
		{"instruction id", tx.InstructionID, 35, true},
		{"end-to-end id", tx.EndToEndID, 35, false},
		{"transaction id", tx.TransactionID, 35, true},
		{"debtor name", tx.DebtorName, 140, false},
		{"debtor account", tx.DebtorAccount, 34, false},
		{"creditor name", tx.CreditorName, 140, false},
		{"creditor account", tx.CreditorAccount, 34, false},
		{"remittance", tx.Remittance, 140, true},
	}
	for _, f := range texts {
		if f.optional && f.s == "" {
			continue
		}
		if err := checkText(f.field, f.s, f.max); err != nil {
			return err
		}
	}
	if _, err := checkAgent("debtor agent", tx.DebtorAgent); err != nil {
		return err
	}
	_, err := checkAgent("creditor agent", tx.CreditorAgent)
	return err
}

// exponent returns the minor-unit digits of an ISO 4217 currency.
func exponent(currency string) (int, error) {
	e, ok := payment.CurrencyExponent(currency)
	if !ok {
		return 0, fieldError("currency", "%q is not an active ISO 4217 code", payment.Clip(currency, 8))
	}
	return e, nil
}
