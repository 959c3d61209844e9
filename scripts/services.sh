#!/usr/bin/env bash
# Make sure the local PostgreSQL and RabbitMQ answer, starting them if not,
# and that the tools the tests use are installed. Safe to run again.
set -euo pipefail

log() { echo "services: $*" >&2; }

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
rmq_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if ! pg_up; then
  log "PostgreSQL does not answer; starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 60); do pg_up && break; sleep 1; done
fi
pg_up || { log "PostgreSQL still does not answer on 127.0.0.1:5432"; exit 1; }

if ! rmq_up; then
  log "RabbitMQ does not answer; starting it"
  rabbitmq-server -detached || true
  for _ in $(seq 1 90); do rmq_up && break; sleep 1; done
fi
rmq_up || { log "RabbitMQ still does not answer on 127.0.0.1:5672"; exit 1; }
# The port can open before the broker is ready to take connections.
timeout 120 rabbitmqctl await_startup >/dev/null 2>&1 || true

missing=()
command -v xmllint >/dev/null || missing+=(libxml2-utils)
command -v amqp-publish >/dev/null || missing+=(amqp-tools)
command -v oathtool >/dev/null || missing+=(oathtool)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null 2>&1 \
    || log "could not install ${missing[*]}; tests that need them will fail"
fi
log "PostgreSQL and RabbitMQ answer"
