package httpapi_test

import (
	"encoding/hex"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSecurityLoginGivesDecisionKey: sign-in answers the session's decision
// key (with which the staff client signs its decisions) beside the token,
// and never logs it.
func TestSecurityLoginGivesDecisionKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const password = "correct horse battery staple"
	b.auth.addUser("bob", fakeUser{password: password, customerID: b.mine.customer.ID})
	a := b.do(t, http.MethodPost, "/v1/sessions", "", `{"user":"bob","password":"`+password+`"}`)
	require.Equal(t, http.StatusCreated, a.status, "body: %s", a.body)
	var session struct {
		Token       string `json:"token"`
		DecisionKey string `json:"decision_key"`
	}
	a.decode(t, &session)
	key, err := hex.DecodeString(session.DecisionKey)
	require.NoError(t, err)
	require.Len(t, key, 32)
	require.NotContains(t, b.logs.String(), session.DecisionKey)
}
