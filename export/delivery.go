package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Target is where written files are delivered: the clearing gateway, by
// SFTP (SFTPTarget) or into a directory (DirTarget).
type Target interface {
	// Name describes the target for logs and the batch's record; it holds
	// no secret.
	Name() string
	// Put delivers the local file as name, atomically: uploaded under a
	// temporary name and renamed, so the final name never holds part of a
	// file. A file already there under name with the SHA-256 sum is
	// delivered (nil); with other bytes it is ErrRemoteDiffers and nothing
	// is replaced.
	Put(ctx context.Context, name, local, sum string) error
}

// ErrRemoteDiffers is returned when the gateway already holds a file of
// the name with other bytes: never replaced, an operator must look.
var ErrRemoteDiffers = errors.New("the gateway holds a file of that name with other bytes")

// DeliveryStore is what delivery needs from storage.
type DeliveryStore interface {
	// BatchesToDeliver lists the written batches, and the failed ones whose
	// next attempt is due at now, oldest first, at most limit.
	BatchesToDeliver(ctx context.Context, now time.Time, limit int) ([]Batch, error)
	// BatchDelivered records the delivery (written or delivery_failed →
	// delivered), with a status event for each payment; changed is false
	// when the batch had already moved on.
	BatchDelivered(ctx context.Context, id, to string) (changed bool, err error)
	// BatchDeliveryFailed records a failed attempt and when to try again.
	BatchDeliveryFailed(ctx context.Context, id string, attempts int, next time.Time, reason string) error
	// BatchesUnacknowledged lists the batches delivered before before and
	// still not acknowledged; alert marks each as alerted (once).
	BatchesUnacknowledged(ctx context.Context, before time.Time) ([]Batch, error)
	BatchUnackedAlerted(ctx context.Context, id string) (first bool, err error)
}

// CrashDeliveryAfterUpload is the crash point after a file is on the
// gateway under its final name and before its delivery is recorded.
const CrashDeliveryAfterUpload = "delivery-after-upload"

// Deliverer delivers written files to the Target and retries failed ones
// with exponential backoff. Run RunOnce on a schedule (and after each
// cutoff): it picks up every written file, including those written while
// the gateway was down, and every failed one whose next attempt has come.
type Deliverer struct {
	Store  DeliveryStore
	Target Target
	// Dir is the outbound directory the files were written to (a batch's
	// own recorded directory wins).
	Dir string
	// MinBackoff and MaxBackoff bound the wait after a failure (1 min and
	// 1 h by default): MinBackoff·2^(attempts-1), at most MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// AckTimeout is how long a delivered file may wait for its
	// acknowledgement before the alert (2 h by default).
	AckTimeout time.Duration
	Log        *slog.Logger
	Now        func() time.Time
	// Crash, when set, is called at CrashDeliveryAfterUpload.
	Crash func(point string)
	// Counted, when set, is told each outcome: "delivered" or "failed".
	Counted func(outcome string)
}

// DeliverySummary says what one pass did.
type DeliverySummary struct {
	Delivered, Failed int
}

// deliverLimit bounds the files one pass takes.
const deliverLimit = 500

// RunOnce delivers every batch due: written, or failed with its next
// attempt come. A failure is recorded with the next attempt's time and
// does not stop the others.
func (d *Deliverer) RunOnce(ctx context.Context) (DeliverySummary, error) {
	var sum DeliverySummary
	if d.Target == nil {
		return sum, nil
	}
	bs, err := d.Store.BatchesToDeliver(ctx, d.now(), deliverLimit)
	if err != nil {
		return sum, err
	}
	var errs []error
	for _, b := range bs {
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
		if err := d.deliver(ctx, b); err != nil {
			sum.Failed++
			d.count("failed")
			if rerr := d.fail(ctx, b, err); rerr != nil {
				errs = append(errs, rerr)
			}
			continue
		}
		sum.Delivered++
		d.count("delivered")
	}
	return sum, errors.Join(errs...)
}

// deliver checks the local file against the SHA-256 recorded when it was
// written, puts it on the target and records the delivery.
func (d *Deliverer) deliver(ctx context.Context, b Batch) error {
	dir := b.Dir
	if dir == "" {
		dir = d.Dir
	}
	local := filepath.Join(dir, b.FileName)
	got, err := fileSHA256(local)
	if err != nil {
		return fmt.Errorf("read the written file: %w", err)
	}
	if got != b.SHA256 {
		return fmt.Errorf("alert=delivery_conflict: the written file %s has SHA-256 %s, not %s as recorded: not delivered", local, got, b.SHA256)
	}
	if err := d.Target.Put(ctx, b.FileName, local, b.SHA256); err != nil {
		return err
	}
	if d.Crash != nil {
		d.Crash(CrashDeliveryAfterUpload)
	}
	changed, err := d.Store.BatchDelivered(ctx, b.ID, d.Target.Name())
	if err != nil {
		return fmt.Errorf("record the delivery: %w", err)
	}
	if changed {
		d.log().InfoContext(ctx, "interbank file delivered", "batch_id", b.ID, "file", b.FileName, "to", d.Target.Name(),
			"sha256", b.SHA256, "attempts", b.Delivery.Attempts+1)
	}
	return nil
}

// fail records a failed attempt and the next one's time.
func (d *Deliverer) fail(ctx context.Context, b Batch, cause error) error {
	attempts := b.Delivery.Attempts + 1
	next := d.now().Add(d.backoff(attempts))
	args := []any{"batch_id", b.ID, "file", b.FileName, "to", d.Target.Name(), "attempts", attempts,
		"next_attempt_at", next.UTC().Format(time.RFC3339), "error", cause}
	if errors.Is(cause, ErrRemoteDiffers) {
		d.log().ErrorContext(ctx, "the gateway holds another file of this name: not replaced, an operator must look",
			append(args, "alert", "delivery_conflict")...)
	} else {
		d.log().WarnContext(ctx, "interbank file delivery failed; retried later", args...)
	}
	if err := d.Store.BatchDeliveryFailed(ctx, b.ID, attempts, next, cause.Error()); err != nil {
		return fmt.Errorf("batch %s: record failed delivery: %w", b.ID, err)
	}
	return nil
}

// backoff is the wait before attempt+1: MinBackoff doubled for each
// failure in a row, at most MaxBackoff.
func (d *Deliverer) backoff(attempts int) time.Duration {
	lo, hi := d.MinBackoff, d.MaxBackoff
	if lo <= 0 {
		lo = time.Minute
	}
	if hi < lo {
		hi = time.Hour
	}
	wait := lo
	for i := 1; i < attempts && wait < hi; i++ {
		wait *= 2
	}
	return min(wait, hi)
}

// Unacknowledged returns the batches delivered longer than AckTimeout ago
// and not yet acknowledged; each is logged at ERROR with
// alert=batch_unacknowledged the first time it is found.
func (d *Deliverer) Unacknowledged(ctx context.Context) ([]Batch, error) {
	timeout := d.AckTimeout
	if timeout <= 0 {
		timeout = DefaultAckTimeout
	}
	bs, err := d.Store.BatchesUnacknowledged(ctx, d.now().Add(-timeout))
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		first, err := d.Store.BatchUnackedAlerted(ctx, b.ID)
		if err != nil {
			return bs, err
		}
		if first {
			var at string
			if b.Delivery.DeliveredAt != nil {
				at = b.Delivery.DeliveredAt.UTC().Format(time.RFC3339)
			}
			d.log().ErrorContext(ctx, "interbank file delivered and not acknowledged in time; re-issue it if it is lost (b2bpay batch reissue)",
				"alert", "batch_unacknowledged", "batch_id", b.ID, "file", b.FileName, "delivered_at", at, "ack_timeout", timeout.String())
		}
	}
	return bs, nil
}

// DefaultAckTimeout is how long a delivered file waits for its
// acknowledgement before the alert, unless configured.
const DefaultAckTimeout = 2 * time.Hour

func (d *Deliverer) count(outcome string) {
	if d.Counted != nil {
		d.Counted(outcome)
	}
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deliverer) log() *slog.Logger {
	if d.Log == nil {
		return slog.Default()
	}
	return d.Log
}

// fileSHA256 is the hex SHA-256 of a file's bytes.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return readerSHA256(f)
}

func readerSHA256(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
