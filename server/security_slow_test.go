package server

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSecuritySlowClient: clients that open connections and never finish
// their request headers (slowloris) neither hold a connection past the
// header timeout nor keep anyone else from being served.
func TestSecuritySlowClient(t *testing.T) {
	a := &App{Log: slog.New(slog.DiscardHandler)}
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv, addr, err := a.serveHTTP("test API", "127.0.0.1:0", h)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })

	const slow = 32
	var wg sync.WaitGroup
	closed := make(chan time.Duration, slow)
	for range slow {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		// Half a request line and one header, then nothing more.
		_, err = io.WriteString(conn, "GET /v1/payments HTTP/1.1\r\nHost: b2bpay\r\n")
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_ = conn.SetReadDeadline(start.Add(30 * time.Second))
			// The server answers nothing and closes the connection (or
			// answers 408) once its header timeout passes.
			_, _ = io.Copy(io.Discard, conn)
			closed <- time.Since(start)
		}()
	}

	// Meanwhile, an ordinary client is served at once.
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/")
	require.NoError(t, err)
	body, err := io.ReadAll(bufio.NewReader(resp.Body))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, "ok", string(body))

	wg.Wait()
	close(closed)
	for d := range closed {
		// ReadHeaderTimeout is 5 s; a connection still open at the 30 s
		// deadline means slow clients can hold connections for ever.
		require.Less(t, d, 20*time.Second, "a slow client's connection was held open")
	}
}
