#!/usr/bin/env bash
# Make sure the local PostgreSQL and RabbitMQ answer and hold what the
# tests and the demo assume, and that the tools the tests use are
# installed. `make demo`, `make test` and .ci/run call it first; it is safe
# to run again, and quick when everything is there.
#
# What b2bpay's tests and demo assume (postgres/pgtest, rabbitmq/rabbitmqtest,
# the demo):
#   - PostgreSQL on 127.0.0.1:5432, version 13 or later (DROP DATABASE …
#     WITH (FORCE)), where the superuser `postgres` connects over TCP without
#     a password (trust), and a database `test` from which each test package
#     creates its own b2bpay_test_<random> (the demo uses `postgres`);
#   - RabbitMQ on 127.0.0.1:5672, version 3.10 or later (at-least-once
#     dead-lettering of quorum queues), user guest/guest, and rabbitmqctl
#     (or $RABBITMQCTL) able to manage it from this machine: the tests make a
#     vhost of their own per package with it;
#   - xmllint, amqp-publish, oathtool and openssl on the PATH.
#
# What it does:
#   - A service that answers is used as it is: never reconfigured, restarted
#     or stopped (other test runs on this machine may be using it). Only the
#     `test` database is created in it if missing. If it breaks an
#     assumption above, the script says how to fix it and exits 1.
#   - A service installed but stopped is started.
#   - A service missing on Debian or Ubuntu is installed from the
#     distribution's packages (apt-get, as root or with sudo) and started; a
#     PostgreSQL cluster installed here is given trust authentication on the
#     loopback addresses (a development machine's setup: never do this on a
#     server that holds payments).
#   - A service missing anywhere else: it says what to install, exits 1.
#
# B2BPAY_SERVICES_DRYRUN=1 prints every command that would install, start or
# configure something instead of running it (the checks still run).
set -euo pipefail

log() { echo "services: $*" >&2; }
die() {
  log "$*"
  exit 1
}

# pg_need and rmq_need stop on a broken assumption about the local server,
# unless the tests are pointed at another one (then it is only said).
pg_need() {
  if [ -n "${B2BPAY_TEST_DATABASE_URL:-}" ]; then
    log "$* (B2BPAY_TEST_DATABASE_URL is set: the tests use that server)"
  else
    die "$*"
  fi
}
rmq_need() {
  if [ -n "${B2BPAY_TEST_AMQP_URL:-}" ]; then
    log "$* (B2BPAY_TEST_AMQP_URL is set: the tests use that broker)"
  else
    die "$*"
  fi
}

DRYRUN="${B2BPAY_SERVICES_DRYRUN:-}"
PGHOST_=127.0.0.1
PGPORT_=5432
AMQP_PORT=5672
RABBITMQCTL_="${RABBITMQCTL:-rabbitmqctl}"
# Server tools live in sbin, which is not on a user's PATH on Debian.
PATH="$PATH:/usr/sbin:/sbin"

# run, as_root and debian_like: scripts/lib.sh.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pg_up() {
  if command -v pg_isready >/dev/null && pg_isready --version >/dev/null 2>&1; then
    pg_isready -h "$PGHOST_" -p "$PGPORT_" -q 2>/dev/null
  else
    (exec 3<>"/dev/tcp/$PGHOST_/$PGPORT_") 2>/dev/null
  fi
}
rmq_up() { (exec 3<>"/dev/tcp/127.0.0.1/$AMQP_PORT") 2>/dev/null; }

# wait_for waits up to $2 seconds for the check $1 to pass.
wait_for() {
  local check=$1 secs=$2
  for _ in $(seq 1 "$secs"); do
    "$check" && return 0
    sleep 1
  done
  "$check"
}

# The PostgreSQL server is installed when Debian's cluster tools are there
# and some cluster exists; psql is the client (postgresql-client-common's
# wrapper answers --version only when a client is installed too).
pg_installed() { command -v pg_lsclusters >/dev/null && [ -n "$(pg_lsclusters --no-header 2>/dev/null)" ]; }
psql_works() { command -v psql >/dev/null && psql --version >/dev/null 2>&1; }
rmq_installed() { command -v rabbitmq-server >/dev/null; }

# ---------------------------------------------------------------------------
# What is missing.
pg_answered=no rmq_answered=no
pg_up && pg_answered=yes
rmq_up && rmq_answered=yes

services=()
if [ $pg_answered = no ] && ! pg_installed; then services+=(postgresql); fi
if [ $rmq_answered = no ] && ! rmq_installed; then services+=(rabbitmq-server); fi

tools=()
psql_works || tools+=(postgresql-client)
command -v xmllint >/dev/null || tools+=(libxml2-utils)
command -v amqp-publish >/dev/null || tools+=(amqp-tools)
command -v oathtool >/dev/null || tools+=(oathtool)
command -v openssl >/dev/null || tools+=(openssl)
# The delivery tests start a real OpenSSH sshd (internal-sftp) as the clearing gateway.
[ -x /usr/sbin/sshd ] || tools+=(openssh-server)

if [ ${#services[@]} -gt 0 ] && ! debian_like; then
  die "$(
    cat <<EOF
${services[*]} not installed, and this is not Debian or Ubuntu: install them yourself, then run this again.
  PostgreSQL 13 or later, listening on 127.0.0.1:5432; in pg_hba.conf, before the other lines (development only):
      host all all 127.0.0.1/32 trust
      host all all ::1/128 trust
    and a database named test (createdb -h 127.0.0.1 -U postgres test).
  RabbitMQ 3.10 or later on 127.0.0.1:5672 with the default guest user, and rabbitmqctl usable by whoever runs the tests.
  Tools the tests run: xmllint (libxml2), amqp-publish (rabbitmq-c's amqp-tools), oathtool (oath-toolkit), openssl.
  Or point the tests at servers elsewhere: B2BPAY_TEST_DATABASE_URL, B2BPAY_TEST_AMQP_URL (and RABBITMQCTL).
EOF
  )"
fi

# ---------------------------------------------------------------------------
# Install what is missing, from the distribution's packages.
pg_fresh=no rmq_fresh=no
if [ ${#services[@]} -gt 0 ] || { [ ${#tools[@]} -gt 0 ] && debian_like; }; then
  # In a subshell: without root or sudo, as_root stops only this step.
  (as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq) ||
    log "apt-get update failed; trying the package lists already here"
fi
if [ ${#services[@]} -gt 0 ]; then
  # Refuse a distribution whose servers are too old for b2bpay, before
  # installing anything: RabbitMQ for the queues b2bpay declares (Ubuntu
  # 22.04 ships 3.9), PostgreSQL for DROP DATABASE … WITH (FORCE) (Ubuntu
  # 20.04 ships 12; the metapackage's version is the server's, "15+248").
  if [[ " ${services[*]} " == *" postgresql "* ]]; then
    v="$(apt-cache show --no-all-versions postgresql 2>/dev/null | sed -n 's/^Version: //p' | head -n1)"
    if [ -n "$v" ] && ! dpkg --compare-versions "$v" ge 13; then
      die "this distribution's postgresql is $v; b2bpay needs 13 or later: install it from the PostgreSQL project's apt repository (https://www.postgresql.org/download/linux/), then run this again"
    fi
  fi
  if [[ " ${services[*]} " == *" rabbitmq-server "* ]]; then
    v="$(apt-cache show --no-all-versions rabbitmq-server 2>/dev/null | sed -n 's/^Version: //p' | head -n1)"
    if [ -n "$v" ] && ! dpkg --compare-versions "$v" ge 3.10; then
      die "this distribution's rabbitmq-server is $v; b2bpay needs 3.10 or later (at-least-once dead-lettering): install it from RabbitMQ's own apt repository (https://www.rabbitmq.com/docs/install-debian), then run this again"
    fi
  fi
  log "installing ${services[*]} from the distribution's packages"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${services[@]}" ||
    die "could not install ${services[*]}"
  if [[ " ${services[*]} " == *" postgresql "* ]]; then pg_fresh=yes; fi
  if [[ " ${services[*]} " == *" rabbitmq-server "* ]]; then rmq_fresh=yes; fi
fi
if [ ${#tools[@]} -gt 0 ]; then
  if debian_like; then
    log "installing ${tools[*]}"
    (as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tools[@]}" >/dev/null) ||
      log "could not install ${tools[*]}; tests that need them will fail"
  else
    log "missing ${tools[*]} (package names of Debian); tests that need them will fail"
  fi
fi

# ---------------------------------------------------------------------------
# PostgreSQL.

# pg_cluster prints "VERSION NAME" of the cluster on port 5432, if any.
pg_cluster() {
  { pg_lsclusters --no-header 2>/dev/null || true; } | awk -v p="$PGPORT_" '$3 == p { print $1, $2; exit }'
}

# pg_ctl runs pg_ctlcluster for the cluster on 5432; through systemd when it
# runs the machine, directly in a container without it.
pg_ctl() {
  local redirect=() cluster
  [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ] || redirect=(--skip-systemctl-redirect)
  cluster="$(pg_cluster)"
  # In a dry run of a fresh install there is no cluster yet.
  [ -n "$cluster" ] || cluster="VERSION main"
  # shellcheck disable=SC2086
  as_root pg_ctlcluster "${redirect[@]}" $cluster "$1"
}

if [ $pg_fresh = yes ] && [ -z "$(pg_cluster)" ] && [ -z "$DRYRUN" ]; then
  die "PostgreSQL is installed but has no cluster on port $PGPORT_ (pg_lsclusters): create one with pg_createcluster --port $PGPORT_ VERSION main"
fi

if [ $pg_fresh = yes ]; then
  # Trust on the loopback addresses, first in pg_hba.conf (the first
  # matching line wins): the tests connect as postgres without a password.
  # Only for a cluster installed by this run; then reload (not restart) it
  # if the package already started it.
  if [ -n "$DRYRUN" ]; then
    log "dry run: would put 'host all all 127.0.0.1/32 trust' and 'host all all ::1/128 trust' first in the new cluster's pg_hba.conf"
  else
    read -r ver name <<<"$(pg_cluster)"
    hba="/etc/postgresql/$ver/$name/pg_hba.conf"
    log "development setup: trust for 127.0.0.1 and ::1 first in $hba"
    tmp="$(mktemp)"
    {
      echo "# b2bpay development machine (scripts/services.sh): the tests connect as"
      echo "# postgres over loopback without a password."
      echo "host all all 127.0.0.1/32 trust"
      echo "host all all ::1/128 trust"
      echo
      as_root cat "$hba"
    } >"$tmp"
    as_root install -m 640 -o postgres -g postgres "$tmp" "$hba"
    rm -f "$tmp"
    if pg_up; then pg_ctl reload; fi
  fi
fi

if ! pg_up; then
  if [ -z "$(pg_cluster)" ] && [ -z "$DRYRUN" ]; then
    die "PostgreSQL does not answer on $PGHOST_:$PGPORT_ and no cluster of this machine listens on port $PGPORT_ (pg_lsclusters): start yours, or create one with pg_createcluster --port $PGPORT_ VERSION main"
  fi
  log "PostgreSQL does not answer on $PGHOST_:$PGPORT_; starting it"
  pg_ctl start || true
  [ -n "$DRYRUN" ] || wait_for pg_up 60 ||
    die "PostgreSQL still does not answer on $PGHOST_:$PGPORT_ (pg_lsclusters shows the clusters and their logs)"
fi

if pg_up && psql_works; then
  pgq() { psql -w -X -q -A -t -h "$PGHOST_" -p "$PGPORT_" -U postgres -d postgres -c "$1"; }
  if ! super="$(pgq "SELECT rolsuper FROM pg_roles WHERE rolname = current_user" 2>&1)"; then
    pg_need "$(
      cat <<EOF
PostgreSQL answers but the user postgres cannot connect over 127.0.0.1 without a password:
  $super
The tests and the demo need, first in pg_hba.conf (development machines only), then a reload:
  host all all 127.0.0.1/32 trust
  host all all ::1/128 trust
or set B2BPAY_TEST_DATABASE_URL (and --database-url for the demo) to a server they can use.
EOF
    )"
  elif [ "$super" != t ]; then
    pg_need "PostgreSQL's user postgres is not a superuser; the tests create databases and roles"
  elif [ "$(pgq "SHOW server_version_num")" -lt 130000 ]; then
    pg_need "PostgreSQL $(pgq "SHOW server_version") is older than 13, which b2bpay needs"
  elif [ "$(pgq "SELECT count(*) FROM pg_database WHERE datname = 'test'")" != 1 ]; then
    # Not a reconfiguration: one more database beside the others.
    # Another run may create it at the same moment: then it is there.
    run psql -w -X -q -h "$PGHOST_" -p "$PGPORT_" -U postgres -d postgres -c "CREATE DATABASE test" ||
      [ "$(pgq "SELECT count(*) FROM pg_database WHERE datname = 'test'")" = 1 ] ||
      die "could not create the database test"
  fi
elif pg_up; then
  log "psql is missing: could not check the test database and trust authentication"
fi

# ---------------------------------------------------------------------------
# RabbitMQ.
rmq_started=no
if ! rmq_up; then
  if rmq_installed || [ -n "$DRYRUN" ]; then
    log "RabbitMQ does not answer on 127.0.0.1:$AMQP_PORT; starting it"
    if [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; then
      as_root systemctl start rabbitmq-server || true
    else
      as_root rabbitmq-server -detached || true
    fi
  fi
  [ -n "$DRYRUN" ] || wait_for rmq_up 90 ||
    die "RabbitMQ still does not answer on 127.0.0.1:$AMQP_PORT (its logs: /var/log/rabbitmq/)"
  rmq_started=yes
fi

if rmq_up; then
  # The port can open before the broker is ready to take connections (also
  # when the package's own start has just opened it).
  if [ $rmq_started = yes ] || [ $rmq_fresh = yes ]; then
    timeout 120 "$RABBITMQCTL_" await_startup >/dev/null 2>&1 || true
  fi
  # One call (each starts an Erlang VM: a second or two) proves that
  # rabbitmqctl can manage the broker, and reads its version and whether
  # guest/guest signs in. Read-only.
  probe='V = rabbit_misc:version(),
    case rabbit_access_control:check_user_pass_login(<<"guest">>, <<"guest">>) of
      {ok, _} -> io:format("~s guest_ok~n", [V]);
      _ -> io:format("~s guest_refused~n", [V])
    end.'
  if out="$(timeout 120 "$RABBITMQCTL_" --quiet eval "$probe" 2>&1)"; then
    # The line the probe printed, whatever warnings come before it.
    read -r rv guest <<<"$(grep -E ' guest_(ok|refused)$' <<<"$out" || true)"
    if [ -z "${rv:-}" ]; then
      log "could not read RabbitMQ's version and guest check from rabbitmqctl: $(grep -m1 . <<<"$out")"
    elif command -v dpkg >/dev/null && ! dpkg --compare-versions "$rv" ge 3.10; then
      rmq_need "RabbitMQ $rv is older than 3.10, which b2bpay needs (at-least-once dead-lettering of quorum queues)"
    elif [ "$guest" != guest_ok ]; then
      rmq_need "RabbitMQ refuses guest/guest, which the tests and the demo use: add it back (rabbitmqctl add_user guest guest; set_permissions -p / guest '.*' '.*' '.*'), or set B2BPAY_TEST_AMQP_URL and --amqp-url"
    fi
  else
    log "$RABBITMQCTL_ cannot manage the broker as $(id -un): the tests make their vhosts with it (run them as root, or set RABBITMQCTL to a command that can): $(grep -m1 . <<<"$out")"
  fi
fi

if [ -n "$DRYRUN" ]; then
  log "dry run: nothing was changed"
else
  log "PostgreSQL and RabbitMQ answer"
fi
