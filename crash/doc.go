// Package crash stops b2bpay at named points, for fault injection: when the
// environment variable B2BPAY_CRASH_AT names a point, the process writes one
// line to stderr and exits with status 3 as soon as it reaches that point,
// without running deferred functions or closing anything, the way kill -9
// would. Unset, a point costs one environment lookup.
//
// The points, in the order a payment meets them:
//
//	intake-before-commit    consumers.Intake, just before the store call that
//	                        commits a request (nothing of it is stored)
//	intake-after-commit     consumers.Intake, right after that call commits,
//	                        before the handler returns and the delivery is acked
//	relay-after-confirm     outbox.Relay.RunOnce, after the broker confirmed a batch and
//	                        before it is marked sent in the outbox
//	decision-after-commit   consumers.Decisions, right after a decision, or a
//	                        batch decision (all its items), is applied and
//	                        committed, before the delivery is acked
//	export-after-claim      export.Exporter.RunCutoff, after the cutoff claimed
//	                        its batches and before any file is written
//	export-during-write     export.Exporter.WritePending, inside a batch file's write:
//	                        half of the first write is on disk under the temporary
//	                        name (in the outbound directory's .tmp), not renamed
//	export-after-write      export.Exporter.WritePending, after a batch's file is
//	                        renamed into place and before the batch is marked written
//
// The fault suite (package faults) sets the variable on a b2bpay serve
// process, lets it die at the point, starts it again without the variable
// and checks that nothing was lost or stored twice.
package crash
