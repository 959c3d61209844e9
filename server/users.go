package server

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/secret"
)

// People's credentials, OTP enrolment, locks and audit trail, as
// `b2bpay user …` runs them. Each change leaves a line in the audit trail.

// UserSetPassword sets a user's password (argon2id; at least 12
// characters).
func (a *App) UserSetPassword(ctx context.Context, w io.Writer, id, password string) error {
	if err := auth.CheckPasswordStrength(password); err != nil {
		return err
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	if err := a.Store.UserSetPassword(ctx, id, hash, "admin"); err != nil {
		return err
	}
	fmt.Fprintf(w, "password of %s set\n", id)
	return nil
}

// UserEnrollOTP generates a TOTP secret for a user, stores it sealed,
// writes its QR code PNG to qrPath (readable by its owner only) and prints
// the otpauth:// URI once. Enrolling again replaces the secret.
func (a *App) UserEnrollOTP(ctx context.Context, w io.Writer, id, issuer, qrPath string) error {
	if _, err := a.Sealer(); err != nil {
		return err
	}
	if qrPath == "" {
		qrPath = id + "-otp.png"
	}
	// The file is written before the secret is stored, so that a secret is
	// never stored that nobody could read; it goes if storing fails.
	written := false
	uri, err := a.enrollOTP(ctx, id, issuer, "admin", func(png []byte) error {
		err := secret.WritePrivateFile(qrPath, png)
		written = err == nil
		return err
	})
	if err != nil {
		if written {
			_ = os.Remove(qrPath)
		}
		return err
	}
	fmt.Fprintf(w, "OTP enrolled for %s; scan %s with an authenticator app, or enter this URI (shown once):\n%s\n", id, qrPath, uri)
	return nil
}

// EnrollOTP generates a TOTP secret for a user, stores it sealed with the
// master key (replacing any earlier one, audited as actor) and returns its
// otpauth:// URI and QR code PNG, to be shown once and never logged. It
// is the admin.Enroller of Administration; UserEnrollOTP (the CLI) shares
// it.
func (a *App) EnrollOTP(ctx context.Context, id, issuer, actor string) (uri string, png []byte, err error) {
	uri, err = a.enrollOTP(ctx, id, issuer, actor, func(b []byte) error { png = b; return nil })
	if err != nil {
		return "", nil, err
	}
	return uri, png, nil
}

// enrollOTP makes the secret and its QR code, hands the PNG to keep
// before the sealed secret is stored, and returns the URI.
func (a *App) enrollOTP(ctx context.Context, id, issuer, actor string, keep func(png []byte) error) (string, error) {
	sealer, err := a.Sealer()
	if err != nil {
		return "", err
	}
	if _, err := a.Store.UserGet(ctx, id); err != nil {
		return "", err
	}
	seed, uri, err := otp.Generate(issuer, id)
	if err != nil {
		return "", err
	}
	png, err := otp.QRCodePNG(uri, 256)
	if err != nil {
		return "", err
	}
	if err := keep(png); err != nil {
		return "", err
	}
	if err := a.Store.UserEnrollOTP(ctx, id, sealer.Seal(seed, postgres.OTPSeedAD(id)), int(sealer.Version()), actor); err != nil {
		return "", err
	}
	return uri, nil
}

// UserUnlock ends a user's OTP lock and sign-in lock early and clears
// their failure counts, audited as admin:<operator> with the reason.
func (a *App) UserUnlock(ctx context.Context, w io.Writer, id, operator, reason string) error {
	u, err := a.Store.UserUnlock(ctx, id, "admin:"+operator, reason)
	if err != nil {
		return err
	}
	if u.OTPLockedUntil == nil && u.LoginLockedUntil == nil {
		fmt.Fprintf(w, "%s was not locked; failure counts cleared (OTP %d, sign-in %d)\n", id, u.OTPFailures, u.LoginFailures)
		return nil
	}
	if u.OTPLockedUntil != nil {
		fmt.Fprintf(w, "%s: OTP lock until %s ended\n", id, u.OTPLockedUntil.In(a.Config.Location).Format(time.DateTime+" MST"))
	}
	if u.LoginLockedUntil != nil {
		fmt.Fprintf(w, "%s: sign-in lock until %s ended\n", id, u.LoginLockedUntil.In(a.Config.Location).Format(time.DateTime+" MST"))
	}
	return nil
}

// UserAudit writes a user's audit trail (every user's when id is ""),
// the latest limit entries.
func (a *App) UserAudit(ctx context.Context, w io.Writer, id string, limit int) error {
	entries, err := a.Store.AuditList(ctx, id, limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tACTOR\tEVENT\tPAYMENT\tDETAIL")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.UserID, e.Actor, e.Event, e.PaymentID, e.Detail)
	}
	return tw.Flush()
}
