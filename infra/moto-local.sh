#!/usr/bin/env bash
# A local server speaking Secrets Manager and SES v2 (moto, from PyPI) for tests: started
# on a free 127.0.0.1 port, waited for, and stopped afterwards.
#
#   infra/moto-local.sh run -- <command...>   runs the command with
#                                              AWS_ENDPOINT_URL_SECRETS_MANAGER and
#                                              AWS_ENDPOINT_URL_SESV2 set
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="${AGENTGATE_TOOLS_VENV:-$root/target/tools-venv}"

if [ ! -x "$venv/bin/moto_server" ]; then  # normally installed by scripts/setup.sh
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements-tools.txt"
fi

[ "${1:-}" = "run" ] || { echo "usage: $0 run -- <command...>" >&2; exit 2; }
shift; [ "${1:-}" = "--" ] && shift

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$(mktemp)"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 60); do
  if curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/"; then break; fi
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.5
done
echo "moto (Secrets Manager, SES v2) answering on 127.0.0.1:$port" >&2
export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$port" AWS_ENDPOINT_URL_SESV2="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
"$@"
