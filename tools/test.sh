#!/usr/bin/env bash
# Runs every check and test: format, lint, types, unit tests, then the e2e tests against the
# real container engine, registry, SSH host and Ansible that tools/env/up.sh provisions.
# Works on a fresh clone: installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

if [ ! -x node_modules/.bin/nx ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci"
  npm ci --no-audit --no-fund
fi

step "Test environment (container engine, registry, SSH host, Ansible)"
bash tools/env/up.sh

step "Prettier"
npx prettier --check .
step "ESLint"
npx eslint .
step "TypeScript (tsc --noEmit)"
npm run --silent typecheck

step "Host helper unit tests"
python3 -m unittest discover -s packages/plugin/src/host/tests -t packages/plugin/src/host

step "Unit tests"
npx jest -c packages/plugin/jest.config.ts

step "E2E tests"
# --verbose: every test with its time (where a suite's time goes).
npx jest -c packages/plugin-e2e/jest.config.ts --verbose "$@"
