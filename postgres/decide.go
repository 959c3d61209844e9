package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/seal"
)

var _ approval.Store = (*Store)(nil)

// DecisionApply applies one person's decision in one transaction: the
// payment is locked, every check of the seed runs (payment.Decide), then
// the OTP where the stage needs one; the new state, the timeline entry,
// the decision row, the result, the status event and the next task are
// written together. A refused decision changes no payment: it is recorded
// with its reason, audited, and answered. A decision id seen before gets
// its first result again.
func (s *Store) DecisionApply(ctx context.Context, r approval.Decision) (approval.Result, error) {
	var res approval.Result
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		res, err = s.decisionApplyTx(ctx, tx, r)
		return err
	})
	return res, err
}

func (s *Store) decisionApplyTx(ctx context.Context, tx pgx.Tx, r approval.Decision) (approval.Result, error) {
	now := s.cfg.Now().UTC()
	if prev, ok, err := s.repeatTx(ctx, tx, r, nil); err != nil || ok {
		return prev, err
	}
	refuse := func(refusal error) (approval.Result, error) {
		return s.refuseDecisionTx(ctx, tx, r, refusal, nil)
	}
	if validUUIDOrEmpty(r.PaymentID) == "" {
		// Not a payment id at all: refused, rather than a SQL error retried
		// until the broker dead-letters the message.
		return refuse(paymentNotFound(r.PaymentID))
	}
	p, err := scanPayment(tx.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1 FOR UPDATE`, r.PaymentID))
	if errors.Is(err, pgx.ErrNoRows) {
		return refuse(paymentNotFound(r.PaymentID))
	}
	if err != nil {
		return approval.Result{}, fmt.Errorf("lock payment %s: %w", r.PaymentID, err)
	}
	actor, err := userTx(ctx, tx, r.UserID)
	if errors.Is(err, payment.ErrNotFound) {
		return refuse(payment.Errorf(payment.CodeTokenInvalid, "user %s no longer exists", r.UserID))
	}
	if err != nil {
		return approval.Result{}, err
	}
	if actor.CustomerID != p.CustomerID {
		// Another customer's payment does not exist for this person, as
		// over HTTP: nothing of its state or its people is told.
		return refuse(paymentNotFound(r.PaymentID))
	}
	before := *p
	var entry payment.Entry
	if r.Verdict == approval.Cancel {
		entry, err = p.Cancel(payment.Actor{Kind: payment.ActorUser, ID: actor.ID}, r.Reason, now)
	} else {
		var facts payment.ApprovalFacts
		if facts, err = approvalFactsTx(ctx, tx, p, actor.ID); err != nil {
			return approval.Result{}, err
		}
		entry, err = p.Decide(payment.DecisionInput{Stage: r.Stage, Verdict: r.Verdict, Actor: actor, Reason: r.Reason, Digest: r.Digest}, facts, now)
	}
	if err != nil {
		if !payment.IsRefusal(err) {
			return approval.Result{}, err
		}
		return refuse(err)
	}
	var step *int64
	reviewOTP, err := reviewOTPTx(ctx, tx, p.CustomerID)
	if err != nil {
		return approval.Result{}, err
	}
	if payment.NeedsOTPFor(r.Stage, r.Verdict, reviewOTP) {
		if r.OTP == "" {
			return refuse(payment.Errorf(payment.CodeOTPRequired, "%s needs a one-time password", r.Stage))
		}
		st, err := s.OTPCheckTx(ctx, tx, actor.ID, r.OTP, s.cfg.OTPOpener, s.cfg.OTPPolicy, string(r.Stage), p.ID)
		if err != nil {
			if !payment.IsRefusal(err) {
				return approval.Result{}, err
			}
			return refuse(err)
		}
		step = &st
		entry.OTPStep = st
	}
	sealed, err := s.sealDecisionTx(ctx, tx, p, actor.ID, r, entry.OTPStep)
	if err != nil {
		return approval.Result{}, err
	}
	res := approval.Result{Schema: approval.ResultSchema, DecisionID: r.DecisionID, PaymentID: p.ID,
		Outcome: approval.Applied, State: p.State, At: now}
	if p.State == payment.StateAuthorized && s.cfg.NextCutoff != nil {
		next := s.cfg.NextCutoff(now)
		res.NextCutoff = &next
	}
	if err := decisionInsertTx(ctx, tx, r, res, step, now, &sealed); err != nil {
		return approval.Result{}, err
	}
	if err := s.auditTx(ctx, tx, AuditEntry{UserID: actor.ID, Actor: "user:" + actor.ID, Event: "decision_applied",
		PaymentID: p.ID, Detail: fmt.Sprintf("%s %s: %s -> %s", r.Stage, r.Verdict, entry.From, entry.To)}); err != nil {
		return approval.Result{}, err
	}
	// After the decision row: the next task counts the applied decisions.
	if err := s.moveTx(ctx, tx, &before, p, entry); err != nil {
		return approval.Result{}, err
	}
	return res, s.resultTx(ctx, tx, res, r.ReplyTo)
}

// DecisionRefuse records a decision refused before it could reach a
// payment, such as one with an invalid token, and answers it.
func (s *Store) DecisionRefuse(ctx context.Context, r approval.Decision, refusal error) (approval.Result, error) {
	var res approval.Result
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		prev, ok, err := s.repeatTx(ctx, tx, r, refusal)
		if err != nil || ok {
			res = prev
			return err
		}
		res, err = s.refuseDecisionTx(ctx, tx, r, refusal, nil)
		return err
	})
	return res, err
}

// repeatTx answers a decision id seen before: its first result, again,
// to the person who sent it (the same user, or nobody known for both); to
// anyone else a refusal that tells nothing of the first decision (refusal
// if given, else CodeDecisionIDTaken), audited and not recorded (the id
// stays the first sender's). ok is false for an id not seen before.
func (s *Store) repeatTx(ctx context.Context, tx pgx.Tx, r approval.Decision, refusal error) (approval.Result, bool, error) {
	prev, actor, ok, err := decisionGetTx(ctx, tx, r.DecisionID)
	if err != nil || !ok {
		return approval.Result{}, false, err
	}
	if actor == r.UserID {
		return prev, true, s.resultTx(ctx, tx, prev, r.ReplyTo)
	}
	if refusal == nil {
		refusal = payment.Errorf(payment.CodeDecisionIDTaken, "decision id %s is taken: send the decision with an id of its own", r.DecisionID)
	}
	res := approval.Refusal(r, refusal, s.cfg.Now().UTC())
	res.Reason = pgText(res.Reason)
	if err := s.auditTx(ctx, tx, AuditEntry{UserID: r.UserID, Actor: actorOf(r.UserID), Event: "decision_refused",
		Detail: pgText(fmt.Sprintf("decision %s sent again by another person: %s", r.DecisionID, res.Reason))}); err != nil {
		return approval.Result{}, false, err
	}
	return res, true, s.resultTx(ctx, tx, res, r.ReplyTo)
}

// paymentNotFound is the one refusal for a payment that does not exist
// and for a payment of another customer.
func paymentNotFound(id string) error {
	return payment.Errorf(payment.CodeNotFound, "payment %s does not exist", id)
}

// reviewOTPTx reads a customer's review policy: whether an approval at
// review needs a one-time password.
func reviewOTPTx(ctx context.Context, tx pgx.Tx, customerID string) (bool, error) {
	var on bool
	if err := tx.QueryRow(ctx, `SELECT review_otp FROM customers WHERE id = $1`, customerID).Scan(&on); err != nil {
		return false, fmt.Errorf("read review policy of %s: %w", customerID, err)
	}
	return on, nil
}

// refuseDecisionTx records a refused decision, audits it and answers it.
func (s *Store) refuseDecisionTx(ctx context.Context, tx pgx.Tx, r approval.Decision, refusal error, step *int64) (approval.Result, error) {
	now := s.cfg.Now().UTC()
	res := approval.Refusal(r, refusal, now)
	res.Reason = pgText(res.Reason)
	if err := decisionInsertTx(ctx, tx, r, res, step, now, nil); err != nil {
		return approval.Result{}, err
	}
	if err := s.auditTx(ctx, tx, AuditEntry{UserID: r.UserID, Actor: actorOf(r.UserID), Event: "decision_refused",
		PaymentID: validUUIDOrEmpty(r.PaymentID), Detail: fmt.Sprintf("%s %s refused: %s", r.Stage, r.Verdict, res.Reason)}); err != nil {
		return approval.Result{}, err
	}
	return res, s.resultTx(ctx, tx, res, r.ReplyTo)
}

// moveTx writes one change of state the domain made: the payment row
// (guarded by the state and version it was read with), the timeline entry,
// and what follows (status event, next task).
func (s *Store) moveTx(ctx context.Context, tx pgx.Tx, before, p *payment.Payment, e payment.Entry) error {
	if err := paymentUpdateTx(ctx, tx, before, p); err != nil {
		return err
	}
	if err := s.timelineCopyTx(ctx, tx, []payment.Entry{e}, []string{p.Digest()}); err != nil {
		return err
	}
	return s.afterChangeTx(ctx, tx, p, e)
}

// afterChangeTx writes what follows a change of state (changeMessages),
// counting the payment's applied authorizations when it waits for more.
func (s *Store) afterChangeTx(ctx context.Context, tx pgx.Tx, p *payment.Payment, e payment.Entry) error {
	done := 0
	if stage, ok := payment.StageOf(p.State); ok && stage == payment.StageAuthorization {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM decisions WHERE payment_id = $1 AND stage = 'authorization' AND outcome = 'applied'`,
			p.ID).Scan(&done); err != nil {
			return err
		}
	}
	msgs, err := s.changeMessages(p, e, done)
	if err != nil {
		return err
	}
	return outboxCopyTx(ctx, tx, msgs, e.At)
}

// changeMessages is what follows a change of state: the status event to
// the upstream and, when the payment now waits for a stage, its task,
// which says how many authorizations are done.
func (s *Store) changeMessages(p *payment.Payment, e payment.Entry, authorizationsDone int) ([]outbox.Message, error) {
	ev, err := s.cfg.EventMessage(payment.StateChangedEvent(p, e))
	if err != nil {
		return nil, fmt.Errorf("encode event of %s: %w", p.ID, err)
	}
	msgs := []outbox.Message{ev}
	if task, ok, err := s.taskMessage(p, authorizationsDone); err != nil {
		return nil, err
	} else if ok {
		msgs = append(msgs, task)
	}
	return msgs, nil
}

// taskMessage builds the task for the stage p now waits for, given how
// many authorizations it has; ok is false when p waits for none.
func (s *Store) taskMessage(p *payment.Payment, authorizationsDone int) (m outbox.Message, ok bool, err error) {
	stage, ok := payment.StageOf(p.State)
	if !ok || s.cfg.TaskMessage == nil {
		return outbox.Message{}, false, nil
	}
	m, err = s.cfg.TaskMessage(p, stage, authorizationsDone)
	if err != nil {
		return outbox.Message{}, false, fmt.Errorf("encode task of %s: %w", p.ID, err)
	}
	return m, true, nil
}

// resultTx writes the result to the decider's reply queue, if it has one.
func (s *Store) resultTx(ctx context.Context, tx pgx.Tx, res approval.Result, replyTo string) error {
	msgs, err := s.resultMessages(res, replyTo)
	if err != nil || len(msgs) == 0 {
		return err
	}
	return outboxCopyTx(ctx, tx, msgs, s.cfg.Now().UTC())
}

// resultMessages is the result for the decider's reply queue: none when
// there is no queue to answer to.
func (s *Store) resultMessages(res approval.Result, replyTo string) ([]outbox.Message, error) {
	if s.cfg.ResultMessage == nil {
		return nil, nil
	}
	m, ok, err := s.cfg.ResultMessage(res, replyTo)
	if err != nil || !ok {
		return nil, err
	}
	return []outbox.Message{m}, nil
}

// paymentUpdateTx writes p's new state, guarded by the state and version
// it was read with: zero rows means somebody else changed it first.
func paymentUpdateTx(ctx context.Context, tx pgx.Tx, before, p *payment.Payment) error {
	tag, err := tx.Exec(ctx, `UPDATE payments SET state = $3, version = $4, updated_at = $5, head_hash = $6
		WHERE id = $1 AND version = $2 AND state = $7`,
		p.ID, before.Version, string(p.State), p.Version, p.UpdatedAt, p.HeadHash, string(before.State))
	if err != nil {
		return fmt.Errorf("update payment %s: %w", p.ID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("update payment %s: %w", p.ID, payment.Errorf(payment.CodeConflict, "payment %s changed meanwhile", p.ID))
	}
	return nil
}

// decisionGetTx reads a decision's first result and who sent it ("" when
// nobody was known).
func decisionGetTx(ctx context.Context, tx pgx.Tx, id string) (approval.Result, string, bool, error) {
	var raw []byte
	var actor *string
	err := tx.QueryRow(ctx, `SELECT result, actor_id FROM decisions WHERE id = $1`, id).Scan(&raw, &actor)
	if errors.Is(err, pgx.ErrNoRows) {
		return approval.Result{}, "", false, nil
	}
	if err != nil {
		return approval.Result{}, "", false, fmt.Errorf("read decision %s: %w", id, err)
	}
	var res approval.Result
	if err := json.Unmarshal(raw, &res); err != nil {
		return approval.Result{}, "", false, fmt.Errorf("decode decision %s: %w", id, err)
	}
	who := ""
	if actor != nil {
		who = *actor
	}
	return res, who, true, nil
}

// decisionSeal is what an applied decision's row carries for its MAC: its
// place in the payment's chain of decisions, the content digest it was made
// on, and the MAC.
type decisionSeal struct {
	seq    int
	digest string
	mac    []byte
}

// sealDecisionTx makes the MAC of an applied decision, chained to the
// payment's last applied decision (read here, under the payment's lock).
func (s *Store) sealDecisionTx(ctx context.Context, tx pgx.Tx, p *payment.Payment, actorID string, r approval.Decision, step int64) (decisionSeal, error) {
	if s.cfg.Seal == nil {
		return decisionSeal{}, errNoSeal
	}
	var seq int
	var prev []byte
	err := tx.QueryRow(ctx, `SELECT seal_seq, mac FROM decisions WHERE payment_id = $1 AND outcome = 'applied' AND seal_seq IS NOT NULL
		ORDER BY seal_seq DESC LIMIT 1`, p.ID).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return decisionSeal{}, fmt.Errorf("read the decisions' chain of %s: %w", p.ID, err)
	}
	return s.sealDecision(p, actorID, r, step, seq, prev), nil
}

// sealDecision makes the MAC of an applied decision that follows the
// decision number seq (0: none) whose MAC is prev.
// An approval's digest is the content's (payment.Decide checked that the
// person approved it); a rejection or a cancel records what was sent.
func (s *Store) sealDecision(p *payment.Payment, actorID string, r approval.Decision, step int64, seq int, prev []byte) decisionSeal {
	digest := pgText(r.Digest)
	if r.Verdict == payment.VerdictApprove {
		digest = p.Digest()
	}
	d := seal.Decision{PaymentID: p.ID, Digest: digest, ActorID: actorID, Stage: r.Stage, Verdict: r.Verdict,
		OTPStep: step, RequiredAuthorizers: p.RequiredAuthorizers, Seq: seq + 1, Prev: prev}
	return decisionSeal{seq: d.Seq, digest: d.Digest, mac: s.cfg.Seal.Decision(d)}
}

// decisionInsertTx writes a decision's row; sealed is nil for a refusal.
func decisionInsertTx(ctx context.Context, tx pgx.Tx, r approval.Decision, res approval.Result, step *int64, now time.Time, sealed *decisionSeal) error {
	raw, err := json.Marshal(res)
	if err != nil {
		return err
	}
	var pay, actor, session any
	if res.Outcome == approval.Applied || validUUIDOrEmpty(r.PaymentID) != "" && paymentExistsTx(ctx, tx, r.PaymentID) {
		pay = r.PaymentID
	}
	if r.UserID != "" && userExistsTx(ctx, tx, r.UserID) {
		actor = r.UserID
	}
	if validUUIDOrEmpty(r.SessionID) != "" {
		session = r.SessionID
	}
	row := decisionRow{r: r, raw: raw, pay: pay, actor: actor, session: session, outcome: res.Outcome,
		code: res.Code, reason: res.Reason, step: step, at: now}
	if sealed != nil {
		row.seal = *sealed
	}
	return decisionCopyTx(ctx, tx, []decisionRow{row})
}

// decisionRow is a decisions row to write.
type decisionRow struct {
	r                   approval.Decision
	raw                 []byte // the result, as JSON
	pay, actor, session any    // nil when unknown
	outcome             string
	code                payment.Code
	reason              string
	step                *int64
	at                  time.Time
	seal                decisionSeal // zero for a refusal
}

// decisionCopyTx writes decision rows with one COPY.
func decisionCopyTx(ctx context.Context, tx pgx.Tx, rows []decisionRow) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"decisions"},
		[]string{"id", "payment_id", "stage", "verdict", "actor_id", "session_id", "outcome", "code", "reason", "digest", "otp_step", "result", "decided_at",
			"seal_seq", "mac"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			d := rows[i]
			if s, ok := d.pay.(string); ok {
				d.pay = copyUUID(s)
			}
			if s, ok := d.session.(string); ok {
				d.session = copyUUID(s)
			}
			digest := pgText(d.r.Digest)
			var seq any
			if d.seal.seq > 0 {
				// An applied decision records the digest its MAC covers.
				digest, seq = d.seal.digest, d.seal.seq
			}
			return []any{d.r.DecisionID, d.pay, pgText(string(d.r.Stage)), pgText(string(d.r.Verdict)), d.actor, d.session, d.outcome,
				string(d.code), d.reason, digest, d.step, string(d.raw), d.at, seq, d.seal.mac}, nil
		}))
	if err != nil {
		return fmt.Errorf("record decisions: %w", err)
	}
	return nil
}

// approvalFactsTx reads who already acted on p, how many authorizations it
// has, and the actor's limit in p's currency.
func approvalFactsTx(ctx context.Context, tx pgx.Tx, p *payment.Payment, actorID string) (payment.ApprovalFacts, error) {
	f := payment.ApprovalFacts{RequiredAuthorizers: p.RequiredAuthorizers}
	rows, err := tx.Query(ctx, `SELECT actor_id, stage FROM decisions WHERE payment_id = $1 AND outcome = 'applied'`, p.ID)
	if err != nil {
		return f, err
	}
	defer rows.Close()
	for rows.Next() {
		var who, stage string
		if err := rows.Scan(&who, &stage); err != nil {
			return f, err
		}
		f.Acted = append(f.Acted, who)
		if stage == string(payment.StageAuthorization) {
			f.Authorizations++
		}
	}
	if err := rows.Err(); err != nil {
		return f, err
	}
	var limit int64
	err = tx.QueryRow(ctx, `SELECT max_minor FROM user_limits WHERE user_id = $1 AND currency = $2`, actorID, p.Currency).Scan(&limit)
	switch {
	case err == nil:
		f.Limit = &limit
	case !errors.Is(err, pgx.ErrNoRows):
		return f, err
	}
	return f, nil
}

// userTx reads a user and locks the row as the OTP check's update will: a
// person's decisions run one after the other. A shared lock, upgraded by
// the OTP check, would deadlock two decisions of one person.
func userTx(ctx context.Context, tx pgx.Tx, id string) (payment.User, error) {
	var u payment.User
	var roles []string
	err := tx.QueryRow(ctx, `SELECT id, customer_id, name, roles, active FROM users WHERE id = $1 FOR NO KEY UPDATE`, id).
		Scan(&u.ID, &u.CustomerID, &u.Name, &roles, &u.Active)
	if err != nil {
		return u, notFound(err, "user "+id)
	}
	u.Roles = toRoles(roles)
	return u, nil
}

func paymentExistsTx(ctx context.Context, tx pgx.Tx, id string) bool {
	var ok bool
	_ = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM payments WHERE id = $1)`, id).Scan(&ok)
	return ok
}

func userExistsTx(ctx context.Context, tx pgx.Tx, id string) bool {
	var ok bool
	_ = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, id).Scan(&ok)
	return ok
}

func actorOf(userID string) string {
	if userID == "" {
		return "unknown"
	}
	return "user:" + userID
}

// validUUIDOrEmpty returns id if it is a UUID, else "".
func validUUIDOrEmpty(id string) string {
	if uuid.Validate(id) != nil {
		return ""
	}
	return id
}
