# b2bpay: `make demo` runs the main job end to end on sample data,
# `make test` runs the whole default test run. Both check (start, or
# install) the local PostgreSQL and RabbitMQ, and chromium, first.

GO        ?= go
BIN       := bin/b2bpay
STATICCHECK_VERSION := v0.8.2
TEST_FLAGS ?= -count=1 -timeout 15m

.PHONY: deploy-check all build demo demo-console screenshots test unit faults security bench bench-profile lint services clean cluster-up cluster-down cluster-status cluster-test faults-cluster

all: build

build:
	$(GO) build -o $(BIN) ./cmd/b2bpay

# The local PostgreSQL and RabbitMQ, and the tests' tools (services.sh);
# chromium and a CJK font for the console's browser tests (browser.sh).
services:
	@bash scripts/services.sh
	@bash scripts/browser.sh

demo: services build
	./$(BIN) demo

# The demo, then its staff console kept serving on CONSOLE_ADDR until
# Ctrl-C, with payments waiting for alice (the demo prints who signs in).
CONSOLE_ADDR ?= 127.0.0.1:8490
demo-console: services build
	./$(BIN) demo --console $(CONSOLE_ADDR)

# The console's end-to-end tests in chromium, keeping their screenshots
# under docs/console (the README shows them).
screenshots: services
	B2BPAY_SCREENSHOTS=$(CURDIR)/docs/console $(GO) test -count=1 -run 'TestConsole.*InChromium' ./cmd/b2bpay/

# Then deploy/check, a module of its own: the Kubernetes manifests decoded
# strictly into the API and operators' Go types, the compose file loaded
# with compose-go (no cluster, no Docker).
test: services
	$(GO) test $(TEST_FLAGS) ./...
	cd deploy/check && $(GO) test -count=1 ./...

deploy-check:
	cd deploy/check && $(GO) test -count=1 ./...

# The tests that need no service, in under a minute: with B2BPAY_UNIT=1 the test
# kit (testkit) skips every test that asks for PostgreSQL or RabbitMQ,
# before connecting. No services needed. The fault suite (real processes
# only) is left out. In make test a missing service fails its tests; it is
# never a skip. .ci/run runs it with the kit pointed at closed ports.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v -e '/faults$$')
unit:
	B2BPAY_UNIT=1 $(GO) test -count=1 $(UNIT_PKGS)

# The fault suite with every scenario but the disruptive ones and bigger
# counts (B2BPAY_FAULTS_DISRUPTIVE=1 adds a broker and a PostgreSQL
# restart); the table is also written to var/faults-last-run.txt.
# Then each fuzz target runs for FUZZTIME on its committed corpus (60 s
# each: 20 s was too short to be meaningful on a fresh clone; FuzzDecode's
# zero-date finding took 15 s).
FUZZTIME ?= 60s
faults: services
	B2BPAY_FAULTS=1 B2BPAY_FAULTS_REPORT=$(CURDIR)/var/faults-last-run.txt $(GO) test -count=1 -v -timeout 30m ./faults/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./payment
	$(GO) test -run '^$$' -fuzz '^FuzzReadStatusReport$$' -fuzztime $(FUZZTIME) ./iso20022
	$(GO) test -run '^$$' -fuzz '^FuzzPacs008RoundTrip$$' -fuzztime $(FUZZTIME) ./iso20022
	$(GO) test -run '^$$' -fuzz '^FuzzEscapeMatchesEncodingXML$$' -fuzztime $(FUZZTIME) ./iso20022

# The security regression suite: every TestSecurity* test (tenants kept
# apart, decisions bound to their sender, sign-in floods, slow clients,
# database roles, master keys, bounded inputs) and the tests of what held
# before them (forged tokens, injections, entity tricks, oversized bodies,
# replays, hostile intake). They also run in `make test`.
SECURITY_TESTS := TestSecurity|TestSignerRefusesForgeries|TestBearerToken|TestAuthenticationRequired|TestDecisionsBadToken|TestPaymentListBadParameters|TestPaymentGetOtherCustomerIsNotFound|TestReadStatusReportRefuses|TestReadStatusReportSizeLimit|TestReportsOversized|TestOTPAcceptedOnceThenReplay|TestOTPConcurrentSameCode|TestIntakeEndToEnd
security: services
	$(GO) test -count=1 -timeout 15m -run '$(SECURITY_TESTS)' ./...

# The benchmark: the machine's baselines and b2bpay's stages, on a database
# and a vhost of their own; one table, and the JSON file named last.
# BENCH_FLAGS adds flags, e.g. --count 50000 or --export-max.
BENCH_FLAGS ?=
bench: services
	$(GO) run ./cmd/b2bpay bench $(BENCH_FLAGS)

# The benchmark on a PostgreSQL server of its own (port 5450) with
# pg_stat_statements and auto_explain, then the costliest statements
# (scripts/pgprof.sh; `scripts/pgprof.sh down` removes the server).
bench-profile: services
	url=$$(scripts/pgprof.sh up) && B2BPAY_TEST_DATABASE_URL=$$url $(GO) run ./cmd/b2bpay bench $(BENCH_FLAGS)
	scripts/pgprof.sh report

# gofmt, go vet, staticcheck, and the import rules (scripts/imports.sh:
# only cmd and the test kits import postgres, no pgx under the flows, the
# domain imports no transport, the binary links no test kit).
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@GO=$(GO) bash scripts/imports.sh
	python3 scripts/check-doc-links.py README.md docs/*.md deploy/README.md

# A real cluster on this machine (docs/cluster.md): three RabbitMQ nodes
# (5701-5703) and a PostgreSQL primary (5441) with a synchronous standby
# (5442), on ports and under var/cluster of their own: the system broker
# and database are never touched. cluster-test checks it (needs cluster-up).
cluster-up:
	@bash scripts/cluster.sh up

cluster-down:
	@bash scripts/cluster.sh down

cluster-status:
	@bash scripts/cluster.sh status

cluster-test:
	B2BPAY_CLUSTER=1 $(GO) test -count=1 -v -timeout 10m ./cluster/

# The fault suite's cluster scenarios (docs/cluster.md "Faults on the
# cluster"): needs make cluster-up; the table goes to
# var/faults-cluster-last-run.txt.
faults-cluster:
	B2BPAY_FAULTS_CLUSTER=1 $(GO) test -count=1 -v -timeout 40m -run '^TestCluster' ./faults/

clean:
	rm -rf bin
