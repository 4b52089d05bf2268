#!/usr/bin/env bash
# The project's one test command: checks formatting and lints, then runs every test.
# CI (.ci/run) runs exactly this after installing what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --all-features --locked
