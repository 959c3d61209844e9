#!/usr/bin/env bash
# A real cluster on this machine for scaling out (issue 15): three
# RabbitMQ nodes of the installed package joined into one cluster, and a
# PostgreSQL primary with a synchronous standby of the installed version.
# Everything lives on ports and in directories of its own: the system
# broker (5672, rabbit@localhost) and the system PostgreSQL (5432, cluster
# "main") are never touched. Data and logs are under var/cluster of the
# checkout (gitignored); the two PostgreSQL clusters' configuration is in
# /etc/postgresql/<ver>/b2bpay_{primary,standby} (pg_createcluster's
# place) and removed by `down`.
#
#   scripts/cluster.sh up | down | status | env
#   fault helpers: rmq-kill N, rmq-start N, rmq-pause N, rmq-resume N,
#     rmq-restart N [--app], rmq-stop N, rmq-leader QUEUE [VHOST],
#     pg-stop-primary [fast|immediate], pg-promote, pg-rejoin, pg-roles,
#     pg-stop-standby, pg-start
#
# docs/cluster.md describes each; `up` writes var/cluster/env (shell
# syntax) with the URLs, ports, node names and commands.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR=${B2BPAY_CLUSTER_DIR:-$ROOT/var/cluster}
RMQ_BIN=/usr/lib/rabbitmq/bin
RMQ_NODES=(1 2 3)
PG_NAMES=(b2bpay_primary b2bpay_standby)
PG_PORTS=(5441 5442)
PG_REPL_USER=replicator

log() { echo "cluster: $*" >&2; }
die() {
  log "$*"
  exit 1
}

# ---------- RabbitMQ ----------

node_name() { echo "b2bpay-c$1@localhost"; }
node_port() { echo $((5700 + $1)); }
dist_port() { echo $((25700 + $1)); }
node_dir() { echo "$VAR/rmq/c$1"; }
check_n() { [[ "${1:-}" =~ ^[123]$ ]] || die "node number 1, 2 or 3 expected, got '${1:-}'"; }

cookie() {
  [ -f "$VAR/cookie" ] || die "no cookie: run scripts/cluster.sh up first"
  cat "$VAR/cookie"
}

# rmqctl N ARGS...: rabbitmqctl against node N with the cluster's cookie.
rmqctl() {
  local n=$1
  shift
  HOME="$VAR/home" "$RMQ_BIN/rabbitmqctl" -n "$(node_name "$n")" --erlang-cookie "$(cookie)" "$@"
}

rmqqueues() {
  local n=$1
  shift
  HOME="$VAR/home" "$RMQ_BIN/rabbitmq-queues" -n "$(node_name "$n")" --erlang-cookie "$(cookie)" "$@"
}

# beam_pid N: the pid of node N's Erlang VM, found by its node name (the
# RABBITMQ_NODENAME in the process's environment); empty if none.
beam_pid() {
  local want="RABBITMQ_NODENAME=$(node_name "$1")" p
  for p in $(pgrep -x beam.smp || true); do
    if tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" | grep -qx "$want"; then
      echo "$p"
      return 0
    fi
  done
}

rmq_running() { rmqctl "$1" -q ping >/dev/null 2>&1; }

# rmq_launch N: start node N's server in the background (its own config,
# env file, plugins file, data, logs and pid file; the cluster's cookie).
rmq_launch() {
  local n=$1 d
  d=$(node_dir "$n")
  mkdir -p "$d/mnesia" "$d/log" "$VAR/home"
  : >"$d/enabled_plugins"
  : >"$d/rabbitmq-env.conf"
  cat >"$d/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$(node_port "$n")
loopback_users = none
log.file.level = info
cluster_name = b2bpay
# the user b2bpay/b2bpay with full permissions on "/", made on the first
# boot of node 1 (nodes 2 and 3 are reset and take node 1's users)
default_user = b2bpay
default_pass = b2bpay
default_vhost = /
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
# after a partition (a node paused, then resumed; a cut) the nodes agree
# on a winning side and restart the others, which rejoin: no lasting
# partition. The default (ignore) keeps one until a node is restarted;
# pause_minority did not heal a node resumed after SIGSTOP here (it never
# saw itself in a minority).
cluster_partition_handling = autoheal
EOF
  (
    cd "$d"
    export HOME="$VAR/home"
    export RABBITMQ_NODENAME RABBITMQ_NODE_IP_ADDRESS RABBITMQ_NODE_PORT RABBITMQ_DIST_PORT \
      RABBITMQ_MNESIA_BASE RABBITMQ_LOG_BASE RABBITMQ_PID_FILE RABBITMQ_ENABLED_PLUGINS_FILE \
      RABBITMQ_CONFIG_FILE RABBITMQ_ADVANCED_CONFIG_FILE RABBITMQ_CONF_ENV_FILE \
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS ERL_EPMD_ADDRESS
    RABBITMQ_NODENAME=$(node_name "$n")
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    RABBITMQ_NODE_PORT=$(node_port "$n")
    RABBITMQ_DIST_PORT=$(dist_port "$n")
    RABBITMQ_MNESIA_BASE="$d/mnesia"
    RABBITMQ_LOG_BASE="$d/log"
    RABBITMQ_PID_FILE="$d/pid"
    RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins"
    RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf"
    RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config"
    RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf"
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-setcookie $(cookie) -kernel inet_dist_use_interface {127,0,0,1}"
    ERL_EPMD_ADDRESS=127.0.0.1
    setsid nohup "$RMQ_BIN/rabbitmq-server" >>"$d/server.out" 2>&1 </dev/null &
  )
}

# rmq_wait N: wait until node N runs the rabbit application.
rmq_wait() {
  local n=$1 i
  for i in $(seq 1 120); do
    if rmqctl "$n" -q await_startup --timeout 5 >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  die "node $(node_name "$n") did not start: see $(node_dir "$n")/server.out and log/"
}

rmq_start() {
  check_n "$1"
  if [ -n "$(beam_pid "$1")" ] && rmq_running "$1"; then
    log "$(node_name "$1") already running"
    return 0
  fi
  rmq_launch "$1"
  rmq_wait "$1"
  log "$(node_name "$1") started"
}

rmq_stop() {
  check_n "$1"
  local p
  p=$(beam_pid "$1")
  [ -n "$p" ] || return 0
  kill -CONT "$p" 2>/dev/null || true
  if [ -f "$VAR/cookie" ]; then
    rmqctl "$1" -q stop >/dev/null 2>&1 || true
  else
    kill -TERM "$p" 2>/dev/null || true
  fi
  for _ in $(seq 1 60); do
    kill -0 "$p" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -9 "$p" 2>/dev/null || true
}

rmq_members() {
  # the running nodes of the cluster as node N sees them
  rmqctl "$1" -q cluster_status --formatter json 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(sorted(d.get("running_nodes", []))))'
}

rmq_up() {
  local n
  if [ ! -f "$VAR/cookie" ]; then
    mkdir -p "$VAR"
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F >"$VAR/cookie")
  fi
  mkdir -p "$VAR/home"
  (umask 077 && cp "$VAR/cookie" "$VAR/home/.erlang.cookie")
  local all=1
  for n in "${RMQ_NODES[@]}"; do [ -n "$(beam_pid "$n")" ] || all=0; done
  if [ "$all" = 1 ] && [ "$(rmq_members 1 | wc -w)" = 3 ]; then
    log "RabbitMQ: the 3 nodes are already up and clustered"
    return 0
  fi
  for n in "${RMQ_NODES[@]}"; do
    if [ -z "$(beam_pid "$n")" ]; then rmq_launch "$n"; fi
  done
  local pids=()
  for n in "${RMQ_NODES[@]}"; do
    rmq_wait "$n" &
    pids+=($!)
  done
  for n in "${pids[@]}"; do wait "$n" || exit 1; done
  # stop_app and reset of the nodes to join run in parallel; the joins
  # (join_cluster, start_app) one after the other.
  local members join=()
  pids=()
  members=" $(rmq_members 1) "
  for n in 2 3; do
    case "$members" in *" $(node_name "$n") "*) ;; *) join+=("$n") ;; esac
  done
  for n in "${join[@]}"; do
    log "joining $(node_name "$n") to $(node_name 1)"
    { rmqctl "$n" -q stop_app && rmqctl "$n" -q reset; } >>"$(node_dir "$n")/join.out" 2>&1 &
    pids+=($!)
  done
  for n in "${pids[@]}"; do wait "$n" || true; done
  for n in "${join[@]}"; do
    {
      rmqctl "$n" -q join_cluster "$(node_name 1)"
      rmqctl "$n" -q start_app
    } >>"$(node_dir "$n")/join.out" 2>&1 || die "joining failed: see $(node_dir "$n")/join.out"
  done
  local m
  m=$(rmq_members 1 | wc -w)
  [ "$m" = 3 ] || die "cluster_status shows $m running nodes, not 3"
}

# ---------- PostgreSQL ----------

pg_ver() { ls /usr/lib/postgresql | sort -n | tail -1; }
pg_exists() { [ -f "/etc/postgresql/$(pg_ver)/$1/postgresql.conf" ]; }
pg_port_of() { if [ "$1" = b2bpay_primary ]; then echo 5441; else echo 5442; fi; }
pg_other() { if [ "$1" = b2bpay_primary ]; then echo b2bpay_standby; else echo b2bpay_primary; fi; }
pg_data() { echo "$VAR/pg/$1"; }
psqlp() {
  local port=$1
  shift
  psql -X -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"
}
pg_online() { pg_isready -q -h 127.0.0.1 -p "$(pg_port_of "$1")" -t 1; }
# pg_role NAME: primary, standby or down.
pg_role() {
  local r
  if ! r=$(psqlp "$(pg_port_of "$1")" -c 'select pg_is_in_recovery()' 2>/dev/null); then
    echo down
  elif [ "$r" = t ]; then echo standby; else echo primary; fi
}
pg_current_primary() {
  local c
  for c in "${PG_NAMES[@]}"; do
    if [ "$(pg_role "$c")" = primary ]; then
      echo "$c"
      return 0
    fi
  done
}
pg_wait_online() {
  for _ in $(seq 1 60); do
    pg_online "$1" && return 0
    sleep 0.5
  done
  die "PostgreSQL $1 did not come up: see /var/log/postgresql/postgresql-$(pg_ver)-$1.log"
}

# pg_conf NAME: the settings of both clusters (static ones in conf.d).
pg_conf() {
  local c=$1 etc
  etc=/etc/postgresql/$(pg_ver)/$c
  cat >"$etc/conf.d/b2bpay-cluster.conf" <<EOF
# scripts/cluster.sh: a primary with a synchronous standby
listen_addresses = '127.0.0.1'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
wal_log_hints = on
synchronous_commit = on
wal_keep_size = '256MB'
fsync = on
shared_buffers = '64MB'
EOF
  cat >"$etc/pg_hba.conf" <<EOF
# scripts/cluster.sh: trust on the loopback address only (a machine for
# development and tests, never one that holds payments)
local   all          postgres                peer
host    all          all        127.0.0.1/32 trust
host    replication  all        127.0.0.1/32 trust
EOF
}

# pg_follow NAME PRIMARY: make NAME (stopped) a standby of PRIMARY.
pg_follow() {
  local c=$1 p=$2 auto
  auto=$(pg_data "$c")/postgresql.auto.conf
  touch "$auto"
  grep -v -e '^primary_conninfo' -e '^synchronous_standby_names' "$auto" >"$auto.new" || true
  cat >>"$auto.new" <<EOF
primary_conninfo = 'host=127.0.0.1 port=$(pg_port_of "$p") user=$PG_REPL_USER application_name=$c'
EOF
  mv "$auto.new" "$auto"
  chown postgres:postgres "$auto"
  touch "$(pg_data "$c")/standby.signal"
  chown postgres:postgres "$(pg_data "$c")/standby.signal"
}

# pg_set_sync PRIMARY on|off: require (or stop requiring) the other
# cluster's acknowledgement of each commit.
pg_set_sync() {
  local p=$1 names=''
  [ "$2" = on ] && names="FIRST 1 ($(pg_other "$p"))"
  psqlp "$(pg_port_of "$p")" -c "alter system set synchronous_standby_names = '$names'" -c 'select pg_reload_conf()' >/dev/null
}

# pg_wait_sync PRIMARY: wait until the other cluster streams as sync.
pg_wait_sync() {
  local p=$1 s
  for _ in $(seq 1 120); do
    s=$(psqlp "$(pg_port_of "$p")" -c "select sync_state from pg_stat_replication where application_name = '$(pg_other "$p")'" 2>/dev/null || true)
    [ "$s" = sync ] && return 0
    sleep 0.5
  done
  die "$(pg_other "$p") is not a sync standby of $p (state '${s:-none}')"
}

pg_basebackup_from() {
  # pg_basebackup_from NAME PRIMARY: NAME's data replaced by a copy of PRIMARY
  local c=$1 p=$2 d
  d=$(pg_data "$c")
  pg_ctlcluster "$(pg_ver)" "$c" stop -m fast >/dev/null 2>&1 || true
  rm -rf "$d"
  install -d -o postgres -g postgres -m 700 "$d"
  runuser -u postgres -- pg_basebackup -h 127.0.0.1 -p "$(pg_port_of "$p")" -U "$PG_REPL_USER" \
    -D "$d" -R -X stream -c fast
  pg_follow "$c" "$p"
}

pg_up() {
  local v
  v=$(pg_ver)
  install -d -m 755 "$VAR/pg"
  if ! pg_exists b2bpay_primary; then
    log "creating PostgreSQL $v cluster b2bpay_primary on 5441"
    pg_createcluster "$v" b2bpay_primary -p 5441 -d "$(pg_data b2bpay_primary)" >/dev/null
    pg_conf b2bpay_primary
  fi
  local c p=''
  for c in "${PG_NAMES[@]}"; do
    if pg_exists "$c"; then pg_ctlcluster "$v" "$c" start >/dev/null 2>&1 || true; fi
  done
  pg_wait_online b2bpay_primary
  for _ in $(seq 1 20); do
    p=$(pg_current_primary)
    [ -n "$p" ] && break
    sleep 0.5
  done
  [ -n "$p" ] || die "no primary among ${PG_NAMES[*]} (after pg-stop-primary: pg-promote, then pg-rejoin)"
  psqlp "$(pg_port_of "$p")" -c "do \$\$ begin if not exists (select from pg_roles where rolname = '$PG_REPL_USER') then create role $PG_REPL_USER login replication; end if; end \$\$"
  if [ "$(psqlp "$(pg_port_of "$p")" -c "select count(*) from pg_database where datname = 'b2bpay'")" = 0 ]; then
    psqlp "$(pg_port_of "$p")" -c 'create database b2bpay'
  fi
  local s
  s=$(pg_other "$p")
  if ! pg_exists "$s"; then
    log "creating PostgreSQL $v cluster $s on $(pg_port_of "$s") (pg_basebackup -R from $p)"
    pg_createcluster "$v" "$s" -p "$(pg_port_of "$s")" -d "$(pg_data "$s")" >/dev/null
    pg_conf "$s"
    pg_basebackup_from "$s" "$p"
  fi
  pg_ctlcluster "$v" "$s" start >/dev/null 2>&1 || true
  pg_wait_online "$s"
  pg_set_sync "$p" on
  pg_wait_sync "$p"
}

pg_down() {
  local c v
  v=$(pg_ver)
  for c in "${PG_NAMES[@]}"; do
    if pg_exists "$c"; then
      pg_ctlcluster "$v" "$c" stop -m fast >/dev/null 2>&1 || true
      pg_dropcluster "$v" "$c" 2>/dev/null || true
    fi
    # pg_dropcluster leaves the files it did not make (our conf.d file)
    rm -rf "/etc/postgresql/$v/$c"
  done
}

# pg_stop_primary [fast|immediate]: stop the running primary; immediate
# is a crash (no shutdown checkpoint; pg-rejoin recovers it first).
pg_stop_primary() {
  local p m=${1:-fast}
  [ "$m" = fast ] || [ "$m" = immediate ] || die "pg-stop-primary: mode fast or immediate, got '$m'"
  p=$(pg_current_primary)
  [ -n "$p" ] || die "no running primary"
  pg_ctlcluster "$(pg_ver)" "$p" stop -m "$m"
  log "stopped primary $p (port $(pg_port_of "$p"), $m)"
}

# pg_stop_standby: stop the running standby (commits on a synchronous
# primary then wait for it).
pg_stop_standby() {
  local c
  for c in "${PG_NAMES[@]}"; do
    if [ "$(pg_role "$c")" = standby ]; then
      pg_ctlcluster "$(pg_ver)" "$c" stop -m fast
      log "stopped standby $c (port $(pg_port_of "$c"))"
      return 0
    fi
  done
  die "no running standby"
}

# pg_start: start every stopped cluster as it was (a stopped standby
# catches up and is synchronous again).
pg_start() {
  local c
  for c in "${PG_NAMES[@]}"; do
    if pg_exists "$c" && [ "$(pg_role "$c")" = down ]; then
      pg_ctlcluster "$(pg_ver)" "$c" start
      pg_wait_online "$c"
      log "started $c (port $(pg_port_of "$c")), $(pg_role "$c")"
    fi
  done
}

# pg_promote: promote the standby. Without a standby, a synchronous
# primary would wait for ever on each commit: unless
# B2BPAY_CLUSTER_STRICT_SYNC=1, the new primary runs asynchronously until
# pg-rejoin gives it a synchronous standby again.
pg_promote() {
  local c s=
  for c in "${PG_NAMES[@]}"; do
    [ "$(pg_role "$c")" = standby ] && s=$c
  done
  [ -n "$s" ] || die "no running standby to promote"
  local old
  old=$(pg_other "$s")
  if [ "$(pg_role "$old")" = primary ]; then
    log "warning: $old is still a running primary: promoting $s makes two (pg-stop-primary first)"
  fi
  psqlp "$(pg_port_of "$s")" -c 'select pg_promote(true, 60)' >/dev/null
  if [ "${B2BPAY_CLUSTER_STRICT_SYNC:-}" != 1 ]; then
    pg_set_sync "$s" off
  fi
  log "promoted $s (port $(pg_port_of "$s")) to primary"
}

# pg_rejoin: the cluster that is not the running primary comes back as
# its synchronous standby (pg_rewind, or a fresh pg_basebackup -R if the
# rewind fails).
pg_rejoin() {
  local p o v
  v=$(pg_ver)
  p=$(pg_current_primary)
  [ -n "$p" ] || die "no running primary to rejoin"
  o=$(pg_other "$p")
  if [ "$(pg_role "$o")" = primary ]; then
    log "$o is a primary too: stopping it"
  fi
  pg_ctlcluster "$v" "$o" stop -m fast >/dev/null 2>&1 || true
  # A promotion writes its new timeline to the control file only at the
  # next checkpoint, and pg_rewind reads it there.
  psqlp "$(pg_port_of "$p")" -c checkpoint
  log "rewinding $o onto $p"
  if runuser -u postgres -- "/usr/lib/postgresql/$v/bin/pg_rewind" -D "$(pg_data "$o")" \
    --config-file="/etc/postgresql/$v/$o/postgresql.conf" \
    --source-server="host=127.0.0.1 port=$(pg_port_of "$p") user=postgres dbname=postgres" \
    >"$VAR/pg/rewind-$o.log" 2>&1; then
    pg_follow "$o" "$p"
  else
    log "pg_rewind failed (see $VAR/pg/rewind-$o.log): fresh pg_basebackup -R"
    pg_basebackup_from "$o" "$p"
  fi
  pg_ctlcluster "$v" "$o" start
  pg_wait_online "$o"
  pg_set_sync "$p" on
  pg_wait_sync "$p"
  log "$o (port $(pg_port_of "$o")) is the synchronous standby of $p (port $(pg_port_of "$p"))"
}

pg_roles() {
  local c
  for c in "${PG_NAMES[@]}"; do
    echo "$c $(pg_port_of "$c") $(pg_role "$c")"
  done
}

# ---------- env, status ----------

write_env() {
  local n urls="" v
  v=$(pg_ver)
  for n in "${RMQ_NODES[@]}"; do
    urls="${urls:+$urls,}amqp://b2bpay:b2bpay@127.0.0.1:$(node_port "$n")/"
  done
  {
    echo "# written by scripts/cluster.sh up; source it in a shell"
    echo "B2BPAY_CLUSTER_AMQP_URLS='$urls'"
    echo "B2BPAY_CLUSTER_DATABASE_URL='postgres://postgres@127.0.0.1:5441,127.0.0.1:5442/b2bpay?sslmode=disable&target_session_attrs=read-write'"
    echo "B2BPAY_CLUSTER_COOKIE_FILE='$VAR/cookie'"
    echo "B2BPAY_CLUSTER_SCRIPT='$ROOT/scripts/cluster.sh'"
    for n in "${RMQ_NODES[@]}"; do
      echo "B2BPAY_CLUSTER_RMQ${n}_NODE='$(node_name "$n")'"
      echo "B2BPAY_CLUSTER_RMQ${n}_PORT=$(node_port "$n")"
      echo "B2BPAY_CLUSTER_RMQ${n}_DIST_PORT=$(dist_port "$n")"
      echo "B2BPAY_CLUSTER_RMQ${n}_CTL='HOME=$VAR/home $RMQ_BIN/rabbitmqctl -n $(node_name "$n") --erlang-cookie \$(cat $VAR/cookie)'"
    done
    echo "B2BPAY_CLUSTER_PG_VERSION=$v"
    echo "B2BPAY_CLUSTER_PG_PRIMARY_PORT=5441"
    echo "B2BPAY_CLUSTER_PG_STANDBY_PORT=5442"
    echo "B2BPAY_CLUSTER_PG_PRIMARY_CTL='pg_ctlcluster $v b2bpay_primary'"
    echo "B2BPAY_CLUSTER_PG_STANDBY_CTL='pg_ctlcluster $v b2bpay_standby'"
    echo "export B2BPAY_CLUSTER_AMQP_URLS B2BPAY_CLUSTER_DATABASE_URL"
  } >"$VAR/env.new"
  mv "$VAR/env.new" "$VAR/env"
}

# node_state N: "state members..." of node N (down, paused, stopped,
# app-stopped or running, with the running nodes it sees).
node_state() {
  local n=$1 p j
  p=$(beam_pid "$n")
  if [ -z "$p" ]; then
    echo down
  elif [ "$(ps -o stat= -p "$p" | cut -c1)" = T ]; then
    echo paused
  elif ! j=$(rmqctl "$n" -q cluster_status --formatter json 2>/dev/null); then
    echo stopped
  else
    python3 -c '
import json, sys
d = json.loads(sys.argv[1]); me = sys.argv[2]
run = sorted(d.get("running_nodes", []))
part = " PARTITIONED" if d.get("partitions") else ""
print(("running " if me in run else "app-stopped ") + " ".join(x.split("@")[0] for x in run) + part)
' "$j" "$(node_name "$n")"
  fi
}

status() {
  local n c r rep tmp
  tmp=$(mktemp -d)
  for n in "${RMQ_NODES[@]}"; do node_state "$n" >"$tmp/$n" & done
  wait
  printf '%-22s %-6s %-12s %s\n' NODE PORT STATE "CLUSTER (running nodes as this node sees them)"
  for n in "${RMQ_NODES[@]}"; do
    read -r st members <"$tmp/$n" || true
    printf '%-22s %-6s %-12s %s\n' "$(node_name "$n")" "$(node_port "$n")" "$st" "${members:-}"
  done
  rm -rf "$tmp"
  echo
  printf '%-22s %-6s %-12s %s\n' CLUSTER PORT ROLE "REPLICATION (from the primary)"
  for c in "${PG_NAMES[@]}"; do
    if ! pg_exists "$c"; then
      printf '%-22s %-6s %-12s\n' "$c" "$(pg_port_of "$c")" absent
      continue
    fi
    r=$(pg_role "$c")
    rep=""
    if [ "$r" = primary ]; then
      rep=$(psqlp "$(pg_port_of "$c")" -c "select string_agg(application_name || ' ' || state || ' ' || sync_state, ', ') from pg_stat_replication" 2>/dev/null || true)
      rep=${rep:-no standby}
    fi
    printf '%-22s %-6s %-12s %s\n' "$c" "$(pg_port_of "$c")" "$r" "$rep"
  done
}

# ---------- commands ----------

cmd=${1:-}
shift || true
case "$cmd" in
  up)
    start=$(date +%s)
    mkdir -p "$VAR"
    { pg_up && log "PostgreSQL up in $(($(date +%s) - start)) s"; } &
    pgjob=$!
    rmq_up
    log "RabbitMQ up in $(($(date +%s) - start)) s"
    wait "$pgjob" || die "PostgreSQL did not come up"
    write_env
    log "up in $(($(date +%s) - start)) s; environment in $VAR/env"
    status
    ;;
  down)
    for n in "${RMQ_NODES[@]}"; do rmq_stop "$n" & done
    wait
    pg_down
    rm -rf "$VAR"
    log "down: var/cluster removed"
    ;;
  status) status ;;
  env) cat "$VAR/env" ;;
  rmq-kill)
    check_n "${1:-}"
    p=$(beam_pid "$1")
    [ -n "$p" ] || die "$(node_name "$1") is not running"
    kill -9 "$p"
    log "killed $(node_name "$1") (pid $p)"
    ;;
  rmq-start) rmq_start "${1:-}" ;;
  rmq-stop)
    rmq_stop "${1:-}"
    log "stopped $(node_name "$1")"
    ;;
  rmq-pause | rmq-resume)
    check_n "${1:-}"
    p=$(beam_pid "$1")
    [ -n "$p" ] || die "$(node_name "$1") is not running"
    if [ "$cmd" = rmq-pause ]; then sig=STOP; else sig=CONT; fi
    kill -"$sig" "$p"
    log "SIG$sig to $(node_name "$1") (pid $p)"
    ;;
  rmq-restart)
    check_n "${1:-}"
    if [ "${2:-}" = --app ]; then
      rmqctl "$1" -q stop_app
      rmqctl "$1" -q start_app
    else
      rmq_stop "$1"
      rmq_launch "$1"
      rmq_wait "$1"
    fi
    log "restarted $(node_name "$1")"
    ;;
  rmq-leader)
    q=${1:-}
    [ -n "$q" ] || die "usage: rmq-leader QUEUE [VHOST]"
    vh=${2:-/}
    for n in "${RMQ_NODES[@]}"; do
      if rmq_running "$n"; then
        l=$(rmqctl "$n" -q list_queues -p "$vh" --no-table-headers name leader |
          awk -F'\t' -v q="$q" '$1 == q { print $2 }')
        [ -n "$l" ] || die "no queue '$q' in vhost '$vh' (or not a quorum queue)"
        echo "$l"
        exit 0
      fi
    done
    die "no node running"
    ;;
  pg-stop-primary) pg_stop_primary "${1:-fast}" ;;
  pg-promote) pg_promote ;;
  pg-stop-standby) pg_stop_standby ;;
  pg-start) pg_start ;;
  pg-rejoin) pg_rejoin ;;
  pg-roles) pg_roles ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2
    exit 2
    ;;
esac
