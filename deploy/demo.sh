#!/usr/bin/env bash
# Start the whole platform on this machine with demo data, and print its URLs and demo logins.
# Uses AMQP_URL / MONGODB_URL when set; otherwise starts the native stack (deploy/local/stack.sh).
# With Docker, see deploy/README.md (deploy/compose.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z ${AMQP_URL:-} || -z ${MONGODB_URL:-} ]]; then
  while IFS= read -r line; do
    [[ $line == *=* ]] && export "${line?}"
  done < <(bash deploy/local/stack.sh up)
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet -e contracts -e '.[test]'
# The web front's assets are committed; this also installs axe-core for the browser tests.
command -v npm >/dev/null && bash web/vendor.sh || echo "npm not found: the web front runs on its committed assets"

exec python -m deploy.launch --demo --mail-sink "$@"
