#!/usr/bin/env bash
# Remakes local/hot-functions.txt, the functions `agentgate serve` runs in a turn, which
# local/build.rs has the linker place first (see the README's Performance section). Run it
# after a toolchain or dependency upgrade or a change to a turn's path. Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null; then
  echo "needs valgrind (Debian: apt-get install valgrind)" >&2
  exit 1
fi
# The release build with its symbol table kept. Only the final strip differs from the
# shipped build: a profile setting would change every symbol's hash.
cargo rustc --release --locked -p agentgate --bin agentgate -- -C strip=none
mkdir -p target/hot-functions
cp target/release/agentgate target/hot-functions/agentgate
python3 local/benches/hot_functions.py target/hot-functions/agentgate local/hot-functions.txt
# The stripped binary, linked with the new list.
cargo build --release --locked -p agentgate
