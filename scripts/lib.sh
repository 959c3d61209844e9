# Shared by scripts/services.sh and scripts/browser.sh (sourced, not run):
# running what changes the machine (printed, or only printed in a dry run),
# as root, on Debian-like systems. The caller defines log, die and DRYRUN.

# run prints a command that changes the machine, then runs it (or, in a
# dry run, only prints it).
run() {
  if [ -n "$DRYRUN" ]; then
    log "dry run: would run: $*"
    return 0
  fi
  log "running: $*"
  "$@"
}

# as_root runs a command as root: directly when this is root, else with
# sudo; without either it explains and stops.
as_root() {
  if [ "$(id -u)" = 0 ]; then
    run "$@"
  elif command -v sudo >/dev/null; then
    run sudo "$@"
  else
    die "this needs root and there is no sudo: run as root: $*"
  fi
}

# debian_like is true on Debian, Ubuntu and their derivatives with apt-get.
debian_like() {
  command -v apt-get >/dev/null || return 1
  [ -r /etc/os-release ] || return 1
  local id id_like
  id="$(. /etc/os-release && echo "${ID:-}")"
  id_like="$(. /etc/os-release && echo "${ID_LIKE:-}")"
  case " $id $id_like " in
  *" debian "* | *" ubuntu "*) return 0 ;;
  esac
  return 1
}
