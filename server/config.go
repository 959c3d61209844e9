package server

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/secret"
)

// Defaults for the local services.
const (
	defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/b2bpay?sslmode=disable"
	defaultAMQPURL     = "amqp://guest:guest@127.0.0.1:5672/"
	defaultTimezone    = "Asia/Shanghai"
)

// globalFlags are read by every subcommand; each has an environment variable.
var globalFlags = []cli.Flag{
	&cli.StringFlag{Name: "database-url", Value: defaultDatabaseURL, Sources: cli.EnvVars("B2BPAY_DATABASE_URL"), Usage: "PostgreSQL URL"},
	&cli.StringFlag{Name: "amqp-url", Value: defaultAMQPURL, Sources: cli.EnvVars("B2BPAY_AMQP_URL"), Usage: "RabbitMQ URL (user, password, vhost)"},
	&cli.StringFlag{Name: "timezone", Value: defaultTimezone, Sources: cli.EnvVars("B2BPAY_TIMEZONE"), Usage: "customers' time zone, for business dates and display"},
	&cli.StringFlag{Name: "master-key-file", Sources: cli.EnvVars("B2BPAY_MASTER_KEY_FILE"), Usage: "file with the 32-byte key (base64 or hex) that seals secrets; or set B2BPAY_MASTER_KEY"},
	&cli.StringFlag{Name: "log-level", Value: "info", Sources: cli.EnvVars("B2BPAY_LOG_LEVEL"), Usage: "debug, info, warn or error"},
	&cli.StringFlag{Name: "log-format", Value: "text", Sources: cli.EnvVars("B2BPAY_LOG_FORMAT"), Usage: "text or json"},
}

// config is everything read from flags and the environment, checked once.
type config struct {
	DatabaseURL string
	AMQPURL     string
	Location    *time.Location
	Logger      *slog.Logger
	keyFile     string
}

func loadConfig(cmd *cli.Command) (config, error) {
	loc, err := time.LoadLocation(cmd.String("timezone"))
	if err != nil {
		return config{}, fmt.Errorf("timezone %q: %w", cmd.String("timezone"), err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cmd.String("log-level"))); err != nil {
		return config{}, fmt.Errorf("log level %q: %w", cmd.String("log-level"), err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch cmd.String("log-format") {
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	default:
		return config{}, fmt.Errorf("log format %q: want text or json", cmd.String("log-format"))
	}
	return config{
		DatabaseURL: cmd.String("database-url"),
		AMQPURL:     cmd.String("amqp-url"),
		Location:    loc,
		Logger:      slog.New(h),
		keyFile:     cmd.String("master-key-file"),
	}, nil
}

// errNoKey is returned when a command that handles secrets has no key.
var errNoKey = errors.New("no master key: set B2BPAY_MASTER_KEY (32 bytes, base64 or hex; `b2bpay keygen` makes one) or B2BPAY_MASTER_KEY_FILE")

// masterKey reads the master key from the key file or B2BPAY_MASTER_KEY.
// Without a key it fails: no key, no start.
func (c config) masterKey() ([]byte, error) {
	switch {
	case c.keyFile != "":
		return secret.LoadKeyFile(c.keyFile)
	case strings.TrimSpace(os.Getenv("B2BPAY_MASTER_KEY")) != "":
		return secret.ParseKey(os.Getenv("B2BPAY_MASTER_KEY"))
	}
	return nil, errNoKey
}

func sealerFor(key []byte) (*secret.Sealer, error) {
	return secret.NewSealer(1, map[byte][]byte{1: key})
}
