package payment

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"
)

// CancelRequest is an upstream's request to cancel the payment one of its
// requests became (version 1 of the contract, routing key
// payment.cancel.v1). It is refused once the payment is authorized.
type CancelRequest struct {
	SchemaVersion int    `json:"schema_version"`
	RequestID     string `json:"request_id"`
	Reason        string `json:"reason"`
}

// DecodeCancel reads and checks a cancel request body.
func DecodeCancel(body []byte) (CancelRequest, error) {
	var c CancelRequest
	if len(body) > MaxRequestBytes {
		return c, Errorf(CodeTooLarge, "body is %d bytes, the limit is %d", len(body), MaxRequestBytes)
	}
	if !utf8.Valid(body) {
		return c, Errorf(CodeMalformed, "body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, Errorf(CodeMalformed, "body is not a version %d cancel request: %s", SchemaVersion, jsonReason(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return c, Errorf(CodeMalformed, "body has data after the JSON object")
	}
	if c.SchemaVersion != SchemaVersion {
		return c, Errorf(CodeUnknownVersion, "schema_version %d is not supported; this build reads version %d", c.SchemaVersion, SchemaVersion)
	}
	if err := ValidID("request_id", c.RequestID); err != nil {
		return c, err
	}
	if err := validText("reason", c.Reason, 140, true); err != nil {
		return c, err
	}
	return c, nil
}
