package testkit

import (
	"crypto/rand"
	"encoding/hex"
	"math/big"
	"strings"
)

// RandomHex returns n random bytes as hex: suffixes that keep each test's
// registry rows, ids and queues apart from every other test's.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RandomDigits returns n random decimal digits (account numbers, codes).
func RandomDigits(n int) string {
	var s strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		s.WriteString(d.String())
	}
	return s.String()
}
