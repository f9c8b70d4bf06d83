#!/usr/bin/env bash
# with_backends.sh [--redis] [--broker] -- COMMAND...
# Runs COMMAND with a private redis-server and/or devbroker on free ports,
# exported as RXD_REDIS_URL / RXD_KAFKA_BROKERS, and stops them afterwards.
# For tests that need a server of their own (e.g. one that flushes scripts).
set -euo pipefail
BUILD=${RXD_BUILD_DIR:?RXD_BUILD_DIR must point at the build directory}
want_redis=0 want_broker=0
while [ $# -gt 0 ]; do
  case $1 in
    --redis) want_redis=1 ;;
    --broker) want_broker=1 ;;
    --) shift; break ;;
    *) echo "with_backends: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
dir=$(mktemp -d /tmp/rxd-backends.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
if [ $want_redis = 1 ]; then
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --enable-debug-command local >"$dir/redis.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export RXD_REDIS_URL=redis://127.0.0.1:$port
fi
if [ $want_broker = 1 ]; then
  "$BUILD/services/devbroker/devbroker" --addr-file "$dir/broker.addr" >"$dir/broker.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do [ -s "$dir/broker.addr" ] && break; sleep 0.1; done
  export RXD_KAFKA_BROKERS=$(cat "$dir/broker.addr")
fi
"$@"
