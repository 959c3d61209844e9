package bench

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBatchSizes(t *testing.T) {
	sizes, err := BatchSizes(" 100, 1000,,5000")
	require.NoError(t, err)
	require.Equal(t, []int{100, 1000, 5000}, sizes)
	sizes, err = BatchSizes("")
	require.NoError(t, err)
	require.Empty(t, sizes, "empty: no batch stage")
	for _, bad := range []string{"0", "-1", "5001", "ten", "100,x"} {
		_, err := BatchSizes(bad)
		require.Error(t, err, bad)
	}
}

func TestEndToEndName(t *testing.T) {
	require.Equal(t, "end-to-end-1m", EndToEndName(1_000_000), "the issue's name for the million")
	require.Equal(t, "end-to-end-batch/50000", EndToEndName(50_000))
}
