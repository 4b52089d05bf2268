#!/usr/bin/env bash
# Builds every Lambda function with the deployment's release profile (fat LTO, one codegen
# unit, stripped) for this machine's target and checks that no binary needs a glibc newer
# than Amazon Linux 2023's (2.34), the provided.al2023 runtime. Deployments build for arm64
# with cargo-lambda; see the README.
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_GLIBC=2.34
PROFILE=${PROFILE:-release}
functions=$(ls functions)
args=()
for f in $functions; do args+=(-p "agentgate-$f"); done

echo "== cargo build --profile $PROFILE (${functions//$'\n'/, })"
cargo build --profile "$PROFILE" --locked "${args[@]}"

status=0
for f in $functions; do
  bin="target/$PROFILE/$f"
  need=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
  size=$(du -h "$bin" | cut -f1)
  if [ "$(printf '%s\n%s\n' "$need" "$MAX_GLIBC" | sort -V | tail -n 1)" != "$MAX_GLIBC" ]; then
    echo "FAIL $bin needs glibc $need > $MAX_GLIBC"
    status=1
  else
    echo "ok   $bin ($size) needs glibc <= $need"
  fi
done
exit $status
