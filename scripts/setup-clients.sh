#!/usr/bin/env bash
# Installs the pinned client libraries the tests use as oracles: the official `openai`
# Python SDK (in target/clients-venv) and the Vercel AI SDK (in tests/clients/node_modules).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x target/clients-venv/bin/python ]; then
  mkdir -p target
  python3 -m venv target/clients-venv
fi
target/clients-venv/bin/pip install --quiet --disable-pip-version-check -r tests/clients/requirements.txt

(cd tests/clients && npm ci --no-audit --no-fund --loglevel=error)
