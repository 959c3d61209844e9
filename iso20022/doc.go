// Package iso20022 writes the interbank files b2bpay exports and reads the
// status reports that come back, with the standard library only.
//
// # Writing files
//
// A Format writes one standard. Pacs008 writes pacs.008.001.08
// (FIToFICstmrCdtTrf, the interbank customer credit transfer):
//
//	var buf bytes.Buffer // or a temporary file, renamed on success
//	err := iso20022.Pacs008().Write(&buf, group, next)
//
// Group is the file's header (message id, creation time, settlement date,
// currency, count, control sum, optional instructing and instructed
// banks); next yields the transactions one at a time, so a batch of a
// million payments streams from the database to the file without being
// held in memory. Output is deterministic: nothing is read from the clock
// or from map order, so the same input gives the same bytes, and a file
// can be rebuilt and compared. Amounts are int64 minor units formatted
// with exactly the currency's minor digits (payment.FormatAmount and
// payment.CurrencyExponent); no float is ever involved. Text must be valid
// UTF-8 made of XML 1.0 characters; anything else is refused rather than
// silently replaced (ErrInvalidField), and a mismatch between the
// transactions and the header is refused (ErrMismatch). Chinese text is
// written as UTF-8, unchanged. Times are written as UTC with an explicit
// offset (2026-11-27T09:30:00+00:00): "Z" would be as valid for the XSD,
// but usage guidelines that restrict the form (CBPR+, and the Fedwire
// samples) use an offset. Bank ids are 12-digit CNAPS codes (written as
// ClrSysMmbId with ClrSysId/Cd CNAPS) or BICs (BICFI).
//
// # Reading status reports
//
// ReadStatusReport reads a pacs.002.001.10 FIToFIPmtStsRpt with
// encoding/xml's streaming Decoder and refuses, with ErrInvalidReport,
// anything b2bpay could misread: see its documentation for the list and
// for the accepted TxSts codes. WriteStatusReport writes one, for tests
// and for tools that simulate a clearing system.
//
// # Element order
//
// ISO 20022 schemas are xs:sequence all the way down: elements must
// appear in the schema's order. The order used here comes from the
// official 2019 XSDs vendored in testdata/xsd (see SOURCES.md there for
// where they were fetched and their checksums; only pacs.008.001.08 and
// pacs.002.001.10 are vendored): GroupHeader93 and
// CreditTransferTransaction39 for pacs.008, GroupHeader91,
// OriginalGroupHeader17 and PaymentTransaction110 for pacs.002. The
// functions that write each element name the order they follow. The tests
// validate every file they write against those XSDs with xmllint
// (Debian libxml2-utils), so a change that breaks the order fails there.
//
// # Adding a format
//
// A new format (pain.001, a national clearing format such as CNAPS2
// hvps.111) is a new file beside pacs008.go:
//
//  1. vendor its XSD into testdata/xsd and add it to SOURCES.md;
//  2. write an unexported type with Name, Extension and Write, and a
//     constructor returning Format (as Pacs008 does), reusing checkGroup,
//     checkTransaction and the writer helpers (text, amount, agent) so
//     limits and escaping stay the same;
//  3. follow the XSD's element order, and keep Write streaming: write the
//     header from Group, then one transaction per next call, then check
//     count, control sum and currency at the end;
//  4. copy the pacs.008 tests: xmllint validation for the same cases,
//     determinism, mismatches, streaming memory, and a round-trip fuzz
//     target with a small test-only reader.
//
// There is no registry of formats: the caller chooses one in its
// configuration and passes the Format value along.
package iso20022
