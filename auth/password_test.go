package auth_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/payment"
)

// shippedParams are the parameters as the package ships them, read before
// init lowers them.
var shippedParams = auth.Params

func init() {
	// Cheap parameters keep the tests fast; one test checks the defaults.
	auth.Params = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
}

func TestHashAndCheckPassword(t *testing.T) {
	t.Parallel()
	const pw = "correct horse battery staple"
	h, err := auth.HashPassword(pw)
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`), h)
	require.NotContains(t, h, pw)

	ok, err := auth.CheckPassword(h, pw)
	require.NoError(t, err)
	require.True(t, ok)

	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", pw + " "} {
		ok, err := auth.CheckPassword(h, wrong)
		require.NoError(t, err)
		require.False(t, ok, "password %q must not match", wrong)
	}

	h2, err := auth.HashPassword(pw)
	require.NoError(t, err)
	require.NotEqual(t, h, h2, "every hash has its own salt")
}

func TestCheckPasswordKnownHash(t *testing.T) {
	t.Parallel()
	// Made by the reference implementation (Debian's argon2):
	// echo -n "correct horse battery staple" | argon2 saltsaltsalt -id -t 1 -m 10 -p 2 -l 32 -e
	const h = "$argon2id$v=19$m=1024,t=1,p=2$c2FsdHNhbHRzYWx0$hH8Ev5B8uFmbwqTzE/5VseRUdl8/N8M+bY4Co5V8sUY"
	ok, err := auth.CheckPassword(h, "correct horse battery staple")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = auth.CheckPassword(h, "correct horse battery stapler")
	require.NoError(t, err)
	require.False(t, ok)
}

func TestShippedParams(t *testing.T) {
	t.Parallel()
	require.Equal(t, auth.Argon2Params{Memory: 64 * 1024, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, shippedParams)
}

func TestCheckPasswordMalformed(t *testing.T) {
	t.Parallel()
	good, err := auth.HashPassword("a long enough password")
	require.NoError(t, err)
	parts := strings.Split(good, "$")
	for name, h := range map[string]string{
		"empty":         "",
		"plain text":    "a long enough password",
		"argon2i":       strings.Replace(good, "argon2id", "argon2i", 1),
		"bcrypt":        "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"old version":   strings.Replace(good, "v=19", "v=16", 1),
		"huge memory":   strings.Replace(good, "m=64,", "m=4194304,", 1),
		"zero time":     strings.Replace(good, "t=1,", "t=0,", 1),
		"leading zero":  strings.Replace(good, "m=64,", "m=064,", 1),
		"bad salt":      strings.Join([]string{"", parts[1], parts[2], parts[3], "!!!", parts[5]}, "$"),
		"short hash":    strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$"),
		"extra section": good + "$x",
	} {
		ok, err := auth.CheckPassword(h, "a long enough password")
		require.ErrorIs(t, err, auth.ErrMalformedHash, name)
		require.False(t, ok, name)
	}
}

func TestPasswordStrength(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"", "short", "elevenchars", "密码密码密码密码密码密"} {
		err := auth.CheckPasswordStrength(pw)
		require.Equal(t, payment.CodeInvalidInput, payment.ErrorCode(err), "password %q", pw)
	}
	require.Equal(t, payment.CodeInvalidInput, payment.ErrorCode(auth.CheckPasswordStrength("twelve chars\xff")))
	for _, pw := range []string{"twelve chars", "密码密码密码密码密码密码", "correct horse battery staple"} {
		require.NoError(t, auth.CheckPasswordStrength(pw), "password %q", pw)
	}
}

func TestThrottleDefaults(t *testing.T) {
	t.Parallel()
	require.Equal(t, auth.DefaultThrottle, auth.Throttle{}.WithDefaults())
	require.Equal(t, 5, auth.DefaultThrottle.MaxFailures)
	require.Equal(t, "15m0s", auth.DefaultThrottle.LockFor.String())
	custom := auth.Throttle{MaxFailures: 3, LockFor: 1}
	require.Equal(t, custom, custom.WithDefaults())
}
