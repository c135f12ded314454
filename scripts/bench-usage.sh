#!/usr/bin/env bash
# Hit-path cost of the usage ledger (issue 19, point 4): the same embedded gateway twice, measured in the
# same run, alternating — `usage.records: billed` (the default: a hit is added to an in-memory hourly
# count, flushed every 200 ms) and `usage.records: all` (a hit queues a record, one ledger row each, as
# before counts). Every request is a cache hit of one primed text, answered by the event-loop fast path;
# the upstream is an nginx `return 200` stub. ROUNDS rounds at 16 and 64 connections, medians reported,
# plus what the ledger file grew by per hit and whether the usage report counted every request wrk got
# an answer to. Not a test: it asserts nothing.
#
#   scripts/bench-usage.sh                 # ROUNDS=3, DURATION=10s
#
# Writes bench-results/usage.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${DEJA_WORKER_VENV:-$REPO/.venv-worker}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
OUT=$REPO/bench-results
WORK=$(mktemp -d /tmp/deja-bench-usage.XXXXXX)
source "$REPO/scripts/lib/bench-common.sh"
mkdir -p "$OUT"

prepare_wrk_and_nginx

STUB_PORT=18892
declare -A PORT=([billed]=18084 [all]=18085)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

start_sentiment_stub $STUB_PORT
PIDS+=($STUB_PID)

for mode in billed all; do
  mkdir -p "$WORK/$mode"
  cat > "$WORK/$mode/deja.yaml" <<YAML
server: {host: 127.0.0.1, port: ${PORT[$mode]}}
storage: {path: $WORK/$mode/data}
adminToken: bench-admin
logLevel: warning
tasks:
  - name: sentiment
    route: /sentiment
    protocol: paddlex-sentiment
    upstream: http://127.0.0.1:$STUB_PORT/sentiment
    model: {name: deja-sentiment, version: bench}
    defaults: {}
    binaryFields: []
    requiredFields: [text]
    meter: {perRequest: 1}
    usage: {records: $mode}
YAML
  "$DEJA" keys create --config "$WORK/$mode/deja.yaml" --tenant bench --quiet > "$WORK/$mode/key"
  "$DEJA" serve --config "$WORK/$mode/deja.yaml" > "$WORK/$mode/gateway.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:${PORT[$mode]}/healthz" > /dev/null 2>&1 && break; sleep 0.2; done
done
echo '{"text":"这个订单的物流太慢了"}' > "$WORK/body.json"
write_post_lua
requests() {  # requests MODE: the usage report's request count for tenant bench
  curl -fsS -H 'Authorization: Bearer bench-admin' "http://127.0.0.1:${PORT[$1]}/v1/usage?tenant=bench" \
    | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["totals"]["requests"])'
}
ledger_bytes() {  # ledger_bytes MODE: the ledger file with its write-ahead log
  cat "$WORK/$1/data/ledger.sqlite" "$WORK/$1/data/ledger.sqlite-wal" 2>/dev/null | wc -c
}
declare -A SENT BYTES0
for mode in billed all; do
  # The one miss; everything wrk sends after is a hit.
  curl -fsS -o /dev/null -H "Authorization: Bearer $(cat "$WORK/$mode/key")" -H 'Content-Type: application/json' \
       --data-binary @"$WORK/body.json" "http://127.0.0.1:${PORT[$mode]}/sentiment"
  sleep 0.5
  SENT[$mode]=$(requests "$mode")
  BYTES0[$mode]=$(ledger_bytes "$mode")
done

declare -A RPS P50 P99
median() { echo "$1" | tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
for round in $(seq 1 "$ROUNDS"); do
  for conns in 16 64; do
    for mode in billed all; do
      read -r rps p50 p99 non n < <(DEJA_KEY=$(cat "$WORK/$mode/key") DEJA_BODY="$WORK/body.json" \
        run_wrk "$conns" -s "$WORK/post.lua" "http://127.0.0.1:${PORT[$mode]}/sentiment")
      [ "${non:-0}" = 0 ] || echo "warning: $mode at $conns connections: $non non-2xx answers" >&2
      RPS[$mode,$conns]+="$rps "; P50[$mode,$conns]+="$p50 "; P99[$mode,$conns]+="$p99 "
      SENT[$mode]=$(( SENT[$mode] + n - ${non:-0} ))
    done
  done
done
sleep 1  # the last counts flush every 200 ms
{
  echo "# Usage ledger on the hit path"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t2 shares them with the gateways; $DURATION per run, $ROUNDS rounds,"
  echo "the two gateways alternating within each round; medians. Release build, embedded (memory + SQLite),"
  echo "every request a hit on the event-loop fast path. Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| usage.records | connections | hits/s | p50 ms | p99 ms | ÷ all | rounds (hits/s) |"
  echo "|---|---|---|---|---|---|---|"
  for conns in 16 64; do
    base=$(median "${RPS[all,$conns]}")
    for mode in billed all; do
      rps=$(median "${RPS[$mode,$conns]}")
      echo "| $mode | $conns | $rps | $(median "${P50[$mode,$conns]}") | $(median "${P99[$mode,$conns]}") | $(awk -v a="$rps" -v b="$base" 'BEGIN {printf "%.2f", a / b}') | ${RPS[$mode,$conns]}|"
    done
  done
  echo
  echo "| usage.records | hits answered | requests in the report | ledger grew by | bytes per hit |"
  echo "|---|---|---|---|---|"
  for mode in billed all; do
    reported=$(requests "$mode")
    grown=$(( $(ledger_bytes "$mode") - BYTES0[$mode] ))
    hits=$(( SENT[$mode] - 1 ))
    echo "| $mode | $hits (+1 miss) | $reported | $(awk -v b="$grown" 'BEGIN {printf "%.1f MB", b / 1e6}') | $(awk -v b="$grown" -v h="$hits" 'BEGIN {printf "%.2f", b / h}') |"
  done
} > "$OUT/usage.md"
cat "$OUT/usage.md"
