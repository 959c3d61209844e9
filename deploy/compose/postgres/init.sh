#!/bin/bash
# The two roles of deploy/README.md ("Two database roles"): b2bpay_owner owns
# the database and runs the migrations; b2bpay is serve's role, granted by
# `b2bpay migrate --app-role b2bpay`. Runs once, on an empty data directory.
set -euo pipefail
psql -v ON_ERROR_STOP=1 -U postgres \
  -v owner_pw="$B2BPAY_OWNER_PASSWORD" -v app_pw="$B2BPAY_DB_PASSWORD" <<'SQL'
CREATE ROLE b2bpay_owner LOGIN PASSWORD :'owner_pw';
CREATE ROLE b2bpay LOGIN PASSWORD :'app_pw';
CREATE DATABASE b2bpay OWNER b2bpay_owner;
SQL
