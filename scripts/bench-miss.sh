#!/usr/bin/env bash
# Miss-path benchmark: what a miss costs over calling the model server directly, at the same durability
# (the embedded SQLite ledger, synchronous=FULL: a billed record is fsynced before the answer leaves).
# Every request carries a text never sent before, so every gateway request is a miss that is billed,
# stored and answered. Two upstreams, each measured directly and through the gateway in the same run,
# alternating, ROUNDS rounds, medians reported:
#   - a fast stub: nginx `return 200` of a fixed sentiment answer (the model costs ~nothing, so the
#     difference is the gateway's own work: canonical form, reservation, the call, metering, the
#     durable ledger commit, the cache write);
#   - the real worker's /sentiment (a real model call).
# One connection gives the latency a lone client sees; 16 connections show concurrent misses sharing
# commits (group commit). Not a test: it asserts nothing.
#
#   scripts/bench-miss.sh                 # ROUNDS=3, DURATION=10s
#
# Writes bench-results/misses.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${DEJA_WORKER_VENV:-$REPO/.venv-worker}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
OUT=$REPO/bench-results
WORK=$(mktemp -d /tmp/deja-bench-miss.XXXXXX)
source "$REPO/scripts/lib/bench-common.sh"
mkdir -p "$OUT"

prepare_wrk_and_nginx

WORKER_PORT=18867
STUB_PORT=18891
STUB_GATEWAY_PORT=18082
WORKER_GATEWAY_PORT=18083
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

"$VENV/bin/python" worker/server.py --host 127.0.0.1 --port $WORKER_PORT > "$WORK/worker.log" 2>&1 &
PIDS+=($!)
start_sentiment_stub $STUB_PORT
PIDS+=($STUB_PID)
for _ in $(seq 1 300); do curl -fsS http://127.0.0.1:$WORKER_PORT/health > /dev/null 2>&1 && break; sleep 1; done
MODEL_VERSION=$(curl -fsS http://127.0.0.1:$WORKER_PORT/health | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["sentimentModel"]["version"])')

gateway() {  # gateway NAME PORT UPSTREAM: a default embedded gateway (memory + SQLite, durable ledger)
  local name=$1 port=$2 upstream=$3
  mkdir -p "$WORK/$name"
  cat > "$WORK/$name/deja.yaml" <<YAML
server: {host: 127.0.0.1, port: $port}
storage: {path: $WORK/$name/data}
adminToken: bench-admin
logLevel: warning
tasks:
  - name: sentiment
    route: /sentiment
    protocol: paddlex-sentiment
    upstream: $upstream
    model: {name: deja-sentiment, version: "$MODEL_VERSION"}
    defaults: {}
    binaryFields: []
    requiredFields: [text]
    meter: {perRequest: 1}
    # As many model calls in flight as wrk has connections: the 16-connection rows measure the gateway,
    # not the default limit of 4 calls at once (which would queue 12 of every 16 misses).
    maxConcurrency: 16
YAML
  "$DEJA" keys create --config "$WORK/$name/deja.yaml" --tenant bench --quiet > "$WORK/$name/key"
  "$DEJA" serve --config "$WORK/$name/deja.yaml" > "$WORK/$name/gateway.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:$port/healthz > /dev/null 2>&1 && break; sleep 0.2; done
}
gateway stub $STUB_GATEWAY_PORT http://127.0.0.1:$STUB_PORT/sentiment
gateway worker $WORKER_GATEWAY_PORT http://127.0.0.1:$WORKER_PORT/sentiment

# Every request a text never sent before: thread number, request number and the run's tag.
cat > "$WORK/miss.lua" <<'LUA'
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local counter = 0
local tag = os.getenv("RUN_TAG")
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("DEJA_KEY")}
request = function()
  counter = counter + 1
  return wrk.format("POST", nil, headers, '{"text":"这个订单 ' .. tag .. " " .. id .. " " .. counter .. ' 的物流太慢了"}')
end
LUA

usage() {  # usage PORT: "hits misses billed" of tenant bench
  curl -fsS -H 'Authorization: Bearer bench-admin' "http://127.0.0.1:$1/v1/usage?tenant=bench" \
    | "$VENV/bin/python" -c 'import json,sys; t=json.load(sys.stdin)["totals"]; print(t["hits"], t["misses"], t["billedTokens"])'
}
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

declare -A P50 P99 RPS
run=0
for round in $(seq 1 "$ROUNDS"); do
  for conns in 1 16; do
    for target in stub stub-deja worker worker-deja; do
      run=$((run + 1))
      case $target in
        stub) url=http://127.0.0.1:$STUB_PORT/sentiment; key=none ;;
        stub-deja) url=http://127.0.0.1:$STUB_GATEWAY_PORT/sentiment; key=$(cat "$WORK/stub/key") ;;
        worker) url=http://127.0.0.1:$WORKER_PORT/sentiment; key=none ;;
        worker-deja) url=http://127.0.0.1:$WORKER_GATEWAY_PORT/sentiment; key=$(cat "$WORK/worker/key") ;;
      esac
      read -r rps p50 p99 non n < <(RUN_TAG="$$-$run" DEJA_KEY=$key run_wrk "$conns" -s "$WORK/miss.lua" "$url")
      [ "${non:-0}" = 0 ] || echo "warning: $target at $conns connections: $non non-2xx answers" >&2
      P50[$target,$conns]+="$p50 "; P99[$target,$conns]+="$p99 "; RPS[$target,$conns]+="$rps "
    done
  done
done

med() { echo "$1" | tr ' ' '\n' | grep -v '^$' | median; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
read -r stub_hits stub_misses stub_billed < <(usage $STUB_GATEWAY_PORT)
read -r worker_hits worker_misses worker_billed < <(usage $WORKER_GATEWAY_PORT)
commit_ms() {  # commit_ms PORT: the mean time a miss waited for its durable bill, in ms
  local sum count
  sum=$(curl -fsS http://127.0.0.1:$1/metrics | awk '/^deja_ledger_commit_seconds_sum\{.*write="billed"/ {print $2}')
  count=$(curl -fsS http://127.0.0.1:$1/metrics | awk '/^deja_ledger_commit_seconds_count\{.*write="billed"/ {print $2}')
  awk -v s="${sum:-0}" -v c="${count:-0}" 'BEGIN { if (c > 0) printf "%.3f", s / c * 1000; else print "?" }'
}
stub_commit=$(commit_ms $STUB_GATEWAY_PORT)
worker_commit=$(commit_ms $WORKER_GATEWAY_PORT)
{
  echo "# Deja miss-path benchmark"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores shared by wrk, the upstream and the gateway; release build;"
  echo "$ROUNDS rounds of $DURATION per target, alternating; medians of the rounds. Every gateway request is a miss"
  echo "(a text never sent before), billed and fsynced in the embedded SQLite ledger before it is answered."
  echo
  echo "| upstream | connections | direct p50 ms | via deja p50 ms | **miss overhead p50 ms** | direct p99 ms | via deja p99 ms | direct req/s | via deja req/s |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for upstream in stub worker; do
    for conns in 1 16; do
      d50=$(med "${P50[$upstream,$conns]}"); g50=$(med "${P50[$upstream-deja,$conns]}")
      echo "| $upstream | $conns | $d50 | $g50 | **$(sub "$g50" "$d50")** | $(med "${P99[$upstream,$conns]}") | $(med "${P99[$upstream-deja,$conns]}") | $(med "${RPS[$upstream,$conns]}") | $(med "${RPS[$upstream-deja,$conns]}") |"
    done
  done
  echo
  echo "Ledger after the runs (hits, misses, billed tokens): stub gateway $stub_hits, $stub_misses, $stub_billed;"
  echo "worker gateway $worker_hits, $worker_misses, $worker_billed. Mean wait for the durable bill"
  echo "(deja_ledger_commit_seconds, write=\"billed\"): stub gateway $stub_commit ms, worker gateway $worker_commit ms."
  echo "Upstream rows: the stub is nginx \`return 200\` of a fixed sentiment answer; the worker is the real model."
} > "$OUT/misses.md"
cat "$OUT/misses.md"
