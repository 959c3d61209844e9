package httpapi_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPanicGives500AndServingGoesOn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.submit(t, b.mine)

	// Panics in many requests at once, while others are served.
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			a := b.do(t, http.MethodGet, "/v1/payments/"+p.ID, panicToken, "")
			msg := a.requireError(t, http.StatusInternalServerError, "internal")
			require.Contains(t, msg, a.header.Get("X-Request-Id"), "the message names the request for support")
			require.NotContains(t, msg, "fake auth")
		})
		wg.Go(func() {
			require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/payments/"+p.ID, b.mine.token, "").status)
		})
	}
	wg.Wait()
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/payments/"+p.ID, b.mine.token, "").status)
	logs := b.logs.String()
	require.Contains(t, logs, `"msg":"handler panicked"`)
	require.Contains(t, logs, "fake auth: a bug", "the panic is logged")
	require.Contains(t, logs, `"stack":`)
	require.NotContains(t, logs, panicToken)
}

func TestInfrastructureErrorIsNotLeaked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.do(t, http.MethodGet, "/v1/payments", brokenToken, "")
	msg := a.requireError(t, http.StatusInternalServerError, "internal")
	require.NotContains(t, string(a.body), infraDetail)
	require.Contains(t, msg, a.header.Get("X-Request-Id"))
	logs := b.logs.String()
	require.Contains(t, logs, infraDetail)
	require.Contains(t, logs, `"request_id":"`+a.header.Get("X-Request-Id")+`"`)
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.do(t, http.MethodGet, "/healthz", "", "")
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, "ok", string(a.body))
	require.Equal(t, "no-store", a.header.Get("Cache-Control"))
}

func TestMissesAreJSON(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.do(t, http.MethodGet, "/v1/nothing", b.mine.token, "").requireError(t, http.StatusNotFound, "not_found")
	b.do(t, http.MethodGet, "/", "", "").requireError(t, http.StatusNotFound, "not_found")

	a := b.do(t, http.MethodPut, "/v1/payments/x", b.mine.token, "")
	a.requireError(t, http.StatusMethodNotAllowed, "method_not_allowed")
	require.Contains(t, a.header.Get("Allow"), http.MethodGet)
	a = b.do(t, http.MethodGet, "/v1/sessions", "", "")
	a.requireError(t, http.StatusMethodNotAllowed, "method_not_allowed")
	require.Contains(t, a.header.Get("Allow"), http.MethodPost)
	require.Equal(t, "no-store", a.header.Get("Cache-Control"))
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, b.srv.URL+"/healthz", nil)
	require.NoError(t, err)
	req.Header.Set("X-Request-Id", "caller-id-42")
	require.Equal(t, "caller-id-42", send(t, req).header.Get("X-Request-Id"), "a sane caller id is kept")

	req.Header.Set("X-Request-Id", "evil\"id with spaces"+strings.Repeat("x", 80))
	id := send(t, req).header.Get("X-Request-Id")
	require.Len(t, id, 24, "anything else is replaced")
	require.Contains(t, b.logs.String(), `"request_id":"`+id+`"`)

	req.Header.Del("X-Request-Id")
	require.NotEqual(t, id, send(t, req).header.Get("X-Request-Id"))
}

func TestEveryAnswerIsUncached(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.submit(t, b.mine)
	b.auth.addUser("gina", fakeUser{password: "pw-gina", customerID: b.mine.customer.ID})
	for _, a := range []answer{
		b.do(t, http.MethodGet, "/v1/payments/"+p.ID, b.mine.token, ""),
		b.do(t, http.MethodGet, "/v1/payments", b.mine.token, ""),
		b.do(t, http.MethodGet, "/v1/payments/"+p.ID, "", ""),
		b.do(t, http.MethodGet, "/v1/payments/"+p.ID, panicToken, ""),
		b.do(t, http.MethodPost, "/v1/sessions", "", `{"user":"gina","password":"pw-gina"}`),
	} {
		require.Equal(t, "no-store", a.header.Get("Cache-Control"), "status %d", a.status)
		require.Equal(t, "nosniff", a.header.Get("X-Content-Type-Options"), "status %d", a.status)
		require.NotEmpty(t, a.header.Get("X-Request-Id"), "status %d", a.status)
	}
}
