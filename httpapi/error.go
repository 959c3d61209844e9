package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/b2bpay/b2bpay/payment"
)

// codeInternal is the code of every failure that is not the client's:
// the database is down, a bug. Its details go to the log, never to clients.
const codeInternal = "internal"

// statusByCode is the one table from a domain error's code to an HTTP
// status. A code that is not here is an infrastructure failure: 500.
var statusByCode = map[payment.Code]int{
	payment.CodeNotFound:          http.StatusNotFound,
	payment.CodeTokenInvalid:      http.StatusUnauthorized,
	payment.CodeLoginFailed:       http.StatusUnauthorized,
	payment.CodeLoginThrottled:    http.StatusTooManyRequests,
	payment.CodeUserInactive:      http.StatusForbidden,
	payment.CodeInvalidInput:      http.StatusBadRequest,
	payment.CodeInvalidField:      http.StatusBadRequest,
	payment.CodeInvalidAmount:     http.StatusBadRequest,
	payment.CodeInvalidCurrency:   http.StatusBadRequest,
	payment.CodeInvalidAccount:    http.StatusBadRequest,
	payment.CodeInvalidDate:       http.StatusBadRequest,
	payment.CodeInvalidTransition: http.StatusBadRequest,
	payment.CodeConflict:          http.StatusConflict,
	payment.CodeTooLarge:          http.StatusRequestEntityTooLarge,
}

// statusOf returns the HTTP status that answers an error with code c:
// 500 for a code the table does not know.
func statusOf(c payment.Code) int {
	if s, ok := statusByCode[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// fail answers err. A domain error the table knows is answered with its
// status, code and message; anything else is logged with the request id
// and answered 500 with a generic message.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := payment.ErrorCode(err)
	status := statusOf(code)
	if status == http.StatusInternalServerError {
		id := requestIDFrom(r.Context())
		a.cfg.Logger.ErrorContext(r.Context(), "request failed", "request_id", id,
			"method", r.Method, "path", r.URL.Path, "code", string(code), "error", err)
		writeError(w, status, codeInternal, "internal error; quote request id "+id+" to support")
		return
	}
	if code == payment.CodeTokenInvalid {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(err)))
	}
	writeError(w, status, string(code), message(err))
}

// defaultRetryAfter is the Retry-After of a 429 whose error does not say
// when to come back, in seconds.
const defaultRetryAfter = 60

// retryAfter is how many seconds a throttled client should wait: what the
// error says (RetryAfterSeconds, as auth.Throttled has), else the default.
func retryAfter(err error) int {
	var ra interface{ RetryAfterSeconds() int }
	if errors.As(err, &ra) && ra.RetryAfterSeconds() > 0 {
		return ra.RetryAfterSeconds()
	}
	return defaultRetryAfter
}

// message is what a client is told about a domain error: its message,
// after the name of the field at fault when there is one.
func message(err error) string {
	var e *payment.Error
	if !errors.As(err, &e) {
		return ""
	}
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// writeError writes an error answer.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

// writeJSON writes v as the JSON body of an answer with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only a bug in a view type gets here; say so without details.
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
