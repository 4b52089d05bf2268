#!/usr/bin/env bash
# The project's one test command: formatting, lints, then every test, with DynamoDB Local
# started (and stopped) by infra/dynamodb-local.sh so the store contract runs on both the
# embedded store and DynamoDB. CI (.ci/run) runs exactly this after installing what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

echo "== client libraries for the oracle tests"
scripts/setup-clients.sh

echo "== tests (with DynamoDB Local)"
cargo build --workspace --all-targets --all-features --locked
if cargo nextest --version >/dev/null 2>&1; then
  infra/dynamodb-local.sh run -- cargo nextest run --workspace --all-features --locked --no-fail-fast
else
  infra/dynamodb-local.sh run -- cargo test --workspace --all-features --locked --no-fail-fast
fi
