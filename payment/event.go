package payment

import (
	"strconv"
	"time"
)

// EventSchema names the version of the status event contract.
const EventSchema = "b2bpay.status-event.v1"

// EventKind says what an event reports.
type EventKind string

// The kinds of status event.
const (
	// EventAccepted answers a request that became a payment.
	EventAccepted EventKind = "accepted"
	// EventRefused answers a request that was refused, with the reason.
	EventRefused EventKind = "refused"
	// EventStateChanged reports a later change of a payment's state.
	EventStateChanged EventKind = "state_changed"
	// EventFileStatus reports what happened to the interbank file that
	// carries a payment (delivered, acknowledged, rejected, re-issued):
	// the payment's own state does not change.
	EventFileStatus EventKind = "file_status"
)

// The file statuses a file_status event reports.
const (
	FileDelivered    = "delivered"
	FileAcknowledged = "acknowledged"
	FileRejected     = "rejected"
	FileReissued     = "reissued"
)

// Event is a status event sent to the upstream system that owns a request.
// Its ID is stable: the same answer sent twice carries the same ID, so
// receivers can drop the copy.
type Event struct {
	Schema     string    `json:"schema"`
	ID         string    `json:"event_id"`
	Kind       EventKind `json:"kind"`
	UpstreamID string    `json:"upstream_id"`
	RequestID  string    `json:"request_id,omitempty"`
	MessageID  string    `json:"message_id,omitempty"`
	PaymentID  string    `json:"payment_id,omitempty"`
	OrderRef   string    `json:"order_ref,omitempty"`
	State      State     `json:"state,omitempty"`
	Action     Action    `json:"action,omitempty"`
	Actor      *Actor    `json:"actor,omitempty"`
	Code       Code      `json:"code,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	// BatchID and FileStatus are set on file_status events: the file's
	// message id and what happened to it.
	BatchID    string    `json:"batch_id,omitempty"`
	FileStatus string    `json:"file_status,omitempty"`
	At         time.Time `json:"at"`
}

// AcceptedEvent is the answer to a request that became payment p.
func AcceptedEvent(p *Payment, at time.Time) Event {
	return Event{
		Schema: EventSchema, ID: p.UpstreamID + "/" + p.RequestID + "/answer",
		Kind: EventAccepted, UpstreamID: p.UpstreamID, RequestID: p.RequestID,
		PaymentID: p.ID, OrderRef: p.OrderRef, State: p.State, At: at.UTC(),
	}
}

// RefusedEvent is the answer to a refused request. id must be stable for
// the refusal it reports.
func RefusedEvent(id, upstreamID string, r Request, messageID string, err error, at time.Time) Event {
	return Event{
		Schema: EventSchema, ID: id, Kind: EventRefused, UpstreamID: upstreamID,
		RequestID: r.RequestID, OrderRef: r.OrderRef, MessageID: messageID,
		Code: ErrorCode(err), Reason: err.Error(), At: at.UTC(),
	}
}

// StateChangedEvent reports the change of state e recorded on p: who did
// what, when, and the state it left p in. Its ID names the timeline entry,
// so a copy is recognisable.
func StateChangedEvent(p *Payment, e Entry) Event {
	actor := e.Actor
	return Event{
		Schema: EventSchema, ID: p.UpstreamID + "/" + p.RequestID + "/" + strconv.Itoa(e.Seq),
		Kind: EventStateChanged, UpstreamID: p.UpstreamID, RequestID: p.RequestID,
		PaymentID: p.ID, OrderRef: p.OrderRef, State: e.To, Action: e.Action, Actor: &actor,
		Code: e.Code, Reason: e.Note, At: e.At,
	}
}

// FileStatusEvent reports that the interbank file batchID carrying p
// reached status (FileDelivered, …), with the clearing's code and reason
// if any. Its ID names the file and the status, so a copy is recognisable.
func FileStatusEvent(p *Payment, batchID, status string, code Code, reason string, at time.Time) Event {
	return Event{
		Schema: EventSchema, ID: p.UpstreamID + "/" + p.RequestID + "/file/" + batchID + "/" + status,
		Kind: EventFileStatus, UpstreamID: p.UpstreamID, RequestID: p.RequestID,
		PaymentID: p.ID, OrderRef: p.OrderRef, State: p.State, BatchID: batchID, FileStatus: status,
		Code: code, Reason: reason, At: at.UTC(),
	}
}
