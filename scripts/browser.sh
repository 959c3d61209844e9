#!/usr/bin/env bash
# Make sure the headless browser of the console's end-to-end tests is here:
# Debian's chromium, and a font for Chinese (fonts-noto-cjk; without one,
# Chinese renders as boxes in the screenshots). `make services` (so
# `make test` and `make demo`) and .ci/run call it; it is safe to run again,
# and quick when everything is there.
#
# What it does:
#   - chromium ($B2BPAY_CHROMIUM, else /usr/bin/chromium) and a CJK font
#     (fc-list :lang=zh) present: nothing is installed.
#   - Missing on Debian or Ubuntu: apt-get update, then apt-get install
#     chromium fonts-noto-cjk (as root or with sudo), after waiting for
#     another apt-get or dpkg that holds the package database (up to 10
#     minutes).
#   - Missing anywhere else: it says what to install and exits 1.
# Then it loads a page in chromium headless, as the tests will, to prove
# that it starts (missing libraries, a broken profile).
#
# testkit/browser's tests fail (never skip) without these, except under
# B2BPAY_UNIT=1.
#
# B2BPAY_BROWSER_DRYRUN=1 (or B2BPAY_SERVICES_DRYRUN=1, as for
# scripts/services.sh) prints every command that would install something
# instead of running it (the checks still run).
set -euo pipefail

log() { echo "browser: $*" >&2; }
die() {
  log "$*"
  exit 1
}

DRYRUN="${B2BPAY_BROWSER_DRYRUN:-${B2BPAY_SERVICES_DRYRUN:-}}"
CHROMIUM="${B2BPAY_CHROMIUM:-/usr/bin/chromium}"
LOCK_WAIT=600

# run, as_root and debian_like: scripts/lib.sh.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# apt_busy is true while another apt or dpkg runs (it holds the locks that
# apt-get would wait on or fail on).
apt_busy() { pgrep -x 'apt|apt-get|aptitude|dpkg|unattended-upgr' >/dev/null 2>&1; }

# wait_apt waits up to LOCK_WAIT seconds for the package database.
wait_apt() {
  command -v pgrep >/dev/null || return 0
  apt_busy || return 0
  log "another apt-get or dpkg is running; waiting for it (up to ${LOCK_WAIT}s)"
  for _ in $(seq 1 "$LOCK_WAIT"); do
    apt_busy || return 0
    sleep 1
  done
  log "apt-get or dpkg still runs after ${LOCK_WAIT}s; trying anyway (apt-get waits for its lock too)"
}

chromium_ok() { [ -x "$CHROMIUM" ] || command -v "$CHROMIUM" >/dev/null 2>&1; }
cjk_font_ok() { command -v fc-list >/dev/null && [ -n "$(fc-list :lang=zh 2>/dev/null)" ]; }

if [ -n "${B2BPAY_CHROMIUM:-}" ] && ! chromium_ok; then
  die "B2BPAY_CHROMIUM=$B2BPAY_CHROMIUM is not a program here: unset it to use Debian's chromium (installed by this script), or name one that is"
fi

packages=()
chromium_ok || packages+=(chromium)
cjk_font_ok || packages+=(fonts-noto-cjk)
command -v fc-list >/dev/null || packages+=(fontconfig)

if [ ${#packages[@]} -gt 0 ]; then
  if ! debian_like; then
    die "$(
      cat <<EOF
missing ${packages[*]} (Debian's package names), and this is not Debian or Ubuntu: install them yourself, then run this again.
  Chromium (or Chrome) for the headless tests, at /usr/bin/chromium or named by B2BPAY_CHROMIUM;
  a font that covers Chinese (Noto Sans CJK), so that fc-list :lang=zh lists one.
EOF
    )"
  fi
  if [ "$(. /etc/os-release && echo "${ID:-}")" = ubuntu ] && [[ " ${packages[*]} " == *" chromium "* ]]; then
    log "on Ubuntu the chromium package installs a snap, which may not run here (containers, CI without snapd): if the check below fails, install Chrome or Chromium another way and set B2BPAY_CHROMIUM"
  fi
  wait_apt
  # In a subshell: without root or sudo, as_root stops only this step.
  (as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=$LOCK_WAIT update -qq) ||
    log "apt-get update failed; trying the package lists already here"
  wait_apt
  log "installing ${packages[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=$LOCK_WAIT \
    install -y -qq --no-install-recommends "${packages[@]}" >/dev/null ||
    die "could not install ${packages[*]}; testkit/browser's tests will fail"
fi

if [ -n "$DRYRUN" ]; then
  log "dry run: nothing was changed"
  exit 0
fi

chromium_ok || die "$CHROMIUM is still missing"
cjk_font_ok || die "still no font for Chinese (fc-list :lang=zh lists none)"

# One page, headless, with the flags the tests use.
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
if ! out="$(timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --dump-dom 'data:text/html;charset=utf-8,<p>填写</p>' 2>&1)" ||
  [[ $out != *"<p>填写</p>"* ]]; then
  die "$CHROMIUM does not load a page headless: $(grep -v -e 'ERROR:dbus/' -e 'unexpected operator' <<<"$out" | tail -n 5)"
fi
log "$("$CHROMIUM" --version 2>/dev/null | grep -m1 -i chrom || echo "$CHROMIUM") and a CJK font are here"
