package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
)

// The exporter claims, writes and settles through this store.
var (
	_ export.Store       = (*Store)(nil)
	_ export.ReportStore = (*Store)(nil)
)

// claimChunk is how many payments are moved to exported per round trip.
const claimChunk = 2000

// CutoffClaimBatches claims, in one transaction, every authorized payment
// that was authorized before the cutoff (one authorized at its very instant
// makes the next, as calendar.Schedule.Next tells the authorizer) and may
// be executed by the settlement date: it records the cutoff run (the
// unique cutoff time decides which process runs it), groups the payments
// by debtor bank, currency and settlement date into batches of at most
// MaxPerFile, moves each to exported with a timeline entry naming its batch
// and file, and writes their status events. It returns the new batches
// (none when nothing was due) or export.ErrCutoffTaken.
func (s *Store) CutoffClaimBatches(ctx context.Context, c export.CutoffClaim) ([]export.Batch, error) {
	if c.MaxPerFile <= 0 || c.FileName == nil || c.Format == "" {
		return nil, errors.New("postgres: cutoff claim needs MaxPerFile, FileName and Format")
	}
	if s.cfg.Seal == nil {
		return nil, errNoSeal
	}
	if c.Kind == "" {
		c.Kind = export.CutoffScheduled
	}
	loc := c.Location
	if loc == nil {
		loc = s.cfg.Location
	}
	var batches []export.Batch
	var held []export.Held
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		batches, held = nil, nil
		now := s.cfg.Now().UTC().Truncate(time.Microsecond)
		var runID int64
		err := tx.QueryRow(ctx, `INSERT INTO cutoff_runs (cutoff_at, started_at, runner, kind) VALUES ($1, $2, $3, $4)
			ON CONFLICT (cutoff_at) DO NOTHING RETURNING id`, c.CutoffAt, now, c.Runner, c.Kind).Scan(&runID)
		if errors.Is(err, pgx.ErrNoRows) {
			return export.ErrCutoffTaken
		}
		if err != nil {
			return fmt.Errorf("record cutoff run: %w", err)
		}
		if err := claimDueTx(ctx, tx, c); err != nil {
			return err
		}
		// Every payment's approvals are checked as it is moved; when one
		// does not check, all that was cut and moved is undone, the claim
		// re-checked whole (its failures held and taken out), and the rest
		// cut into files again. Nothing can change meanwhile: the claim
		// holds its payments' locks.
		if _, err := tx.Exec(ctx, `SAVEPOINT claim_files`); err != nil {
			return err
		}
		var moved int
		batches, moved, err = s.fileClaimExportTx(ctx, tx, c, runID, now, loc)
		if errors.Is(err, errApprovalMismatch) {
			if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT claim_files`); err != nil {
				return err
			}
			if held, err = s.recheckClaimTx(ctx, tx, now); err != nil {
				return err
			}
			batches, moved, err = s.fileClaimExportTx(ctx, tx, c, runID, now, loc)
		}
		if err != nil || len(batches) == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE cutoff_runs SET batches = $2, payments = $3 WHERE id = $1`, runID, len(batches), moved)
		return err
	})
	if err == nil && len(held) > 0 && c.OnHeld != nil {
		c.OnHeld(held)
	}
	return batches, err
}

// MaxControlSumMinor is the largest control sum of one file, in minor
// units: pacs.008's CtrlSum has at most 18 digits, whatever the currency's
// decimals.
const MaxControlSumMinor int64 = 999_999_999_999_999_999

// chunkSum is the control-sum span of a chunk: a chunk holds the payments
// whose running sum falls in (k·chunkSum, (k+1)·chunkSum], so its sum is
// below chunkSum plus one payment, at most MaxControlSumMinor.
const chunkSum = MaxControlSumMinor - payment.MaxAmountMinor

// claimDueTx locks the due payments (those another transaction holds are
// left to the next run) and lists them in the temporary table claim,
// dropped at commit, which it analyzes so that the statements after it
// are planned for its real size.
func claimDueTx(ctx context.Context, tx pgx.Tx, c export.CutoffClaim) error {
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE claim (id uuid PRIMARY KEY, bank_id text, currency text,
		amount_minor bigint, customer_id text) ON COMMIT DROP`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO claim SELECT id, bank_id, currency, amount_minor, customer_id FROM payments
		WHERE state = 'authorized' AND updated_at < $1 AND execution_date <= $2
		FOR UPDATE SKIP LOCKED`, c.CutoffAt, c.SettlementDate); err != nil {
		return fmt.Errorf("claim payments: %w", err)
	}
	if _, err := tx.Exec(ctx, `ANALYZE claim`); err != nil {
		return fmt.Errorf("analyze the claim: %w", err)
	}
	return nil
}

// errApprovalMismatch stops a claim's export pass at a payment whose
// approvals do not check (the claim is then re-checked whole).
var errApprovalMismatch = errors.New("a claimed payment's approvals do not check")

// fileClaimExportTx cuts the claim into files, creates their batches and
// moves their payments to exported, checking each payment's approvals.
func (s *Store) fileClaimExportTx(ctx context.Context, tx pgx.Tx, c export.CutoffClaim, runID int64, now time.Time, loc *time.Location) ([]export.Batch, int, error) {
	files, err := fileClaimTx(ctx, tx, c.MaxPerFile)
	if err != nil || len(files) == 0 {
		return nil, 0, err
	}
	batches, err := createBatchesTx(ctx, tx, c, runID, now, loc, files)
	if err != nil {
		return nil, 0, err
	}
	moved, err := s.exportPaymentsTx(ctx, tx, c, files, batches, now)
	return batches, moved, err
}

// claimFile is one file's share of the claim: a chunk of one (bank,
// currency) run of payments.
type claimFile struct {
	bank, currency  string
	chunk           int64
	count           int
	controlSumMinor int64
}

// fileClaimTx cuts each (bank, currency) run of the claim, in payment
// order, into chunks of at most maxPerFile payments and at most
// MaxControlSumMinor in sum (a day of large payments would otherwise make a
// file no clearing system reads), and numbers each chunk's payments from 1,
// into the temporary table claim_file (indexed in file order). It returns
// the files, in (bank, currency, chunk) order.
func fileClaimTx(ctx context.Context, tx pgx.Tx, maxPerFile int) ([]claimFile, error) {
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE claim_file ON COMMIT DROP AS
		SELECT id, bank_id, currency, customer_id, amount_minor, chunk,
			row_number() OVER (PARTITION BY bank_id, currency, chunk ORDER BY id) AS seq FROM (
			SELECT id, bank_id, currency, customer_id, amount_minor,
				dense_rank() OVER (PARTITION BY bank_id, currency ORDER BY by_count, by_sum) - 1 AS chunk FROM (
				SELECT id, bank_id, currency, customer_id, amount_minor,
					(row_number() OVER w - 1) / $1 AS by_count,
					floor((sum(amount_minor::numeric) OVER w - 1) / $2) AS by_sum
				FROM claim WINDOW w AS (PARTITION BY bank_id, currency ORDER BY id)) counted) ranked`,
		maxPerFile, chunkSum); err != nil {
		return nil, fmt.Errorf("cut the claim into files: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE UNIQUE INDEX ON claim_file (bank_id, currency, chunk, seq)`); err != nil {
		return nil, fmt.Errorf("index the claim's files: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT bank_id, currency, chunk, count(*), sum(amount_minor)
		FROM claim_file GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`)
	if err != nil {
		return nil, fmt.Errorf("list the claim's files: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (claimFile, error) {
		var f claimFile
		err := row.Scan(&f.bank, &f.currency, &f.chunk, &f.count, &f.controlSumMinor)
		return f, err
	})
}

// createBatchesTx makes one batch per file of the claim.
func createBatchesTx(ctx context.Context, tx pgx.Tx, c export.CutoffClaim, runID int64, now time.Time, loc *time.Location, files []claimFile) ([]export.Batch, error) {
	batches := make([]export.Batch, len(files))
	prefix := "B" + c.CutoffAt.In(loc).Format("20060102150405")
	for i, f := range files {
		b := &batches[i]
		b.ID = fmt.Sprintf("%s-%04d", prefix, i+1)
		b.CutoffAt, b.DebtorBankID, b.Currency, b.SettlementDate = c.CutoffAt, f.bank, f.currency, c.SettlementDate
		b.Count, b.ControlSumMinor = f.count, f.controlSumMinor
		b.Format, b.FileName, b.State, b.CreatedAt, b.Dir = c.Format, c.FileName(b.ID), "claimed", now, c.Dir
		if _, err := tx.Exec(ctx, `INSERT INTO batches (id, cutoff_run_id, debtor_bank_id, currency, settlement_date, format,
			file_name, count, control_sum_minor, state, created_at, outbound_dir) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'claimed', $10, NULLIF($11, ''))`,
			b.ID, runID, b.DebtorBankID, b.Currency, b.SettlementDate, b.Format, b.FileName, b.Count, b.ControlSumMinor, b.CreatedAt, b.Dir); err != nil {
			return nil, fmt.Errorf("create batch %s: %w", b.ID, err)
		}
	}
	return batches, nil
}

// exportPaymentsTx moves the claimed payments to exported, a batch at a
// time and claimChunk payments a round trip, in file order, each with its
// approvals checked (errApprovalMismatch at the first that fails): each
// chunk is read, with the payments' decisions, by the claim_file index (so a chunk costs the same at the end of a
// large claim as at its start), then the payments are updated, their
// timeline entries (naming batch and file), status events and batch rows
// written, the last three with COPY.
func (s *Store) exportPaymentsTx(ctx context.Context, tx pgx.Tx, c export.CutoffClaim, files []claimFile, batches []export.Batch, now time.Time) (int, error) {
	moved := 0
	for i, f := range files {
		b := batches[i]
		note := "batch " + b.ID + ", file " + c.FileName(b.ID)
		for after := int64(0); ; {
			rows, err := tx.Query(ctx, `SELECT `+prefixed("p.", paymentColumns)+`, cf.seq, cu.name, `+decidedColumns+`
				FROM claim_file cf JOIN payments p ON p.id = cf.id JOIN customers cu ON cu.id = cf.customer_id `+decidedJoin+`
				WHERE cf.bank_id = $1 AND cf.currency = $2 AND cf.chunk = $3 AND cf.seq > $4
				ORDER BY cf.seq LIMIT $5`, f.bank, f.currency, f.chunk, after, claimChunk)
			if err != nil {
				return moved, fmt.Errorf("read batch %s: %w", b.ID, err)
			}
			var ps []*payment.Payment
			var items [][]any
			var d decided
			err = collect(rows, "batch "+b.ID, func(row pgx.CollectableRow) error {
				var seq int64
				var debtor string
				p, err := scanPaymentExtra(row, append([]any{&seq, &debtor}, d.dest()...)...)
				if err != nil {
					return err
				}
				if len(s.cfg.Seal.CheckApprovals(p, d.stored())) > 0 {
					return fmt.Errorf("payment %s: %w", p.ID, errApprovalMismatch)
				}
				ps = append(ps, p)
				items = append(items, []any{b.ID, int32(seq), copyUUID(p.ID), debtor})
				after = seq
				return nil
			})
			if err != nil {
				return moved, err
			}
			if len(ps) == 0 {
				break
			}
			if err := s.applyManyTx(ctx, tx, ps, now, func(int, *payment.Payment) (payment.Action, payment.Actor, string, payment.Code) {
				return payment.ActionExport, payment.Actor{Kind: payment.ActorSystem, ID: "export"}, note, ""
			}); err != nil {
				return moved, err
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"batch_payments"}, []string{"batch_id", "seq", "payment_id", "debtor_name"},
				pgx.CopyFromRows(items)); err != nil {
				return moved, fmt.Errorf("assign payments to batch %s: %w", b.ID, err)
			}
			moved += len(ps)
		}
	}
	return moved, nil
}

// applyManyTx applies one action to many payments: the domain moves each,
// then the payments, their timeline entries (COPY) and their status events
// (COPY into the outbox) are written in a few statements.
func (s *Store) applyManyTx(ctx context.Context, tx pgx.Tx, ps []*payment.Payment, now time.Time,
	move func(i int, p *payment.Payment) (payment.Action, payment.Actor, string, payment.Code)) error {
	ids := make([]string, len(ps))
	fromVersions := make([]int32, len(ps))
	fromStates := make([]string, len(ps))
	states := make([]string, len(ps))
	heads := make([][]byte, len(ps))
	entries := make([]payment.Entry, len(ps))
	digests := make([]string, len(ps))
	msgs := make([]outbox.Message, 0, len(ps))
	for i, p := range ps {
		ids[i], fromVersions[i], fromStates[i] = p.ID, int32(p.Version), string(p.State)
		action, actor, note, code := move(i, p)
		e, err := p.ApplyCoded(action, actor, now, note, code)
		if err != nil {
			return err
		}
		states[i], heads[i], entries[i], digests[i] = string(p.State), p.HeadHash, e, p.Digest()
		follow, err := s.changeMessages(p, e, 0)
		if err != nil {
			return err
		}
		msgs = append(msgs, follow...)
	}
	if err := paymentsUpdateTx(ctx, tx, now, ids, fromVersions, fromStates, states, heads); err != nil {
		return err
	}
	if err := s.timelineCopyTx(ctx, tx, entries, digests); err != nil {
		return err
	}
	return outboxCopyTx(ctx, tx, msgs, now)
}

// paymentsUpdateTx writes many payments' new states and head hashes in one
// statement, each guarded by the version and state it was read with (its
// version goes up by one): a row changed meanwhile fails the whole update.
func paymentsUpdateTx(ctx context.Context, tx pgx.Tx, now time.Time, ids []string, fromVersions []int32, fromStates, states []string, heads [][]byte) error {
	tag, err := tx.Exec(ctx, `UPDATE payments p SET state = u.state, version = p.version + 1, updated_at = $1, head_hash = u.head
		FROM unnest($2::uuid[], $3::int[], $4::text[], $5::text[], $6::bytea[]) AS u(id, from_version, from_state, state, head)
		WHERE p.id = u.id AND p.version = u.from_version AND p.state = u.from_state`,
		now, ids, fromVersions, fromStates, states, heads)
	if err != nil {
		return fmt.Errorf("update payments: %w", err)
	}
	if int(tag.RowsAffected()) != len(ids) {
		return payment.Errorf(payment.CodeConflict, "%d of %d payments changed meanwhile", len(ids)-int(tag.RowsAffected()), len(ids))
	}
	return nil
}

// BatchesClaimed lists the batches whose files are not known to be
// written: the work a crashed export left, oldest first.
func (s *Store) BatchesClaimed(ctx context.Context) ([]export.Batch, error) {
	return s.batchList(ctx, `WHERE b.state = 'claimed' ORDER BY b.created_at, b.id`)
}

// BatchList lists the most recent batches, newest first.
func (s *Store) BatchList(ctx context.Context, limit int) ([]export.Batch, error) {
	return s.batchList(ctx, `ORDER BY b.created_at DESC, b.id DESC LIMIT $1`, limit)
}

// BatchGet returns one batch.
func (s *Store) BatchGet(ctx context.Context, id string) (export.Batch, error) {
	bs, err := s.batchList(ctx, `WHERE b.id = $1`, id)
	if err != nil {
		return export.Batch{}, err
	}
	if len(bs) == 0 {
		return export.Batch{}, fmt.Errorf("batch %s: %w", id, payment.ErrNotFound)
	}
	return bs[0], nil
}

func (s *Store) batchList(ctx context.Context, tail string, args ...any) ([]export.Batch, error) {
	rows, err := s.pool.Query(ctx, `SELECT b.id, r.cutoff_at, b.debtor_bank_id, b.currency, b.settlement_date, b.format, b.file_name,
		b.count, b.control_sum_minor, b.state, coalesce(b.sha256, ''), b.created_at, b.written_at, coalesce(b.outbound_dir, ''),
		b.delivery_attempts, b.next_attempt_at, b.last_error, b.delivered_at, b.delivered_to, b.ack_status, b.ack_reason,
		b.acknowledged_at, coalesce(b.superseded_by, ''), coalesce(b.reissue_of, '')
		FROM batches b JOIN cutoff_runs r ON r.id = b.cutoff_run_id `+tail, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (export.Batch, error) {
		var b export.Batch
		d := &b.Delivery
		err := row.Scan(&b.ID, &b.CutoffAt, &b.DebtorBankID, &b.Currency, &b.SettlementDate, &b.Format, &b.FileName,
			&b.Count, &b.ControlSumMinor, &b.State, &b.SHA256, &b.CreatedAt, &b.WrittenAt, &b.Dir,
			&d.Attempts, &d.NextAttemptAt, &d.LastError, &d.DeliveredAt, &d.To, &d.AckStatus, &d.AckReason,
			&d.AcknowledgedAt, &d.SupersededBy, &d.ReissueOf)
		return b, err
	})
}

// BatchMarkWritten records that a batch's file is complete and renamed
// into place, with its SHA-256. Marking twice is harmless.
func (s *Store) BatchMarkWritten(ctx context.Context, id, sha256 string) error {
	_, err := s.pool.Exec(ctx, `UPDATE batches SET state = 'written', sha256 = $2, written_at = $3
		WHERE id = $1 AND state = 'claimed'`, id, sha256, s.cfg.Now().UTC())
	return err
}

// CutoffFinish records the end of every cutoff run whose batches are all
// written: the run just made, and any a crash left unfinished.
func (s *Store) CutoffFinish(ctx context.Context, cutoffAt time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE cutoff_runs r SET finished_at = $2
		WHERE r.cutoff_at <= $1 AND r.finished_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.cutoff_run_id = r.id AND b.state = 'claimed')`,
		cutoffAt, s.cfg.Now().UTC())
	return err
}

// CutoffLast returns the latest cutoff that was run (zero when none).
func (s *Store) CutoffLast(ctx context.Context) (time.Time, error) {
	var t *time.Time
	err := s.pool.QueryRow(ctx, `SELECT max(cutoff_at) FROM cutoff_runs`).Scan(&t)
	if err != nil || t == nil {
		return time.Time{}, err
	}
	return *t, nil
}

// BatchItems streams a batch's payments in file order to fn. Rows are read
// as they come, so memory does not grow with the batch. Each payment's
// content must still be what its export entry sealed at the claim
// (export.ErrContentChanged otherwise): a row changed between the claim and the
// file never reaches the file.
func (s *Store) BatchItems(ctx context.Context, batchID string, fn func(export.BatchItem) error) error {
	if s.cfg.Seal == nil {
		return errNoSeal
	}
	rows, err := s.pool.Query(ctx, `SELECT `+prefixed("p.", paymentColumns)+`, bp.seq, bp.debtor_name, `+prefixed("t.", exportEntryColumns)+`
		FROM batch_payments bp JOIN payments p ON p.id = bp.payment_id
		LEFT JOIN LATERAL (SELECT * FROM payment_timeline e WHERE e.payment_id = p.id AND e.action = 'export' LIMIT 1) t ON true
		WHERE bp.batch_id = $1 ORDER BY bp.seq`, batchID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var it export.BatchItem
		var e payment.Entry
		var seq *int
		var at *time.Time
		var kind, actor, action, from, to, code, note *string
		var step *int64
		p, err := scanPaymentExtra(rows, &it.Seq, &it.DebtorName,
			&seq, &at, &kind, &actor, &action, &from, &to, &code, &note, &e.PrevHash, &e.Hash, &step, &e.MAC)
		if err != nil {
			return err
		}
		if seq != nil && at != nil { // nil: no export entry, nothing checks
			e.Seq, e.At = *seq, *at
			if step != nil {
				e.OTPStep = *step
			}
			e.PaymentID, e.Actor = p.ID, payment.Actor{Kind: payment.ActorKind(deref(kind)), ID: deref(actor)}
			e.Action, e.From, e.To = payment.Action(deref(action)), payment.State(deref(from)), payment.State(deref(to))
			e.Code, e.Note = payment.Code(deref(code)), deref(note)
		}
		if !s.cfg.Seal.Sealed(p.Digest(), e) {
			return fmt.Errorf("batch %s, payment %s: %w", batchID, p.ID, export.ErrContentChanged)
		}
		it.Payment = p
		if err := fn(it); err != nil {
			return err
		}
	}
	return rows.Err()
}

// exportEntryColumns are the timeline columns BatchItems checks.
const exportEntryColumns = `seq, at, actor_kind, actor_id, action, from_state, to_state, code, note, prev_hash, hash, otp_step, mac`

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// prefixed qualifies each column of a comma-separated list.
func prefixed(prefix, columns string) string {
	var out []byte
	for _, c := range strings.Split(columns, ",") {
		if len(out) > 0 {
			out = append(out, ", "...)
		}
		out = append(out, prefix+strings.TrimSpace(c)...)
	}
	return string(out)
}

// scanPaymentExtra scans a payment followed by extra columns.
func scanPaymentExtra(row pgx.Row, extra ...any) (*payment.Payment, error) {
	var p payment.Payment
	var state string
	dest := []any{&p.ID, &p.UpstreamID, &p.RequestID, &p.OrderRef, &p.CustomerID, &p.ApplicantID, &p.BankID,
		&p.DebtorAccount, &p.Creditor.Name, &p.Creditor.Account, &p.Creditor.BankID, &p.AmountMinor, &p.Currency,
		&p.Remittance, &p.ExecutionDate, &state, &p.Version, &p.CreatedAt, &p.UpdatedAt, &p.RequiredAuthorizers, &p.HeadHash}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	p.State = payment.State(state)
	return &p, nil
}
