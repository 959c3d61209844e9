package console

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/b2bpay/b2bpay/staff"
)

// The console's session is the API's session (its token and decision
// key) and a CSRF token, sealed with AES-256-GCM into an HttpOnly,
// SameSite=Strict cookie: nothing the browser can read or change, and
// nothing the console must keep, so any console process serves any
// person. Signing out revokes the API session itself.

// session is what the cookie holds.
type session struct {
	staff.Session
	CSRF string `json:"csrf"`
}

const (
	sessionAD     = "b2bpay console session v1"
	preAD         = "b2bpay console sign-in v1"
	maxCookieSize = 3 << 10
)

func (c *Console) cookieName(base string) string {
	if c.cfg.Insecure {
		return "b2bpay_" + base
	}
	return "__Host-b2bpay_" + base
}

// seal encrypts v for the cookie, bound to ad.
func (c *Console) seal(v any, ad string) (string, error) {
	block, err := aes.NewCipher(c.cfg.CookieKey)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(gcm.Seal(nonce, nonce, plain, []byte(ad))), nil
}

// open decrypts a cookie value sealed with ad into v.
func (c *Console) open(s, ad string, v any) error {
	if len(s) > maxCookieSize {
		return errors.New("cookie too large")
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	block, err := aes.NewCipher(c.cfg.CookieKey)
	if err != nil {
		return err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	if len(raw) < gcm.NonceSize() {
		return errors.New("cookie too short")
	}
	plain, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], []byte(ad))
	if err != nil {
		return err
	}
	return json.Unmarshal(plain, v)
}

// setCookie sets an HttpOnly, SameSite=Strict cookie (Secure unless the
// console was told it is reached over plain HTTP); maxAge < 0 deletes it.
func (c *Console) setCookie(w http.ResponseWriter, name, value string, expires time.Time, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: c.cookieName(name), Value: value, Path: "/", Expires: expires, MaxAge: maxAge,
		HttpOnly: true, Secure: !c.cfg.Insecure, SameSite: http.SameSiteStrictMode})
}

// randomToken is 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

type sessionKey struct{}

// sessionFrom is the signed-in session signedIn put in the context.
func sessionFrom(ctx context.Context) session {
	s, _ := ctx.Value(sessionKey{}).(session)
	return s
}

// signedIn serves next only with a valid, unexpired session; others go
// to the sign-in page, told why. Every POST must carry the session's CSRF
// token and come from this origin.
func (c *Console) signedIn(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(c.cookieName("session"))
		if err != nil {
			c.toLogin(w, r, "")
			return
		}
		var s session
		if err := c.open(ck.Value, sessionAD, &s); err != nil {
			c.setCookie(w, "session", "", time.Time{}, -1)
			c.toLogin(w, r, "")
			return
		}
		if !c.cfg.Now().Before(s.ExpiresAt) {
			c.setCookie(w, "session", "", time.Time{}, -1)
			c.toLogin(w, r, "expired")
			return
		}
		if c.cfg.CheckToken != nil {
			if err := c.cfg.CheckToken(r.Context(), s.Token); err != nil {
				c.setCookie(w, "session", "", time.Time{}, -1)
				c.toLogin(w, r, "revoked")
				return
			}
		}
		if r.Method == http.MethodPost {
			if !sameOrigin(r) || !tokenEqual(r.PostFormValue("csrf"), s.CSRF) {
				c.forbidden(w, r, s)
				return
			}
		}
		next(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
	}
}

// toLogin sends the browser to the sign-in page with why ("expired",
// "revoked" or nothing); a poll of /counts gets 401 instead.
func (c *Console) toLogin(w http.ResponseWriter, r *http.Request, why string) {
	if r.URL.Path == "/counts" {
		http.Error(w, "sign in again", http.StatusUnauthorized)
		return
	}
	to := "/login"
	if why != "" {
		to += "?why=" + why
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}
