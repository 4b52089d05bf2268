#!/usr/bin/env bash
# Benchmarks, each reporting ratios against a baseline measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --locked -p agentgate-shared --bench snapshots
