#!/usr/bin/env bash
# The web front's served assets come from npm packages pinned in package.json/package-lock.json
# (GOV.UK Frontend, htmx). Their built files are committed in static/vendor, so the web front runs
# from a clean clone with no Node; this script installs the pinned packages again (with axe-core,
# which the browser tests inject) and copies the served files, e.g. after an upgrade.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --silent
mkdir -p static/vendor
cp node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.css static/vendor/
cp node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js static/vendor/
cp node_modules/htmx.org/dist/htmx.min.js static/vendor/
cp node_modules/htmx.org/LICENSE static/vendor/LICENSE-htmx.txt
# GOV.UK Frontend ships no licence file in its package: it is MIT (package.json), © Crown copyright.
printf 'govuk-frontend %s: MIT licence, (c) Crown copyright (https://github.com/alphagov/govuk-frontend)\n' \
  "$(node -p "require('./node_modules/govuk-frontend/package.json').version")" >static/vendor/LICENSE-govuk-frontend.txt
