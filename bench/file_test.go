package bench

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestExportWriteFiles checks what export-write times: files of perFile
// (the last one short) that are valid pacs.008 against the XSD, with
// distinct end-to-end ids within each file and a message id of their own.
func TestExportWriteFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r, err := ExportWrite(dir, 25, 10)
	require.NoError(t, err)
	require.Equal(t, 25, r.Count)
	names, err := filepath.Glob(filepath.Join(dir, "pacs008-*.xml"))
	require.NoError(t, err)
	require.Len(t, names, 3)
	xmllint, err := exec.LookPath("xmllint")
	require.NoError(t, err, "xmllint (Debian: apt-get install -y libxml2-utils)")
	msgIDs := map[string]bool{}
	var counts []int
	for _, name := range names {
		out, err := exec.Command(xmllint, "--noout", "--schema", "../iso20022/testdata/xsd/pacs.008.001.08.xsd", name).CombinedOutput()
		require.NoError(t, err, string(out))
		raw, err := os.ReadFile(name)
		require.NoError(t, err)
		var doc struct {
			MsgID string   `xml:"FIToFICstmrCdtTrf>GrpHdr>MsgId"`
			E2E   []string `xml:"FIToFICstmrCdtTrf>CdtTrfTxInf>PmtId>EndToEndId"`
		}
		require.NoError(t, xml.Unmarshal(raw, &doc))
		require.False(t, msgIDs[doc.MsgID], "message id %s twice", doc.MsgID)
		msgIDs[doc.MsgID] = true
		seen := map[string]bool{}
		for _, id := range doc.E2E {
			require.False(t, seen[id], "end-to-end id %s twice in %s", id, name)
			seen[id] = true
		}
		counts = append(counts, len(doc.E2E))
	}
	require.Equal(t, []int{10, 10, 5}, counts)
}
