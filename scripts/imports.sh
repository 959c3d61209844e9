#!/usr/bin/env bash
# The import rules of b2bpay, checked with `go list` (make lint runs this):
#
#   1. Only the wiring and the test kits import the PostgreSQL adapter
#      (package postgres): cmd/..., the composition root (server) and the
#      two programs built on it that cmd runs (demo, and bench, which also
#      measures the database itself). Every other package declares the
#      store interface it needs and postgres implements it.
#   2. The flows and the domain do not depend on the driver: no pgx under
#      payment, admin, approval, export, httpapi, jobs, consumers, intake,
#      outbox, route, ops or console, even indirectly.
#      Nor on the broker's client: no amqp091-go or rabbitmq under
#      payment, admin, approval, export, intake, outbox, httpapi, jobs, otp,
#      seal, ops.
#   3. The domain (payment) imports nothing of b2bpay and no AMQP, HTTP or
#      SQL package: the standard library only, minus transports.
#   4. The production binary (cmd/b2bpay) does not link package testing:
#      test kits stay out of what banks run. Nor the browser driver of the
#      console's tests (github.com/chromedp, used by testkit/browser).
#
# Each broken rule prints what breaks it and the way it gets there; the
# script exits 1 if any rule is broken. Run from anywhere in the module.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2

GO=${GO:-go}
MOD=$($GO list -m) || exit 2

# The wiring may import the adapter: it builds the flows over it.
WIRING="^$MOD/(server|demo|bench)$"
# Test kits may import the adapter: they open databases for tests.
KITS="^$MOD/(postgres/pgtest|rabbitmq/rabbitmqtest|testkit)$"
# The flows and the domain, which must not depend on pgx.
NO_PGX="payment admin approval export httpapi jobs consumers intake outbox route ops console recon"
# The flows that must not depend on the broker's client either: they reach
# the broker through the outbox and consumers.
NO_AMQP="payment admin approval export intake outbox httpapi jobs otp seal ops recon"

fail=0
problem() {
	echo "imports: $*" >&2
	fail=1
}

# Rule 1: who imports postgres (non-test files only: .Imports).
while read -r pkg imports; do
	case " $imports " in
	*" $MOD/postgres "*) ;;
	*) continue ;;
	esac
	[[ $pkg == "$MOD/postgres" ]] && continue
	[[ $pkg == "$MOD/cmd/"* ]] && continue
	[[ $pkg =~ $KITS ]] && continue
	[[ $pkg =~ $WIRING ]] && continue
	problem "$pkg imports $MOD/postgres: only the wiring (cmd/..., server, demo, bench) and the test kits may; declare the store interface the package needs in the package and let postgres implement it"
done < <($GO list -f '{{.ImportPath}} {{join .Imports " "}}' ./...)

# Rule 2: no pgx anywhere under the flows and the domain.
for p in $NO_PGX; do
	[[ -d $p ]] || continue
	pgx=$($GO list -deps -f '{{.ImportPath}}' "./$p" | grep '^github.com/jackc/pgx' | head -n 1)
	[[ -z $pgx ]] && continue
	# Name the packages of the module that bring it in.
	via=$($GO list -deps -f '{{.ImportPath}}: {{join .Imports " "}}' "./$p" |
		awk -v mod="$MOD/" 'index($1, mod) == 1 && / github\.com\/jackc\/pgx/ { sub(":", "", $1); print $1 }' | paste -sd ' ')
	problem "$MOD/$p depends on $pgx (imported by: $via): the flow must reach storage through its own interface"
done

# Rule 2b: no AMQP client under the flows that reach the broker only
# through the outbox and the consumers.
for p in $NO_AMQP; do
	[[ -d $p ]] || continue
	mq=$($GO list -deps -f '{{.ImportPath}}' "./$p" | grep -E "^(github.com/rabbitmq/|$MOD/rabbitmq$)" | head -n 1)
	[[ -z $mq ]] && continue
	via=$($GO list -deps -f '{{.ImportPath}}: {{join .Imports " "}}' "./$p" |
		awk -v mod="$MOD/" -v mq="$mq" 'index($1, mod) == 1 && index($0, " " mq) { sub(":", "", $1); print $1 }' | paste -sd ' ')
	problem "$MOD/$p depends on $mq (imported by: $via): the flow must reach the broker through the outbox"
done

# Rule 3: the domain imports the standard library only, and no transport.
bad=$($GO list -f '{{join .Imports "\n"}}' ./payment |
	grep -E "^($MOD/|github.com/rabbitmq/|github.com/jackc/|net/http|database/sql|net/rpc)" || true)
if [[ -n $bad ]]; then
	problem "the domain package payment imports $(echo "$bad" | paste -sd ' '): it must know nothing of b2bpay's adapters, AMQP, HTTP or SQL"
fi

# Rule 4: the production binary does not link testing. Each way in is
# named as a chain of imports, e.g. cmd/b2bpay -> rabbitmq/rabbitmqtest ->
# testing, so it can be cut where it enters.
bindeps=$($GO list -deps -f '{{.ImportPath}}' ./cmd/b2bpay) || exit 2
if grep -qx testing <<<"$bindeps"; then
	chains=$($GO list -deps -f '{{.ImportPath}}: {{join .Imports " "}}' ./cmd/b2bpay |
		awk -v root="$MOD/cmd/b2bpay" -v mod="$MOD/" '
			{ sub(":", "", $1); for (i = 2; i <= NF; i++) imports[$1] = imports[$1] " " $i " " }
			END {
				# Breadth first from the binary: the first way found to each package.
				queue[0] = root; seen[root] = 1; head = 0; tail = 1
				while (head < tail) {
					p = queue[head++]
					n = split(imports[p], deps, " ")
					for (i = 1; i <= n; i++) {
						d = deps[i]
						if (d == "" || seen[d]) continue
						seen[d] = 1; from[d] = p; queue[tail++] = d
					}
				}
				for (p in imports) if (index(imports[p], " testing ") && p != "testing") {
					chain = p " -> testing"; q = p
					while (q in from) { q = from[q]; chain = q " -> " chain }
					gsub(mod, "", chain); print chain
				}
			}' | sort | paste -sd ';' | sed 's/;/; /g')
	problem "the production binary ./cmd/b2bpay links package testing ($chains): keep test kits out of the binary"
fi

if cdp=$(grep -m1 '^github.com/chromedp/' <<<"$bindeps"); then
	via=$($GO list -deps -f '{{.ImportPath}}: {{join .Imports " "}}' ./cmd/b2bpay |
		awk -v mod="$MOD/" 'index($1, mod) == 1 && / github\.com\/chromedp\// { sub(":", "", $1); print $1 }' | paste -sd ' ')
	problem "the production binary ./cmd/b2bpay links $cdp (imported by: $via): the headless browser is for the tests only (testkit/browser)"
fi

if ((fail)); then
	exit 1
fi
echo "imports: ok"
