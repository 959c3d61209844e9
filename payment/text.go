package payment

import "strings"

// Text is s as text that every store and message keeps as it is: invalid
// UTF-8 replaced by U+FFFD, NUL removed (PostgreSQL's text and jsonb cannot
// hold it). Reasons and digests taken from a message go through it before
// they are recorded or answered, so that the answer is what is recorded.
func Text(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}
