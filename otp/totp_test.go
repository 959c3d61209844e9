package otp_test

import (
	"bytes"
	"encoding/base32"
	"fmt"
	"image/png"
	"os/exec"
	"strings"
	"testing"
	"time"

	pqotp "github.com/pquerna/otp"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/otp"
)

// RFC 6238 Appendix B: each algorithm has its own seed length.
var (
	seedSHA1   = []byte("12345678901234567890")
	seedSHA256 = []byte("12345678901234567890123456789012")
	seedSHA512 = []byte("1234567890123456789012345678901234567890123456789012345678901234")
)

func TestRFC6238Vectors(t *testing.T) {
	t.Parallel()
	for _, v := range []struct {
		unix                 int64
		step                 int64
		sha1, sha256, sha512 string
	}{
		{59, 1, "94287082", "46119246", "90693936"},
		{1111111109, 0x23523EC, "07081804", "68084774", "25091201"},
		{1111111111, 0x23523ED, "14050471", "67062674", "99943326"},
		{1234567890, 0x273EF07, "89005924", "91819424", "93441116"},
		{2000000000, 0x3F940AA, "69279037", "90698825", "38618901"},
		{20000000000, 0x27BC86AA, "65353130", "77737706", "47863826"},
	} {
		now := time.Unix(v.unix, 0)
		for _, a := range []struct {
			alg  string
			seed []byte
			code string
		}{{"SHA1", seedSHA1, v.sha1}, {"SHA256", seedSHA256, v.sha256}, {"SHA512", seedSHA512, v.sha512}} {
			o := otp.Options{Digits: 8, Algorithm: a.alg}
			name := fmt.Sprintf("%s at %d", a.alg, v.unix)
			step, ok := otp.Match(a.seed, a.code, now, o)
			require.True(t, ok, name)
			require.Equal(t, v.step, step, name)
			code, err := otp.CodeAt(a.seed, v.step, o)
			require.NoError(t, err)
			require.Equal(t, a.code, code, name)

			wrong := []byte(a.code)
			wrong[7] = '0' + (wrong[7]-'0'+1)%10
			_, ok = otp.Match(a.seed, string(wrong), now, o)
			require.False(t, ok, "%s: wrong code %s", name, wrong)
			_, ok = otp.Match(seedSHA1[:19], a.code, now, o)
			require.False(t, ok, "%s: another seed", name)
		}
	}
}

func TestSkew(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 10, 0, 10, 0, time.UTC)
	cur, err := otp.Step(now, otp.Options{})
	require.NoError(t, err)
	require.Equal(t, now.Unix()/30, cur)
	for _, tc := range []struct {
		skew   int
		offset int64
		ok     bool
	}{
		{0, 0, true}, {0, -1, true}, {0, 1, true}, {0, -2, false}, {0, 2, false},
		{-1, 0, true}, {-1, -1, false}, {-1, 1, false},
		{2, -2, true}, {2, 2, true}, {2, 3, false},
	} {
		o := otp.Options{Skew: tc.skew}
		code, err := otp.CodeAt(seedSHA1, cur+tc.offset, o)
		require.NoError(t, err)
		step, ok := otp.Match(seedSHA1, code, now, o)
		require.Equal(t, tc.ok, ok, "skew %d, step %+d", tc.skew, tc.offset)
		if tc.ok {
			require.Equal(t, cur+tc.offset, step)
		}
	}
}

func TestMatchRefusesMalformedCodes(t *testing.T) {
	t.Parallel()
	now := time.Unix(1234567890, 0)
	code, err := otp.CodeAt(seedSHA1, now.Unix()/30, otp.Options{})
	require.NoError(t, err)
	_, ok := otp.Match(seedSHA1, code, now, otp.Options{})
	require.True(t, ok)
	for _, bad := range []string{
		"", code[:5], code + "0", " " + code, code[:5] + " ", "+" + code[1:],
		code[:5] + "a", "١٢٣٤٥٦", "000000", code + "\x00",
	} {
		if bad == code {
			continue
		}
		_, ok := otp.Match(seedSHA1, bad, now, otp.Options{})
		require.False(t, ok, "code %q", bad)
	}
	for _, o := range []otp.Options{{Digits: 5}, {Digits: 9}, {Algorithm: "MD5"}, {Period: 1500 * time.Millisecond}} {
		_, ok := otp.Match(seedSHA1, code, now, o)
		require.False(t, ok, "options %+v", o)
		_, err := otp.CodeAt(seedSHA1, 1, o)
		require.Error(t, err, "options %+v", o)
	}
	_, ok = otp.Match(nil, code, now, otp.Options{})
	require.False(t, ok, "no seed")
}

func TestOathtoolAgrees(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("oathtool"); err != nil {
		t.Fatal("oathtool is needed (apt-get install oathtool)")
	}
	secret, _, err := otp.Generate("b2bpay", "alice")
	require.NoError(t, err)
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	for _, tc := range []struct {
		alg    string
		digits int
		at     string
	}{{"SHA1", 6, "2026-11-27 10:00:00 UTC"}, {"SHA256", 8, "2026-11-27 10:00:29 UTC"}, {"SHA512", 6, "2031-01-01 00:00:00 UTC"}} {
		out, err := exec.Command("oathtool", "--totp="+tc.alg, "--digits", fmt.Sprint(tc.digits), "-b", b32, "--now", tc.at).Output()
		require.NoError(t, err)
		code := strings.TrimSpace(string(out))
		require.Len(t, code, tc.digits)
		at, err := time.Parse("2006-01-02 15:04:05 MST", tc.at)
		require.NoError(t, err)
		o := otp.Options{Digits: tc.digits, Algorithm: tc.alg, Skew: -1}
		step, ok := otp.Match(secret, code, at, o)
		require.True(t, ok, "oathtool's %s code %s at %s", tc.alg, code, tc.at)
		require.Equal(t, at.Unix()/30, step)
		_, ok = otp.Match(secret, code, at.Add(2*time.Minute), otp.Options{Digits: tc.digits, Algorithm: tc.alg})
		require.False(t, ok, "two minutes later the code is stale")
	}
}

func TestGenerate(t *testing.T) {
	t.Parallel()
	secret, uri, err := otp.Generate("b2bpay 中国银行", "alice@CUST-1")
	require.NoError(t, err)
	require.Len(t, secret, otp.SecretSize)
	key, err := pqotp.NewKeyFromURL(uri)
	require.NoError(t, err)
	require.Equal(t, "totp", key.Type())
	require.Equal(t, "b2bpay 中国银行", key.Issuer())
	require.Equal(t, "alice@CUST-1", key.AccountName())
	require.Equal(t, uint64(30), key.Period())
	require.Equal(t, pqotp.DigitsSix, key.Digits())
	require.Equal(t, pqotp.AlgorithmSHA1, key.Algorithm())
	decoded, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key.Secret())
	require.NoError(t, err)
	require.Equal(t, secret, decoded)

	other, _, err := otp.Generate("b2bpay", "alice")
	require.NoError(t, err)
	require.NotEqual(t, secret, other, "seeds are random")
	_, _, err = otp.Generate("", "alice")
	require.Error(t, err)
}

func TestQRCodePNG(t *testing.T) {
	t.Parallel()
	_, uri, err := otp.Generate("b2bpay", "alice")
	require.NoError(t, err)
	b, err := otp.QRCodePNG(uri, 256)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err)
	require.Equal(t, 256, img.Bounds().Dx())
	require.Equal(t, 256, img.Bounds().Dy())
	// A QR code has both dark and light modules.
	dark, light := 0, 0
	for y := 0; y < 256; y += 4 {
		for x := 0; x < 256; x += 4 {
			if r, _, _, _ := img.At(x, y).RGBA(); r < 0x8000 {
				dark++
			} else {
				light++
			}
		}
	}
	require.Positive(t, dark)
	require.Positive(t, light)

	_, err = otp.QRCodePNG("https://example.com", 256)
	require.Error(t, err)
	_, err = otp.QRCodePNG(uri, 10)
	require.Error(t, err)
}
