package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/server"
)

// Defaults for the local services.
const (
	defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/b2bpay?sslmode=disable"
	defaultAMQPURL     = "amqp://guest:guest@127.0.0.1:5672/"
	defaultTimezone    = "Asia/Shanghai"
)

// globalFlags are read by every subcommand; each has an environment variable.
var globalFlags = []cli.Flag{
	&cli.StringFlag{Name: "database-url", Value: defaultDatabaseURL, Sources: cli.EnvVars("B2BPAY_DATABASE_URL"), Usage: "PostgreSQL URL; several hosts: postgres://h1:5432,h2:5432/db?target_session_attrs=read-write"},
	&cli.StringFlag{Name: "amqp-url", Value: defaultAMQPURL, Sources: cli.EnvVars("B2BPAY_AMQP_URL"), Usage: "RabbitMQ URL (user, password, vhost), or a comma-separated list of a cluster's nodes"},
	&cli.StringFlag{Name: "timezone", Value: defaultTimezone, Sources: cli.EnvVars("B2BPAY_TIMEZONE"), Usage: "customers' time zone, for business dates and display"},
	&cli.StringFlag{Name: "master-key-file", Sources: cli.EnvVars("B2BPAY_MASTER_KEY_FILE"), Usage: "file with the 32-byte key (base64 or hex) that seals secrets; or set B2BPAY_MASTER_KEY"},
	&cli.StringFlag{Name: "log-level", Value: "info", Sources: cli.EnvVars("B2BPAY_LOG_LEVEL"), Usage: "debug, info, warn or error"},
	&cli.StringFlag{Name: "log-format", Value: "text", Sources: cli.EnvVars("B2BPAY_LOG_FORMAT"), Usage: "text or json"},
}

// loadConfig reads and checks the global flags once.
func loadConfig(cmd *cli.Command) (server.Config, error) {
	loc, err := time.LoadLocation(cmd.String("timezone"))
	if err != nil {
		return server.Config{}, fmt.Errorf("timezone %q: %w", cmd.String("timezone"), err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cmd.String("log-level"))); err != nil {
		return server.Config{}, fmt.Errorf("log level %q: %w", cmd.String("log-level"), err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch cmd.String("log-format") {
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	default:
		return server.Config{}, fmt.Errorf("log format %q: want text or json", cmd.String("log-format"))
	}
	return server.Config{DatabaseURL: cmd.String("database-url"), AMQPURL: cmd.String("amqp-url"), Location: loc,
		Logger: slog.New(h), KeyFile: cmd.String("master-key-file")}, nil
}

// withDB runs fn with the database side of b2bpay open.
func withDB(ctx context.Context, cmd *cli.Command, fn func(*server.App) error) error {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	a, err := server.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(a)
}

// onApp is the action of a command that works on the database side of
// b2bpay: fn runs with it open (withDB).
func onApp(fn func(context.Context, *cli.Command, *server.App) error) cli.ActionFunc {
	return func(ctx context.Context, cmd *cli.Command) error {
		return withDB(ctx, cmd, func(a *server.App) error { return fn(ctx, cmd, a) })
	}
}
