#!/usr/bin/env bash
# Installs the pinned test dependencies that do not come with Rust:
#  - the client libraries used as test oracles: the official `openai` Python SDK
#    (target/clients-venv) and the Vercel AI SDK (tests/clients/node_modules);
#  - Debian's Chromium, which the public-link page test drives with playwright-core (the
#    browser comes from apt, never from a download at run time);
#  - tools: cfn-lint (with the SAM translator) and moto's local Secrets Manager and SES v2
#    (target/tools-venv);
#  - DynamoDB Local (installed on first start by infra/dynamodb-local.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

venv() {
  local dir=$1 requirements=$2
  [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
}

if ! command -v "${AGENTGATE_CHROMIUM:-chromium}" >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  else
    echo "Chromium is missing: install Debian's chromium (sudo apt-get install chromium)" >&2
    exit 1
  fi
fi

mkdir -p target
venv target/clients-venv tests/clients/requirements.txt
venv target/tools-venv infra/requirements-tools.txt
(cd tests/clients && npm ci --no-audit --no-fund --loglevel=error)
