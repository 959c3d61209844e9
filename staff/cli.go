package staff

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// The command line's steps that are more than a flag: signing in and out
// with the session file, reading a secret.

// SignIn signs in with a password through the API at api and keeps the
// session at sessionPath ("" for the default); it tells out who is signed
// in until when.
func SignIn(ctx context.Context, api, user, password, sessionPath string, out io.Writer) error {
	s, err := Login(ctx, api, user, password)
	if err != nil {
		return err
	}
	path, err := SessionPath(sessionPath)
	if err != nil {
		return err
	}
	if err := s.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(out, "signed in as %s of %s until %s\n", s.UserID, s.CustomerID, s.ExpiresAt.Format(time.RFC3339))
	return nil
}

// SignOut revokes the session kept at sessionPath ("" for the default)
// and forgets it.
func SignOut(ctx context.Context, api, sessionPath string, out io.Writer) error {
	path, err := SessionPath(sessionPath)
	if err != nil {
		return err
	}
	s, err := LoadSession(path)
	if err != nil {
		return err
	}
	if err := Logout(ctx, api, s); err != nil {
		return err
	}
	_ = os.Remove(path)
	fmt.Fprintln(out, "signed out")
	return nil
}

// ReadSecret reads a password or code from a file, or one line of stdin
// after writing prompt to stderr.
func ReadSecret(file, prompt string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		return strings.TrimRight(string(b), "\r\n"), err
	}
	fmt.Fprint(os.Stderr, prompt)
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
