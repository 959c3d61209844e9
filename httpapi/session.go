package httpapi

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// Bounds of the sign-in fields, well above any real user id or password.
const (
	maxUserLen     = 64
	maxPasswordLen = 1024
)

// loginRequest is the body of POST /v1/sessions.
type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// loginAnswer is the answer to a successful sign-in: the bearer token,
// its expiry, and the session's decision key (hex), with which the staff
// client signs each decision; it never travels on the broker.
type loginAnswer struct {
	Token       string    `json:"token"`
	ExpiresAt   time.Time `json:"expires_at"`
	DecisionKey string    `json:"decision_key"`
}

// login signs a user in: 201 with a bearer token and its expiry.
func (a *api) login(w http.ResponseWriter, r *http.Request) {
	var in loginRequest
	if err := decodeBody(w, r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	switch {
	case in.User == "" || len(in.User) > maxUserLen:
		a.fail(w, r, payment.FieldErrorf(payment.CodeInvalidInput, "user", "give a user id of 1 to %d bytes", maxUserLen))
		return
	case checkID("user", in.User, "a user id") != nil:
		// Nothing that could be a user id goes further, to the store or
		// to a message: it may be a password typed in the wrong field.
		a.fail(w, r, payment.FieldErrorf(payment.CodeInvalidInput, "user",
			"is not a user id: 1-64 letters, digits or . _ : - starting with a letter or digit"))
		return
	case in.Password == "" || len(in.Password) > maxPasswordLen:
		a.fail(w, r, payment.FieldErrorf(payment.CodeInvalidInput, "password", "give a password of 1 to %d bytes", maxPasswordLen))
		return
	}
	token, expires, err := a.signIn(r, in)
	if err != nil {
		// No user id in the log of a refused sign-in: what was typed
		// there may be a password.
		a.fail(w, r, err)
		return
	}
	infoFrom(r.Context()).userID = in.User
	key, err := a.auth.DecisionKey(token)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, loginAnswer{Token: token, ExpiresAt: expires.In(a.cfg.Location), DecisionKey: hex.EncodeToString(key)})
}

// signIn passes a sign-in through the gate, when there is one, to Auth.
func (a *api) signIn(r *http.Request, in loginRequest) (string, time.Time, error) {
	if a.cfg.SignIn == nil {
		return a.auth.Login(r.Context(), in.User, in.Password)
	}
	done, err := a.cfg.SignIn.Admit(r.Context(), clientAddress(r), in.User)
	if err != nil {
		return "", time.Time{}, err
	}
	failed := true // a panic in Login frees the checker too
	defer func() { done(failed) }()
	token, expires, err := a.auth.Login(r.Context(), in.User, in.Password)
	code := payment.ErrorCode(err)
	failed = code == payment.CodeLoginFailed || code == payment.CodeLoginThrottled
	return token, expires, err
}

// clientAddress is the address a request came from: the TCP peer's IP.
// Headers such as X-Forwarded-For are not trusted: any client sets them.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// logout revokes the session of the request's bearer token: 204.
func (a *api) logout(w http.ResponseWriter, r *http.Request) {
	if err := a.auth.Logout(r.Context(), principalFrom(r.Context())); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type principalKey struct{}

// principalFrom returns the principal authenticated lets through.
func principalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// authenticated serves next only to a request with a valid bearer token,
// with the token's principal in the request context; others get 401 and
// WWW-Authenticate: Bearer.
func (a *api) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r)
		if !ok {
			a.fail(w, r, payment.Errorf(payment.CodeTokenInvalid, "sign in and send the token as Authorization: Bearer <token>"))
			return
		}
		p, err := a.auth.Verify(r.Context(), token)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if p.CustomerID == "" || p.UserID == "" {
			// Every query is scoped to the user's customer; a principal
			// without one would see every customer's payments. Fail closed.
			a.fail(w, r, errors.New("httpapi: Auth.Verify returned a principal without a user or customer"))
			return
		}
		infoFrom(r.Context()).userID = p.UserID
		next(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header (the scheme in any case, RFC 7235).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

// decodeBody reads a JSON request body into v: application/json, at most
// MaxBodyBytes, exactly one object, no unknown fields.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return payment.Errorf(payment.CodeInvalidInput, "send the body as Content-Type: application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return payment.Errorf(payment.CodeTooLarge, "the body is over %d bytes", MaxBodyBytes)
		}
		return payment.Errorf(payment.CodeInvalidInput, "the body could not be read")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return payment.Errorf(payment.CodeInvalidInput, "the body is not the JSON object expected: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return payment.Errorf(payment.CodeInvalidInput, "the body holds more than one JSON value")
	}
	return nil
}

// jsonProblem says what is wrong with a body in words that do not echo
// the body back (it may hold a password).
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return "malformed JSON"
	case errors.As(err, &typ):
		return "field " + typ.Field + " must be a " + typ.Type.String()
	case errors.Is(err, io.EOF):
		return "empty body"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "malformed JSON"
}
