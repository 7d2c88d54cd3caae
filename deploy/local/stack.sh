#!/usr/bin/env bash
# Native local stack for machines without Docker: RabbitMQ (Debian package) + SecantusDB (a
# single-node MongoDB stand-in on WiredTiger, built once from crates.io). Safe to run repeatedly.
#
#   deploy/local/stack.sh [up|down|status]      (default: up)
#
# Environment:
#   MOHA_STACK_DIR         state dir (binary, data, logs, pid)  default ~/.local/share/moha-stack
#   MONGO_PORT             SecantusDB port on 127.0.0.1         default 27017
#   RABBITMQ_PORT          AMQP port on 127.0.0.1               default 5672
#   RABBITMQ_MANAGEMENT    1 = management API/UI on loopback    default 1 (users and vhosts are made through it)
#   RABBITMQ_MGMT_PORT     management UI port                   default 15672
#   RABBITMQ_PROMETHEUS    1 = Prometheus metrics on loopback   default 1 (queue depths for the dashboard)
#   RABBITMQ_PROMETHEUS_PORT  its port                          default 15692
#   STACK_WAIT_SECONDS     how long to wait for each service    default 90
#   SECANTUS_LOG_LEVEL     DEBUG, INFO, WARNING, ERROR          default WARNING
#   SECANTUS_CACHE_SIZE    WiredTiger cache                     default 1G
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR="${MOHA_STACK_DIR:-$HOME/.local/share/moha-stack}"
BIN_DIR="$STATE_DIR/bin"
STORE_BIN="$BIN_DIR/secantusd-rs"
STORE_STAMP="$BIN_DIR/secantusd-rs.version"
STORE_DATA="$STATE_DIR/secantus-data"
LOG_DIR="$STATE_DIR/logs"
STORE_LOG="$LOG_DIR/secantus.log"
STORE_PID="$STATE_DIR/secantus.pid"
STORE_CACHE="${SECANTUS_CACHE_SIZE:-1G}"
# The store's administrator (made at its first start); the launcher and the tests make a user per
# service, limited to its own database, through it (decision 0008).
STORE_ADMIN=moha-admin
STORE_ADMIN_PW_FILE="$STATE_DIR/store-admin.password"

HOST=127.0.0.1
MONGO_PORT="${MONGO_PORT:-27017}"
RABBITMQ_PORT="${RABBITMQ_PORT:-5672}"
# The management API is how the launcher and the tests make vhosts and per-service users.
RABBITMQ_MANAGEMENT="${RABBITMQ_MANAGEMENT:-1}"
RABBITMQ_MGMT_PORT="${RABBITMQ_MGMT_PORT:-15672}"
RABBITMQ_PROMETHEUS="${RABBITMQ_PROMETHEUS:-1}"
RABBITMQ_PROMETHEUS_PORT="${RABBITMQ_PROMETHEUS_PORT:-15692}"
WAIT="${STACK_WAIT_SECONDS:-90}"
RABBIT_ENV_FILE=/etc/rabbitmq/moha-env.conf

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

# rabbitmq_management is optional (RABBITMQ_MANAGEMENT=1), and so is rabbitmq_prometheus
# (RABBITMQ_PROMETHEUS=1: queue depths and the node's figures for the dashboard, decision 0017);
# enabling them writes /etc/rabbitmq/enabled_plugins. They are never disabled here.
configure_rabbitmq() {
  local plugin
  for plugin in rabbitmq_management rabbitmq_prometheus; do
    [[ $plugin == rabbitmq_management && $RABBITMQ_MANAGEMENT != 1 ]] && continue
    [[ $plugin == rabbitmq_prometheus && $RABBITMQ_PROMETHEUS != 1 ]] && continue
    if as_root test -f /etc/rabbitmq/enabled_plugins &&
      as_root grep -q "$plugin" /etc/rabbitmq/enabled_plugins; then
      continue
    fi
    log "enabling the $plugin plugin (offline)"
    as_root rabbitmq-plugins -q enable --offline "$plugin" >/dev/null
    if rabbit_running; then
      log "note: restart RabbitMQ ('$0 down' then '$0 up') for $plugin to start"
    fi
  done
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
  # RabbitMQ counts sockets and files against the soft descriptor limit, 1024 under su's PAM
  # defaults: a few hundred quorum queues (a test run has ~110 per vhost) exhaust it, and the node
  # then accepts TCP connections but never answers them. Its env file raises the soft limit.
  printf '%s\n' '# Written by deploy/local/stack.sh (see there).' 'ulimit -n "$(ulimit -Hn)" 2>/dev/null || true' |
    as_root tee "$RABBIT_ENV_FILE" >/dev/null
  # Loopback only. The Debian wrapper runs the server as user 'rabbitmq' through 'su', which keeps
  # the environment; 'sudo env ...' keeps it too. The management and Prometheus listeners (if their
  # plugins are enabled) are pinned to loopback through the Erlang application environment.
  # Each quorum queue's leader wakes on a tick to publish its figures (5 s by default): a test run
  # keeps ~110 queues per vhost for minutes, and their ticks cost the node about as much as all
  # else it does while they sit idle. Here the figures (queue depths on the dashboard, the
  # management API's counts) are 30 s old at most; retries and message expiry run on their own
  # timers, not on the tick.
  as_root env \
    RABBITMQ_CONF_ENV_FILE="$RABBIT_ENV_FILE" \
    RABBITMQ_NODE_IP_ADDRESS="$HOST" \
    RABBITMQ_NODE_PORT="$RABBITMQ_PORT" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-rabbit quorum_tick_interval 30000 -rabbitmq_management tcp_config [{ip,\"$HOST\"},{port,$RABBITMQ_MGMT_PORT}] -rabbitmq_prometheus tcp_config [{ip,\"$HOST\"},{port,$RABBITMQ_PROMETHEUS_PORT}]" \
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

# ---------------------------------------------------------------------------- SecantusDB

# Pinned: the suite and the benchmarks were measured on this version (docs/decisions/0007).
SECANTUS_VERSION="${SECANTUS_VERSION:-0.5.3-beta.196}"

secantus_installed() {
  [[ -x $STORE_BIN && -f $STORE_STAMP && "$(cat "$STORE_STAMP")" == "$SECANTUS_VERSION" ]]
}

install_build_deps() {
  local missing=() pkg
  for pkg in cmake gcc g++ make pkg-config zlib1g-dev; do
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" == "install ok installed" ]] || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing build tools (${missing[*]}) and apt-get not available"
  log "installing build tools for SecantusDB: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
    die "apt-get install ${missing[*]} failed"
}

build_secantus() {
  secantus_installed && return 0
  local cargo
  cargo="$(command -v cargo || true)"
  [[ -n $cargo ]] || cargo="$HOME/.cargo/bin/cargo"
  [[ -x $cargo ]] || die "cargo is needed to build SecantusDB once (https://rustup.rs); the binary is kept in $BIN_DIR"
  install_build_deps
  mkdir -p "$BIN_DIR"
  log "building SecantusDB $SECANTUS_VERSION from crates.io (once; about 5 minutes) -> $STORE_BIN"
  local start=$SECONDS root="$STATE_DIR/secantus-build"
  # --ignore-rust-version: its manifest asks for a newer rustc than it needs (measured, decision 0007).
  "$cargo" install secantus-mdb --version "$SECANTUS_VERSION" --locked --ignore-rust-version --root "$root" \
    --quiet >&2 || die "cargo install secantus-mdb $SECANTUS_VERSION failed"
  install -m 755 "$root/bin/secantusd-rs" "$STORE_BIN.tmp"
  mv -f "$STORE_BIN.tmp" "$STORE_BIN"
  printf '%s\n' "$SECANTUS_VERSION" >"$STORE_STAMP"
  rm -rf "$root"
  STORE_REBUILT=1
  log "SecantusDB built in $((SECONDS - start))s"
}

store_pid() { # prints the pid if our store process is alive
  [[ -f $STORE_PID ]] || return 1
  local pid
  pid="$(cat "$STORE_PID")"
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: the process must be our binary.
  [[ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" == "$STORE_BIN"* ]] || return 1
  echo "$pid"
}

start_store() {
  local pid
  if [[ ${STORE_REBUILT:-0} == 1 ]] && store_pid >/dev/null; then
    log "SecantusDB binary rebuilt: restarting the running instance"
    stop_store
  fi
  if pid="$(store_pid)"; then
    if port_open "$HOST" "$MONGO_PORT"; then
      log "SecantusDB already running (pid $pid)"
      return 0
    fi
    log "SecantusDB pid $pid alive but port $MONGO_PORT closed; waiting for it"
    wait_port "$HOST" "$MONGO_PORT" || die "SecantusDB (pid $pid) does not listen; see $STORE_LOG"
    return 0
  fi
  if port_open "$HOST" "$MONGO_PORT"; then
    log "something already listens on $HOST:$MONGO_PORT (not ours): using it as the store"
    return 0
  fi
  mkdir -p "$STORE_DATA" "$LOG_DIR"
  log "starting SecantusDB on $HOST:$MONGO_PORT, data in $STORE_DATA, log $STORE_LOG"
  # setsid: own session, so the server outlives the shell/CI step that started it.
  setsid nohup "$STORE_BIN" --host "$HOST" --port "$MONGO_PORT" --storage-path "$STORE_DATA" \
    --cache-size "$STORE_CACHE" --log-level "${SECANTUS_LOG_LEVEL:-WARNING}" --auth </dev/null >>"$STORE_LOG" 2>&1 &
  echo $! >"$STORE_PID"
  if ! wait_port "$HOST" "$MONGO_PORT"; then
    tail -n 20 "$STORE_LOG" >&2 || true
    die "SecantusDB did not open $HOST:$MONGO_PORT within ${WAIT}s; see $STORE_LOG"
  fi
  log "SecantusDB is up (pid $(cat "$STORE_PID"))"
  ensure_store_admin
}

# With authentication on, the first user can be made over loopback without one (MongoDB's
# "localhost exception", which SecantusDB follows): the administrator, once; its password is kept
# in the state dir, readable by this user only.
ensure_store_admin() {
  [[ -s $STORE_ADMIN_PW_FILE ]] && return 0
  local password
  password="$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | head -c 24)"
  python3 - "$HOST" "$MONGO_PORT" "$STORE_ADMIN" "$password" <<'PY' || die "could not make the store's administrator"
import socket, struct, sys
# A bare OP_MSG createUser, so that this script needs no driver (pymongo may not be installed yet).
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def bson(doc):
    out = b""
    for key, value in doc.items():
        k = key.encode() + b"\0"
        if isinstance(value, str):
            v = value.encode() + b"\0"
            out += b"\x02" + k + struct.pack("<i", len(v)) + v
        elif isinstance(value, list):
            inner = bson({str(i): item for i, item in enumerate(value)})
            out += b"\x04" + k + inner
        elif isinstance(value, dict):
            out += b"\x03" + k + bson(value)
    return struct.pack("<i", len(out) + 5) + out + b"\0"
body = bson({"createUser": user, "pwd": password, "roles": [{"role": "root", "db": "admin"}], "$db": "admin"})
msg = struct.pack("<I", 0) + b"\0" + body
header = struct.pack("<iiii", 16 + len(msg), 1, 0, 2013)
with socket.create_connection((host, port), timeout=10) as conn:
    conn.sendall(header + msg)
    reply = conn.recv(65536)
sys.exit(0 if b"ok" in reply and b"errmsg" not in reply else 1)
PY
  (umask 077 && printf '%s\n' "$password" >"$STORE_ADMIN_PW_FILE")
  log "store administrator '$STORE_ADMIN' made (password in $STORE_ADMIN_PW_FILE)"
}

stop_store() {
  local pid i
  if ! pid="$(store_pid)"; then
    log "SecantusDB not running (no live pid in $STORE_PID)"
    rm -f "$STORE_PID"
    return 0
  fi
  log "stopping SecantusDB (pid $pid)"
  kill -TERM "$pid"
  for ((i = 0; i < 120; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "SecantusDB did not stop in 30s: SIGKILL (WiredTiger recovers from its log at the next start)"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$STORE_PID"
}

# ---------------------------------------------------------------------------- commands

print_urls() {
  echo "AMQP_URL=amqp://guest:guest@$HOST:$RABBITMQ_PORT/"
  if [[ -s $STORE_ADMIN_PW_FILE ]]; then
    echo "MONGODB_URL=mongodb://$STORE_ADMIN:$(cat "$STORE_ADMIN_PW_FILE")@$HOST:$MONGO_PORT/?authSource=admin"
  else
    echo "MONGODB_URL=mongodb://$HOST:$MONGO_PORT/"
  fi
}

cmd_up() {
  install_rabbitmq
  check_rabbit_version
  configure_rabbitmq
  build_secantus
  start_rabbitmq
  start_store
  if [[ $RABBITMQ_MANAGEMENT == 1 ]] && port_open "$HOST" "$RABBITMQ_MGMT_PORT"; then
    log "management API and UI: http://$HOST:$RABBITMQ_MGMT_PORT/ (guest/guest, loopback only)"
  fi
  if [[ $RABBITMQ_PROMETHEUS == 1 ]] && port_open "$HOST" "$RABBITMQ_PROMETHEUS_PORT"; then
    log "Prometheus metrics: http://$HOST:$RABBITMQ_PROMETHEUS_PORT/metrics (per queue: /metrics/detailed?family=queue_coarse_metrics)"
  fi
  print_urls
}

cmd_down() {
  stop_store
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
  if pid="$(store_pid)"; then
    echo "secantusdb: running (pid $pid) on $HOST:$MONGO_PORT (log $STORE_LOG)"
  elif port_open "$HOST" "$MONGO_PORT"; then
    echo "store: not ours, but something listens on $HOST:$MONGO_PORT"
  else
    echo "secantusdb: stopped"
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
