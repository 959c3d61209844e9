package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

// TestErrorTable walks the one table from error codes to answers.
func TestErrorTable(t *testing.T) {
	t.Parallel()
	wrapped := func(err error) error { return fmt.Errorf("payment 0190: read: %w", err) }
	for _, tc := range []struct {
		err     error
		status  int
		code    string
		message string // "" for the generic one
	}{
		{payment.ErrNotFound, http.StatusNotFound, "not_found", "not found"},
		{wrapped(payment.ErrNotFound), http.StatusNotFound, "not_found", "not found"},
		{payment.Errorf(payment.CodeTokenInvalid, "expired"), http.StatusUnauthorized, "token_invalid", "expired"},
		{payment.Errorf(payment.CodeLoginFailed, "wrong password"), http.StatusUnauthorized, "login_failed", "wrong password"},
		{payment.Errorf(payment.CodeLoginThrottled, "wait"), http.StatusTooManyRequests, "login_throttled", "wait"},
		{payment.Errorf(payment.CodeUserInactive, "disabled"), http.StatusForbidden, "user_inactive", "disabled"},
		{payment.FieldErrorf(payment.CodeInvalidInput, "limit", "too big"), http.StatusBadRequest, "invalid_input", "limit: too big"},
		{payment.FieldErrorf(payment.CodeInvalidField, "order_ref", "too long"), http.StatusBadRequest, "invalid_field", "order_ref: too long"},
		{payment.Errorf(payment.CodeInvalidAmount, "x"), http.StatusBadRequest, "invalid_amount", "x"},
		{payment.Errorf(payment.CodeInvalidCurrency, "x"), http.StatusBadRequest, "invalid_currency", "x"},
		{payment.Errorf(payment.CodeInvalidAccount, "x"), http.StatusBadRequest, "invalid_account", "x"},
		{payment.Errorf(payment.CodeInvalidDate, "x"), http.StatusBadRequest, "invalid_date", "x"},
		{payment.Errorf(payment.CodeInvalidTransition, "x"), http.StatusBadRequest, "invalid_transition", "x"},
		{wrapped(payment.Errorf(payment.CodeConflict, "exists")), http.StatusConflict, "conflict", "exists"},
		{payment.Errorf(payment.CodeTooLarge, "big"), http.StatusRequestEntityTooLarge, "message_too_large", "big"},
		// Infrastructure: whatever it says stays in the log.
		{errors.New("dial tcp 10.0.0.7:5432: connection refused"), http.StatusInternalServerError, "internal", ""},
		{wrapped(context.DeadlineExceeded), http.StatusInternalServerError, "internal", ""},
		// A domain code the API has no answer for is a bug, not the client's fault.
		{payment.Errorf(payment.CodeOTPInvalid, "secret detail"), http.StatusInternalServerError, "internal", ""},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			var logs bytes.Buffer
			a := &api{cfg: Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}}
			req := httptest.NewRequest(http.MethodGet, "/v1/payments", nil)
			req = req.WithContext(context.WithValue(req.Context(), infoKey{}, &requestInfo{id: "rid-7"}))
			rec := httptest.NewRecorder()
			a.fail(rec, req, tc.err)

			require.Equal(t, tc.status, rec.Code)
			require.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
			var body errorBody
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			require.Equal(t, tc.code, body.Error.Code)
			if tc.code == "token_invalid" {
				require.Equal(t, "Bearer", rec.Header().Get("WWW-Authenticate"))
			} else {
				require.Empty(t, rec.Header().Get("WWW-Authenticate"))
			}
			if tc.message != "" {
				require.Equal(t, tc.message, body.Error.Message)
				require.Empty(t, logs.String(), "client errors are not logged as failures")
				return
			}
			require.Equal(t, "internal error; quote request id rid-7 to support", body.Error.Message)
			require.Contains(t, logs.String(), tc.err.Error(), "the real error is logged")
			require.Contains(t, logs.String(), `"request_id":"rid-7"`)
		})
	}
}

func TestStatusOfUnknownCode(t *testing.T) {
	t.Parallel()
	require.Equal(t, http.StatusInternalServerError, statusOf(""))
	require.Equal(t, http.StatusInternalServerError, statusOf("no_such_code"))
	for code, status := range statusByCode {
		require.Less(t, status, 500, "%s: only infrastructure failures are 5xx", code)
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]string{
		"Bearer abc.def":  "abc.def",
		"bearer abc":      "abc",
		"BEARER  abc ":    "abc",
		"":                "",
		"Bearer":          "",
		"Bearer ":         "",
		"Basic abc":       "",
		"Bearer abc def":  "",
		"Bearerabc":       "",
		"Token abc":       "",
		"Bearer \tabc\t":  "abc",
		"Bearer a\tb":     "",
		"Bearer  a  b  ":  "",
		" Bearer abc":     "",
		"Bearer abc, xyz": "",
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", header)
		got, ok := bearerToken(req)
		require.Equal(t, want, got, "header %q", header)
		require.Equal(t, want != "", ok, "header %q", header)
	}
}
