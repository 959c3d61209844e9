package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	s, err := NewSealer(1, map[byte][]byte{1: NewKey()})
	require.NoError(t, err)
	sealed := s.Seal([]byte("hmac-key"), []byte("upstream:erp"))
	require.False(t, bytes.Contains(sealed, []byte("hmac-key")))
	plain, err := s.Open(sealed, []byte("upstream:erp"))
	require.NoError(t, err)
	require.Equal(t, "hmac-key", string(plain))

	// Swapped to another row: refused.
	_, err = s.Open(sealed, []byte("upstream:crm"))
	require.ErrorIs(t, err, ErrOpen)
	// Any flipped bit: refused.
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		_, err = s.Open(bad, []byte("upstream:erp"))
		require.ErrorIs(t, err, ErrOpen, "byte %d", i)
	}
	_, err = s.Open(nil, nil)
	require.ErrorIs(t, err, ErrOpen)
}

func TestRotation(t *testing.T) {
	t.Parallel()
	k1, k2 := NewKey(), NewKey()
	old, err := NewSealer(1, map[byte][]byte{1: k1})
	require.NoError(t, err)
	sealed := old.Seal([]byte("seed"), []byte("u"))
	both, err := NewSealer(2, map[byte][]byte{1: k1, 2: k2})
	require.NoError(t, err)
	plain, err := both.Open(sealed, []byte("u"))
	require.NoError(t, err)
	require.Equal(t, "seed", string(plain))
	require.Equal(t, byte(2), both.Seal([]byte("x"), nil)[0])
	onlyNew, err := NewSealer(2, map[byte][]byte{2: k2})
	require.NoError(t, err)
	_, err = onlyNew.Open(sealed, []byte("u"))
	require.ErrorIs(t, err, ErrOpen)
}

func TestNewSealerRefusesBadKeys(t *testing.T) {
	t.Parallel()
	_, err := NewSealer(1, map[byte][]byte{1: make([]byte, 16)})
	require.Error(t, err)
	_, err = NewSealer(2, map[byte][]byte{1: NewKey()})
	require.Error(t, err)
}

func TestParseKeyAndFile(t *testing.T) {
	t.Parallel()
	k := NewKey()
	for _, s := range []string{base64.StdEncoding.EncodeToString(k), hex.EncodeToString(k), " " + base64.RawURLEncoding.EncodeToString(k) + "\n"} {
		got, err := ParseKey(s)
		require.NoError(t, err)
		require.Equal(t, k, got)
	}
	_, err := ParseKey("short")
	require.Error(t, err)

	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(path, []byte(hex.EncodeToString(k)), 0o644))
	_, err = LoadKeyFile(path)
	require.ErrorContains(t, err, "readable by others")
	require.NoError(t, os.Chmod(path, 0o600))
	got, err := LoadKeyFile(path)
	require.NoError(t, err)
	require.Equal(t, k, got)
}
