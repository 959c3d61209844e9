#!/usr/bin/env bash
# A PostgreSQL server of its own for a statement profile of the benchmark:
# the installed version on port 5450 (cluster "b2bpay_prof"), with
# pg_stat_statements (statements, planning included) and auto_explain (the
# plan of every statement slower than 50 ms, with its buffers) preloaded,
# autovacuum off as on the system server (the benchmark vacuums itself).
# The system server (5432) is never touched: preloading needs a restart.
#
#   scripts/pgprof.sh up       create (once) and start it, reset the figures
#   scripts/pgprof.sh report   the 25 statements that took longest, and the log's slow plans
#   scripts/pgprof.sh down     stop and remove it
#
# `make bench-profile` runs up, `b2bpay bench` on it (BENCH_FLAGS) and report.
set -euo pipefail

NAME=b2bpay_prof
PORT=${B2BPAY_PROF_PORT:-5450}
URL="postgres://postgres@127.0.0.1:$PORT/test?sslmode=disable"

log() { echo "pgprof: $*" >&2; }
die() {
  log "$*"
  exit 1
}
ver() { ls /etc/postgresql | sort -V | tail -1; }
psql_prof() { psql -h 127.0.0.1 -p "$PORT" -U postgres -X -q "$@"; }
logfile() { echo "/var/log/postgresql/postgresql-$(ver)-$NAME.log"; }

up() {
  command -v pg_createcluster >/dev/null || die "pg_createcluster not found: Debian's postgresql-common is needed"
  local v etc
  v=$(ver)
  etc=/etc/postgresql/$v/$NAME
  if [ ! -f "$etc/postgresql.conf" ]; then
    rm -rf "$etc" # what an earlier `down` may have left: our conf.d file
    pg_createcluster "$v" "$NAME" -p "$PORT" >/dev/null
    cat >"$etc/conf.d/b2bpay-prof.conf" <<EOF
# scripts/pgprof.sh: a server for statement profiles of the benchmark
listen_addresses = '127.0.0.1'
autovacuum = off
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.track_planning = on
session_preload_libraries = 'auto_explain'
auto_explain.log_min_duration = '50ms'
auto_explain.log_analyze = on
auto_explain.log_buffers = on
auto_explain.log_nested_statements = on
EOF
    cat >"$etc/pg_hba.conf" <<EOF
# scripts/pgprof.sh: trust on the loopback address only (a machine for
# development and tests, never one that holds payments)
local   all   postgres                peer
host    all   all        127.0.0.1/32 trust
EOF
  fi
  # Only the URL goes to stdout (the Makefile reads it).
  pg_ctlcluster "$v" "$NAME" start >&2 2>/dev/null || pg_ctlcluster "$v" "$NAME" status >/dev/null || die "could not start $NAME"
  PGOPTIONS='-c client_min_messages=warning' psql_prof -d postgres -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >&2
  psql_prof -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 || psql_prof -d postgres -c "CREATE DATABASE test" >&2
  psql_prof -d postgres -c "SELECT pg_stat_statements_reset()" >/dev/null
  : >"$(logfile)"
  log "up on port $PORT; run the benchmark with B2BPAY_TEST_DATABASE_URL=$URL"
  echo "$URL"
}

report() {
  psql_prof -d postgres -c "SELECT calls, round(total_exec_time::numeric) AS exec_ms, round(total_plan_time::numeric) AS plan_ms,
      round((total_exec_time / greatest(rows, 1))::numeric * 1000) AS us_per_row, rows,
      left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS statement
    FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 25"
  local n
  n=$(grep -c "duration: .* plan:" "$(logfile)" || true)
  log "$n statements over 50 ms; their plans are in $(logfile)"
}

down() {
  local v
  v=$(ver)
  if [ -f "/etc/postgresql/$v/$NAME/postgresql.conf" ]; then
    pg_dropcluster --stop "$v" "$NAME"
  fi
  rm -rf "/etc/postgresql/$v/$NAME" # pg_dropcluster leaves our conf.d file
  log "removed"
}

case "${1:-}" in
up) up ;;
report) report ;;
down) down ;;
*) die "usage: $0 up | report | down" ;;
esac
