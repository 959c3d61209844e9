package payment_test

import (
	"errors"
	"testing"

	"github.com/b2bpay/b2bpay/payment"
)

// TestSecurityUpstreamIDAlphabet: an upstream id is a word of routing keys
// and a queue name, so nothing the broker reads as a separator, wildcard or
// regular expression operator gets in (erp.sh would read erp's events).
func TestSecurityUpstreamIDAlphabet(t *testing.T) {
	for _, ok := range []string{"erp", "erp-sh", "erp_sh", "ERP2", "a", "0mall", string(make64('a'))} {
		if err := payment.ValidUpstreamID("upstream id", ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "erp.sh", "erp.", "erp*", "erp#", "#", "*", "erp sh", "-erp", "_erp", "erp:sh",
		"erp/sh", "erp|sh", "erp$", "erp(x)", "erp\n", "ерп", string(make64('a')) + "a"} {
		err := payment.ValidUpstreamID("upstream id", bad)
		var fe *payment.Error
		if err == nil || !errors.As(err, &fe) || fe.Field != "upstream id" {
			t.Errorf("%q: want a field error on upstream id, got %v", bad, err)
		}
	}
}

func make64(c byte) []byte {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return b
}
