package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/producers"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/server"
)

func submitCommand() *cli.Command {
	return &cli.Command{
		Name:  "submit",
		Usage: "publish one payment request as an upstream system and print b2bpay's answer",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "upstream", Required: true, Usage: "upstream id"},
			&cli.StringFlag{Name: "user-id", Usage: "user_id property (default: the user of --amqp-url, unless --hmac-key is given)"},
			&cli.StringFlag{Name: "hmac-key", Sources: cli.EnvVars("B2BPAY_UPSTREAM_HMAC_KEY"), Usage: "hex HMAC key to sign the body with"},
			&cli.StringFlag{Name: "file", Usage: "request JSON file (- for stdin); otherwise built from the flags below"},
			&cli.StringFlag{Name: "request-id"}, &cli.StringFlag{Name: "order-ref"},
			&cli.StringFlag{Name: "customer"}, &cli.StringFlag{Name: "applicant"},
			&cli.StringFlag{Name: "bank"}, &cli.StringFlag{Name: "debtor-account"},
			&cli.StringFlag{Name: "creditor-name"}, &cli.StringFlag{Name: "creditor-account"},
			&cli.StringFlag{Name: "creditor-bank"}, &cli.StringFlag{Name: "amount"},
			&cli.StringFlag{Name: "currency", Value: "CNY"}, &cli.StringFlag{Name: "remittance"},
			&cli.StringFlag{Name: "execution-date", Usage: "YYYY-MM-DD (default: today in --timezone)"},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "how long to wait for the answer"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			body, id, err := requestBody(cmd, cfg)
			if err != nil {
				return err
			}
			pc := producers.Config{URL: cfg.AMQPURL, UpstreamID: cmd.String("upstream"), UserID: cmd.String("user-id"), Logger: cfg.Logger}
			if k := cmd.String("hmac-key"); k != "" {
				if pc.HMACKey, err = hex.DecodeString(k); err != nil {
					return fmt.Errorf("--hmac-key: %w", err)
				}
			} else if pc.UserID == "" {
				u, err := url.Parse(rabbitmq.FirstURL(cfg.AMQPURL))
				if err != nil || u.User == nil {
					return errors.New("give --user-id or --hmac-key: the request must identify its upstream")
				}
				pc.UserID = u.User.Username()
			}
			ctx, cancel := context.WithTimeout(ctx, cmd.Duration("timeout"))
			defer cancel()
			client, err := producers.Dial(ctx, pc)
			if err != nil {
				return err
			}
			defer client.Close()
			if err := client.Publish(ctx, id, body); err != nil {
				return fmt.Errorf("publish: %w", err)
			}
			fmt.Fprintf(os.Stderr, "published request %s; waiting for the answer\n", id)
			// The answer waits in the upstream's status queue; submit takes
			// only it and leaves every other event there.
			ev, err := client.Await(ctx, id)
			if err != nil {
				return err
			}
			out, _ := json.MarshalIndent(ev, "", "  ")
			fmt.Fprintln(cmd.Root().Writer, string(out))
			if ev.Kind == payment.EventRefused {
				return cli.Exit("", 3)
			}
			return nil
		},
	}
}

// requestBody reads the request from --file or builds it from the flags,
// and returns it with the message id to publish it under (its request id).
func requestBody(cmd *cli.Command, cfg server.Config) ([]byte, string, error) {
	if f := cmd.String("file"); f != "" {
		var body []byte
		var err error
		if f == "-" {
			body, err = readAll(os.Stdin)
		} else {
			body, err = os.ReadFile(f)
		}
		if err != nil {
			return nil, "", err
		}
		var head struct {
			RequestID string `json:"request_id"`
		}
		_ = json.Unmarshal(body, &head)
		if head.RequestID == "" {
			head.RequestID = fmt.Sprintf("submit-%d", time.Now().UnixNano())
		}
		return body, head.RequestID, nil
	}
	date := cmd.String("execution-date")
	if date == "" {
		date = time.Now().In(cfg.Location).Format(payment.DateLayout)
	}
	r := payment.Request{
		SchemaVersion: payment.SchemaVersion, RequestID: cmd.String("request-id"), OrderRef: cmd.String("order-ref"),
		CustomerID: cmd.String("customer"), Applicant: cmd.String("applicant"), BankID: cmd.String("bank"),
		DebtorAccount: cmd.String("debtor-account"),
		Creditor:      payment.Creditor{Name: cmd.String("creditor-name"), Account: cmd.String("creditor-account"), BankID: cmd.String("creditor-bank")},
		Amount:        cmd.String("amount"), Currency: cmd.String("currency"), Remittance: cmd.String("remittance"), ExecutionDate: date,
	}
	if r.RequestID == "" {
		return nil, "", errors.New("give --file, or --request-id and the other request flags")
	}
	body, err := json.Marshal(r)
	return body, r.RequestID, err
}

func readAll(f *os.File) ([]byte, error) { return io.ReadAll(f) }
