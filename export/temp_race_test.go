package export

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAtomicWriteBesideCleaner: another exporter's cleaner running all the
// while (as at its start, beside a runner already writing) never makes a
// write fail: a temporary file it takes before its writer locked it is
// replaced by a new one, and every file lands whole.
func TestAtomicWriteBesideCleaner(t *testing.T) {
	dir := t.TempDir()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = cleanTemps(dir, time.Now())
			}
		}
	}()
	for i := range 300 {
		path := filepath.Join(dir, fmt.Sprintf("f-%03d.xml", i))
		err := atomicWrite(path, nil, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "file %d", i)
			return err
		})
		require.NoError(t, err, "write %d", i)
	}
	close(stop)
	wg.Wait()
	for i := range 300 {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("f-%03d.xml", i)))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("file %d", i), string(b))
	}
}
