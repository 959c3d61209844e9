// Package server is b2bpay's composition root: the one place that opens
// the database and the broker and builds every flow on them. Open checks
// the master key against the database and gives an App (pool, store,
// broker connection, the keys the master key yields); App.Serve runs the
// intake and decision workers, the outbox relay, the status API, the
// metrics listener, the scheduled jobs (cutoffs, status reports, expiry)
// and the calendar watch, and shuts them down in order; Run is `b2bpay
// serve` around it. The operators' commands (registry, people, keys,
// verify, held payments, batches, status) are methods of App that write
// what they did to an io.Writer.
//
// Configuration comes in checked once (Config, Settings, ExportSettings);
// the command line that reads it is cmd/b2bpay. The demo, the benchmark
// and the end-to-end tests build on App as the command does.
package server
