package server

import (
	"errors"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/secret"
)

// Config is everything the command line and the environment say, read and
// checked once by the command (cmd/b2bpay).
type Config struct {
	DatabaseURL string
	AMQPURL     string
	// Location is the customers' time zone, for business dates and display.
	Location *time.Location
	Logger   *slog.Logger
	// KeyFile is the file of the master key; "" reads B2BPAY_MASTER_KEY.
	KeyFile string
}

// ErrNoKey is returned when a command that handles secrets has no key.
var ErrNoKey = errors.New("no master key: set B2BPAY_MASTER_KEY (32 bytes, base64 or hex; `b2bpay keygen` makes one) or B2BPAY_MASTER_KEY_FILE")

// MasterKey reads the master key from the key file or B2BPAY_MASTER_KEY.
// Without a key it fails: no key, no start.
func (c Config) MasterKey() ([]byte, error) {
	switch {
	case c.KeyFile != "":
		return secret.LoadKeyFile(c.KeyFile)
	case strings.TrimSpace(os.Getenv("B2BPAY_MASTER_KEY")) != "":
		return secret.ParseKey(os.Getenv("B2BPAY_MASTER_KEY"))
	}
	return nil, ErrNoKey
}

func sealerFor(key []byte) (*secret.Sealer, error) {
	return secret.NewSealer(1, map[byte][]byte{1: key})
}
