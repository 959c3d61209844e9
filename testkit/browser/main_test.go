package browser

import (
	"testing"

	"github.com/b2bpay/b2bpay/testkit"
)

// The kit's own run also fails when a browser's goroutines outlive its test.
func TestMain(m *testing.M) { testkit.Main(m, testkit.Options{}) }
