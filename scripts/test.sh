#!/usr/bin/env bash
# The project's one test command: formatting, lints, the template lint, then every test
# with the local stand-ins for AWS running (DynamoDB Local, and moto for Secrets Manager),
# each started on a free port and stopped afterwards. CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== test dependencies"
scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

echo "== cfn-lint template.yaml"
target/tools-venv/bin/cfn-lint template.yaml

echo "== tests (with DynamoDB Local and a local Secrets Manager)"
cargo build --workspace --all-targets --all-features --locked
runner=(cargo nextest run --workspace --all-features --locked --no-fail-fast)
cargo nextest --version >/dev/null 2>&1 || runner=(cargo test --workspace --all-features --locked --no-fail-fast)
infra/dynamodb-local.sh run -- infra/moto-local.sh run -- "${runner[@]}"
