#!/usr/bin/env bash
# Benchmarks, each reporting ratios against a baseline measured in the same run.
#   scripts/bench.sh            all of them
#   scripts/bench.sh snapshots  native-stream snapshot coalescing (pure, seconds)
#   scripts/bench.sh lambda     each function's release binary under a local Runtime API
#                               (builds the release binaries; starts DynamoDB Local and moto)
#   scripts/bench.sh gateway    what `agentgate serve` adds in front of a mock upstream, per
#                               family, against the mock called directly (builds the binary)
#   scripts/bench.sh instructions [BASELINE]
#                               user-space instructions per request of each family under
#                               valgrind's callgrind, against BASELINE (another agentgate
#                               binary) when given; repeatable to ~0.1% where CPU time is not
set -euo pipefail
cd "$(dirname "$0")/.."

snapshots() {
  cargo bench --locked -p agentgate-shared --bench snapshots
}

lambda() {
  local args=()
  for f in $(ls functions); do args+=(-p "agentgate-$f"); done
  cargo build --release --locked "${args[@]}"
  scripts/setup.sh >/dev/null
  infra/dynamodb-local.sh run -- infra/moto-local.sh run -- \
    cargo bench --locked -p agentgate --bench lambda
  # What `cargo bench` left there is not the release build (see `server` below).
  rm -f target/release/agentgate
}

# The release build of `agentgate`. `cargo bench` builds the package's binary again, with
# its dev-dependencies' features (other code, other symbol names: the hot-function order
# of local/build.rs does not apply), and leaves that one at target/release/agentgate;
# without the file, Cargo puts the release build back even when nothing is rebuilt.
server() {
  rm -f target/release/agentgate
  cargo build --release --locked -p agentgate
}

gateway() {
  server
  mkdir -p target/bench/bin
  cp target/release/agentgate target/bench/bin/agentgate
  AGENTGATE_BENCH_BIN_DIR="${AGENTGATE_BENCH_BIN_DIR:-$PWD/target/bench/bin}" \
    cargo bench --locked -p agentgate --bench gateway
  server
}

instructions() {
  server
  python3 local/benches/instructions.py target/release/agentgate "$@"
}

case "${1:-all}" in
  snapshots) snapshots ;;
  lambda) lambda ;;
  gateway) gateway ;;
  instructions) shift; instructions "$@" ;;
  all) snapshots; gateway; lambda ;;
  *) echo "usage: scripts/bench.sh [snapshots|gateway|lambda|instructions [BASELINE]]" >&2; exit 2 ;;
esac
