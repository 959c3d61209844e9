// Package faults is b2bpay's fault suite: tests that start real `b2bpay
// serve` processes against the local PostgreSQL and RabbitMQ, inject each
// fault for real, and end every scenario with a checker that compares what
// was published with what is stored, answered and dead-lettered.
//
// Each scenario gets a database of its own (postgres/pgtest) and a vhost of
// its own (rabbitmq/rabbitmqtest), seeds its registry with the b2bpay
// command line (customer, bank, account, user and upstream add), and runs
// the binary TestMain builds. Faults touch only the scenario's own vhost,
// database and processes:
//
//	scenario              run         fault injected
//	broker-drops          quick       rabbitmqctl close_all_connections -p VHOST, twice, while publishing
//	crash-before-commit   quick       B2BPAY_CRASH_AT=intake-before-commit (exit 3 on the first request)
//	crash-after-commit    quick       B2BPAY_CRASH_AT=intake-after-commit (committed, never acked)
//	crash-after-decision  quick       B2BPAY_CRASH_AT=decision-after-commit (a confirmation committed, never acked)
//	unroutable            quick       the upstream's status queue unbound, then bound again
//	hostile-input         quick       malformed, bad UTF-8, negative and overflowing amounts, 10 MB,
//	                                  unknown version, forged HMAC, mixed into valid traffic
//	duplicates            quick       one message three times at once; a request id reused with another amount
//	export-two-runners    quick       b2bpay cutoff run three times at once for one cutoff (long: six; then two
//	                                  serve processes and a cutoff run meet the next scheduled cutoff)
//	export-crash-catchup  quick       B2BPAY_CRASH_AT=export-after-claim, then export-during-write and
//	                                  export-after-write on the restarts (long: at serve's scheduled cutoff,
//	                                  then down over the next one)
//	delivery-gateway      quick       a real OpenSSH sshd as the gateway (export/sftptest) down over a cutoff,
//	                                  then B2BPAY_CRASH_AT=delivery-after-upload in serve
//	delivery-cut          quick       serve's upload of a cutoff's file (60 payments, long: 200) over a slow
//	                                  relay cut mid-file: sshd and its sessions killed while the .part- file
//	                                  grows, started again; serve's retry delivers it once
//	otp-and-duties        quick       one OTP code twice, and in 4 decisions at once (long: 12, to serve deciding in
//	                                  batches, then one at a time); separation-of-duties, role and customer breaches;
//	                                  an OTP seed altered and two users' sealed seeds swapped in the database
//	two-serves-kill-9     quick       two serve processes on the same queues, one killed with SIGKILL mid-stream
//	                                  (long: then the other)
//	batch-decisions       quick       overlapping batch decisions at every stage on two serve processes:
//	                                  B2BPAY_CRASH_AT=decision-after-commit in one at confirmation, SIGKILL
//	                                  of the other once the first authorization batch is committed
//	kill-9                long        SIGKILL of serve mid-stream, twice, each time started again
//	pg-terminate          long        pg_terminate_backend of serve's backends every 300 ms during a stream
//	relay-after-confirm   long        B2BPAY_CRASH_AT=relay-after-confirm (confirmed, never marked sent)
//	broker-restart        disruptive  rabbitmqctl stop_app; start_app during a stream
//	postgres-restart      disruptive  pg_ctlcluster --skip-systemctl-redirect 15 main restart under load
//	cluster-kill-nodes    cluster     SIGKILL of the RabbitMQ node leading the intake queue under load, then of
//	                                  another (one node left: the quorum queues wait), both started again
//	cluster-partition     cluster     SIGSTOP of the node leading the intake queue for the net tick + 40 s, then
//	                                  SIGCONT: autoheal restarts it and it rejoins
//	cluster-pg-failover   cluster     pg-stop-primary under load and decisions, pg-promote, a decision's OTP code
//	                                  replayed on the promoted standby, pg-rejoin
//	cluster-rolling-...   cluster     node 1, 2, 3 stopped and started in turn, one approval stage decided with OTPs
//	                                  while each is down, a cutoff (every minute) while node 1 is down, requests
//	                                  streaming throughout
//	throughput-single,    cluster     the same 500 requests through intake on the system broker and database and
//	throughput-cluster                on the cluster: requests/s each and the ratio
//
// The checker (check) counts, for the messages a scenario published:
//
//   - lost: a message with no record (neither a payment nor a refusal in
//     intake_requests, nor a row in intake_rejects), or whose answer or
//     dead-letter copy never reached its queue; an exported payment in no
//     batch;
//   - duplicated: more than one payment per (upstream, request id), more
//     than one active payment per order, more than one batch per payment,
//     a state entered twice in a payment's timeline, two applied decisions
//     of one person on one payment, one person's OTP time step consumed by
//     two applied decisions, a decision and a batch, or two batches (the
//     items of one batch share its step), or a second dead letter for one
//     message in the outbox (copies in the broker are allowed: receivers
//     dedupe);
//   - unexpected: a payment, ledger row, reject, answer or dead letter
//     nobody published, an outcome or code other than the one meant, a
//     payment in a state it should not be in, two different answers under
//     one event id, a payment past a stage without its approvals (the
//     applicant's confirmation with an OTP; a review by someone else; as
//     many authorizations as it needs, each with an OTP, by people who had
//     not acted on it).
//
// The delivery scenarios also check the gateway's directory: each file
// written there once, by name and bytes, and nothing else (no .part- file
// of a cut upload), and one file_status "delivered" event per payment.
//
// The export scenarios also check the outbound directory (a file and a
// manifest per batch and nothing else, each file valid against the
// pacs.008.001.08 XSD with exactly its batch's payments and the SHA-256
// recorded) and that each payment is in the first cutoff run after its
// authorization, with no scheduled cutoff skipped.
//
// Every scenario fails on any non-zero count and prints a row of the table
// (scenario, messages, faults injected, lost, duplicated, unexpected); the
// whole table is printed at the end of the run and, when
// B2BPAY_FAULTS_REPORT names a file, written there.
//
// TestCheckerCatches shows the checker each kind of damage and makes sure
// it counts it.
//
// Running:
//
//	go test ./faults/                 quick scenarios, small counts (part of `make test`)
//	make faults                       every scenario but the disruptive ones, bigger counts
//	                                  (B2BPAY_FAULTS=1, report in var/faults-last-run.txt)
//	B2BPAY_FAULTS_DISRUPTIVE=1 make faults
//	                                  also restarts the whole broker and PostgreSQL: only on a
//	                                  machine nobody else is testing on
//
// The cluster scenarios (cluster_test.go, clusterenv_test.go) run the same
// checker on the cluster scripts/cluster.sh starts (docs/cluster.md): each
// scenario's vhost on the three RabbitMQ nodes (rabbitmqctl with the
// cluster's cookie), its database on the primary with its synchronous
// standby, two serve processes (one with --roles intake,decisions,relay,
// one with every role) given the three broker URLs and the multi-host
// database URL (newEnvOn and its world). Their own table (published,
// stored, answered, lost, duplicated, unexpected, OTP steps used twice,
// replays refused, seconds) and the throughput line are printed at the end
// and written to var/faults-cluster-last-run.txt:
//
//	make cluster-up && make faults-cluster && make cluster-down
//	                                  (B2BPAY_FAULTS_CLUSTER=1; without it they are skipped, and
//	                                  without var/cluster/env they fail: run make cluster-up first)
//
// B2BPAY_TEST_LOG=1 copies serve's logs to the test output.
package faults
