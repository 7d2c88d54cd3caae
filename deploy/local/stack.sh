#!/usr/bin/env bash
# Native local stack for machines without Docker: RabbitMQ (Debian package) + FerretDB
# (SQLite backend, built from deploy/local/ferretdb). Safe to run repeatedly.
#
#   deploy/local/stack.sh [up|down|status]      (default: up)
#
# Environment:
#   MOHA_STACK_DIR         state dir (binary, data, logs, pid)  default ~/.local/share/moha-stack
#   FERRETDB_PORT          FerretDB port on 127.0.0.1           default 27017
#   RABBITMQ_PORT          AMQP port on 127.0.0.1               default 5672
#   RABBITMQ_MANAGEMENT    1 = enable management UI on loopback default 0
#   RABBITMQ_MGMT_PORT     management UI port                   default 15672
#   STACK_WAIT_SECONDS     how long to wait for each service    default 90
#   FERRETDB_LOG_LEVEL     debug, info, warn, error             default warn
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC_DIR="$SCRIPT_DIR/ferretdb"
STATE_DIR="${MOHA_STACK_DIR:-$HOME/.local/share/moha-stack}"
BIN_DIR="$STATE_DIR/bin"
FERRET_BIN="$BIN_DIR/ferretdb"
FERRET_HASH="$BIN_DIR/ferretdb.sha256"
FERRET_DATA="$STATE_DIR/ferretdb-data"
LOG_DIR="$STATE_DIR/logs"
FERRET_LOG="$LOG_DIR/ferretdb.log"
FERRET_PID="$STATE_DIR/ferretdb.pid"

HOST=127.0.0.1
FERRETDB_PORT="${FERRETDB_PORT:-27017}"
RABBITMQ_PORT="${RABBITMQ_PORT:-5672}"
RABBITMQ_MANAGEMENT="${RABBITMQ_MANAGEMENT:-0}"
RABBITMQ_MGMT_PORT="${RABBITMQ_MGMT_PORT:-15672}"
WAIT="${STACK_WAIT_SECONDS:-90}"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# Run as root: directly when we are root, else through sudo (CI runners have passwordless sudo).
if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n)
else
  SUDO=()
fi
as_root() {
  if [[ $(id -u) -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
    die "need root (or sudo) for: $*"
  fi
  "${SUDO[@]}" "$@"
}

port_open() { # host port
  (exec 3<>"/dev/tcp/$1/$2") >/dev/null 2>&1
}

wait_port() { # host port
  local i
  for ((i = 0; i < WAIT * 4; i++)); do
    port_open "$1" "$2" && return 0
    sleep 0.25
  done
  return 1
}

# ---------------------------------------------------------------------------- RabbitMQ

rabbit_installed() {
  [[ "$(dpkg-query -W -f='${Status}' rabbitmq-server 2>/dev/null || true)" == "install ok installed" ]]
}

install_rabbitmq() {
  if rabbit_installed; then
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "rabbitmq-server missing and apt-get not available"
  log "installing rabbitmq-server from the distribution (apt-get)"
  # Keep the package's maintainer scripts from starting the service (no init system here, and in
  # CI we start it ourselves): a policy-rc.d that answers 101 ("action forbidden").
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    created_policy=1
  fi
  local rc=0
  {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold rabbitmq-server
  } >&2 || rc=$?
  if [[ $created_policy -eq 1 ]]; then
    as_root rm -f "$policy"
  fi
  [[ $rc -eq 0 ]] || die "apt-get install rabbitmq-server failed (exit $rc)"
  # In case a service manager started it anyway (an existing policy-rc.d allowed it), stop it:
  # we start it ourselves, bound to loopback.
  if rabbit_running; then
    log "stopping the RabbitMQ started by the package installation"
    as_root rabbitmqctl -q shutdown >/dev/null 2>&1 || true
  fi
}

rabbit_version() {
  dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null | sed 's/-[^-]*$//'
}

check_rabbit_version() {
  local v major minor
  v="$(rabbit_version)"
  major="${v%%.*}"
  minor="${v#*.}"
  minor="${minor%%.*}"
  if [[ ! $major =~ ^[0-9]+$ || ! $minor =~ ^[0-9]+$ ]]; then
    log "WARNING: cannot parse RabbitMQ version '$v'"
    return 0
  fi
  if ((major < 3 || (major == 3 && minor < 10))); then
    die "RabbitMQ $v is too old: quorum queues with x-delivery-limit need 3.10 or newer"
  fi
  log "RabbitMQ $v (quorum queues supported)"
}

# rabbitmq_management is optional (RABBITMQ_MANAGEMENT=1); enabling it writes
# /etc/rabbitmq/enabled_plugins. It is never disabled here.
configure_rabbitmq() {
  [[ $RABBITMQ_MANAGEMENT == 1 ]] || return 0
  if as_root test -f /etc/rabbitmq/enabled_plugins &&
    as_root grep -q rabbitmq_management /etc/rabbitmq/enabled_plugins; then
    return 0
  fi
  log "enabling the rabbitmq_management plugin (offline)"
  as_root rabbitmq-plugins -q enable --offline rabbitmq_management >/dev/null
  if rabbit_running; then
    log "note: restart RabbitMQ ('$0 down' then '$0 up') for the management UI to start"
  fi
}

rabbit_running() {
  as_root rabbitmq-diagnostics -q ping >/dev/null 2>&1
}

start_rabbitmq() {
  if rabbit_running; then
    log "RabbitMQ already running"
    port_open "$HOST" "$RABBITMQ_PORT" ||
      log "WARNING: the running RabbitMQ does not listen on $HOST:$RABBITMQ_PORT"
    return 0
  fi
  if port_open "$HOST" "$RABBITMQ_PORT"; then
    die "port $HOST:$RABBITMQ_PORT is taken by something that is not our RabbitMQ node"
  fi
  log "starting RabbitMQ (rabbitmq-server -detached), logs in /var/log/rabbitmq/"
  # Loopback only. The Debian wrapper runs the server as user 'rabbitmq' through 'su', which keeps
  # the environment; 'sudo env ...' keeps it too. The management listener (if the plugin is
  # enabled) is pinned to loopback through the Erlang application environment.
  as_root env \
    RABBITMQ_NODE_IP_ADDRESS="$HOST" \
    RABBITMQ_NODE_PORT="$RABBITMQ_PORT" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-rabbitmq_management tcp_config [{ip,\"$HOST\"},{port,$RABBITMQ_MGMT_PORT}]" \
    rabbitmq-server -detached
  local i
  for ((i = 0; i < WAIT; i += 2)); do
    if as_root rabbitmqctl -q await_startup --timeout 2 >/dev/null 2>&1; then
      break
    fi
    sleep 1
  done
  as_root rabbitmq-diagnostics -q ping >/dev/null 2>&1 ||
    die "RabbitMQ did not start within ${WAIT}s; see /var/log/rabbitmq/"
  wait_port "$HOST" "$RABBITMQ_PORT" || die "RabbitMQ runs but $HOST:$RABBITMQ_PORT is closed"
  log "RabbitMQ is up on $HOST:$RABBITMQ_PORT"
}

stop_rabbitmq() {
  if rabbit_installed && rabbit_running; then
    log "stopping RabbitMQ"
    as_root rabbitmqctl -q shutdown >/dev/null
  else
    log "RabbitMQ not running"
  fi
}

# ---------------------------------------------------------------------------- FerretDB

src_hash() {
  (cd "$SRC_DIR" && cat main.go go.mod go.sum) | sha256sum | cut -d' ' -f1
}

build_ferretdb() {
  local want
  want="$(src_hash)"
  if [[ -x $FERRET_BIN && -f $FERRET_HASH && "$(cat "$FERRET_HASH")" == "$want" ]]; then
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "Go is needed to build FerretDB (go 1.24 or newer, https://go.dev/dl/)"
  mkdir -p "$BIN_DIR"
  log "building FerretDB (first build takes a couple of minutes) -> $FERRET_BIN"
  local start=$SECONDS
  (cd "$SRC_DIR" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -ldflags='-s -w' \
    -o "$FERRET_BIN.tmp" .)
  mv -f "$FERRET_BIN.tmp" "$FERRET_BIN"
  printf '%s\n' "$want" >"$FERRET_HASH"
  FERRET_REBUILT=1
  log "FerretDB built in $((SECONDS - start))s"
}

ferret_pid() { # prints the pid if our FerretDB process is alive
  [[ -f $FERRET_PID ]] || return 1
  local pid
  pid="$(cat "$FERRET_PID")"
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: the process must be our binary.
  [[ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" == "$FERRET_BIN"* ]] || return 1
  echo "$pid"
}

start_ferretdb() {
  local pid
  if [[ ${FERRET_REBUILT:-0} == 1 ]] && ferret_pid >/dev/null; then
    log "FerretDB binary rebuilt: restarting the running instance"
    stop_ferretdb
  fi
  if pid="$(ferret_pid)"; then
    if port_open "$HOST" "$FERRETDB_PORT"; then
      log "FerretDB already running (pid $pid)"
      return 0
    fi
    log "FerretDB pid $pid alive but port $FERRETDB_PORT closed; waiting for it"
    wait_port "$HOST" "$FERRETDB_PORT" || die "FerretDB (pid $pid) does not listen; see $FERRET_LOG"
    return 0
  fi
  if port_open "$HOST" "$FERRETDB_PORT"; then
    log "something already listens on $HOST:$FERRETDB_PORT (not ours): not starting FerretDB"
    return 0
  fi
  mkdir -p "$FERRET_DATA" "$LOG_DIR"
  log "starting FerretDB on $HOST:$FERRETDB_PORT, data in $FERRET_DATA, log $FERRET_LOG"
  # setsid: own session, so the server outlives the shell/CI step that started it.
  setsid nohup "$FERRET_BIN" -listen-addr "$HOST:$FERRETDB_PORT" -sqlite-dir "$FERRET_DATA" \
    -log-level "${FERRETDB_LOG_LEVEL:-warn}" </dev/null >>"$FERRET_LOG" 2>&1 &
  echo $! >"$FERRET_PID"
  if ! wait_port "$HOST" "$FERRETDB_PORT"; then
    tail -n 20 "$FERRET_LOG" >&2 || true
    die "FerretDB did not open $HOST:$FERRETDB_PORT within ${WAIT}s; see $FERRET_LOG"
  fi
  log "FerretDB is up (pid $(cat "$FERRET_PID"))"
}

stop_ferretdb() {
  local pid i
  if ! pid="$(ferret_pid)"; then
    log "FerretDB not running (no live pid in $FERRET_PID)"
    rm -f "$FERRET_PID"
    return 0
  fi
  log "stopping FerretDB (pid $pid)"
  kill -TERM "$pid"
  for ((i = 0; i < 40; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "FerretDB did not stop in 10s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$FERRET_PID"
}

# ---------------------------------------------------------------------------- commands

print_urls() {
  echo "AMQP_URL=amqp://guest:guest@$HOST:$RABBITMQ_PORT/"
  echo "MONGODB_URL=mongodb://$HOST:$FERRETDB_PORT/"
}

cmd_up() {
  install_rabbitmq
  check_rabbit_version
  configure_rabbitmq
  build_ferretdb
  start_rabbitmq
  start_ferretdb
  if [[ $RABBITMQ_MANAGEMENT == 1 ]] && port_open "$HOST" "$RABBITMQ_MGMT_PORT"; then
    log "management UI: http://$HOST:$RABBITMQ_MGMT_PORT/ (guest/guest)"
  fi
  print_urls
}

cmd_down() {
  stop_ferretdb
  stop_rabbitmq
}

cmd_status() {
  local rc=0 pid
  if ! rabbit_installed; then
    echo "rabbitmq: not installed"
    rc=1
  elif rabbit_running; then
    echo "rabbitmq: running $(rabbit_version) on $HOST:$RABBITMQ_PORT (logs /var/log/rabbitmq/)"
  else
    echo "rabbitmq: stopped"
    rc=1
  fi
  if pid="$(ferret_pid)"; then
    echo "ferretdb: running (pid $pid) on $HOST:$FERRETDB_PORT (log $FERRET_LOG)"
  elif port_open "$HOST" "$FERRETDB_PORT"; then
    echo "ferretdb: not ours, but something listens on $HOST:$FERRETDB_PORT"
  else
    echo "ferretdb: stopped"
    rc=1
  fi
  [[ $rc -eq 0 ]] && print_urls
  return $rc
}

case "${1:-up}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  -h | --help | help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command '$1' (use up, down or status)" ;;
esac
