#!/usr/bin/env bash
# The test command: everything the suite needs on a fresh Debian machine, then the suite.
#
#   bash tests/run.sh [pytest arguments]     e.g. bash tests/run.sh tests/unit -q
#
# It uses AMQP_URL/MONGODB_URL when both are set (an administrator's broker URL: each run makes a
# vhost and users of its own); otherwise it starts the native stack (deploy/local/stack.sh:
# RabbitMQ and SecantusDB on loopback, built or installed once). It installs Debian's Chromium and
# its driver for the browser tests if missing, the platform into .venv, and the web front's pinned
# npm packages (axe-core for the browser tests); then it lints (ruff, mypy) and runs the tests.
# Safe to run again: what is there is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi; }

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v npm >/dev/null || missing+=(npm)
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "installing ${missing[*]} (apt-get)" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi

# The stack starts (about 12 s) while the platform installs: after apt-get above, so that the two
# never wait on each other's package lock.
if [[ -z ${AMQP_URL:-} || -z ${MONGODB_URL:-} ]]; then
  stack_env=$(mktemp)
  bash deploy/local/stack.sh up >"$stack_env" &
  stack=$!
fi

[[ -x .venv/bin/python ]] || python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
# uv installs what pip would (the same pins from pyproject.toml) in seconds instead of half a minute.
python -m pip install --quiet uv==0.13.9
uv pip install --quiet --compile-bytecode -e contracts -e '.[test]'
# Compiled once here, our own modules too: where PYTHONDONTWRITEBYTECODE is set (this machine sets
# it), every one of the suite's sixty-odd processes compiled everything it imported again, 2.4 s of
# CPU per service start instead of 1.0.
python -m compileall -q -j 0 chassis services web tests deploy bench contracts/moha_contracts >/dev/null
bash web/vendor.sh

# Lint, format and type checks before the tests ([tool.ruff], [tool.mypy] in pyproject.toml): a
# finding stops the run. mypy keeps its cache beside uv's, outside the clone: it checks again only
# what changed (its cache is keyed by each file's content), 0.6 s instead of 11 s in a new clone.
ruff check .
ruff format --check .
MYPY_CACHE_DIR=${MYPY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moha/mypy} mypy

if [[ -n ${stack:-} ]]; then
  wait "$stack" || { echo "the local stack did not start (deploy/local/stack.sh up)" >&2; exit 1; }
  while IFS= read -r line; do
    [[ $line == *=* ]] && export "${line?}"
  done <"$stack_env"
  rm -f "$stack_env"
fi
echo "AMQP_URL=${AMQP_URL%%@*}@… MONGODB_URL=$MONGODB_URL" >&2

# Workers in parallel (pytest-xdist): the end-to-end tests mostly wait on the platform, so three
# on two cores finish sooner than one. Each worker runs its own platform on a vhost and databases of
# its own (tests/conftest.py). TEST_WORKERS=0 runs everything in this process.
exec python -m pytest -n "${TEST_WORKERS:-3}" --dist worksteal "$@"
