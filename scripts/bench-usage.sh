#!/usr/bin/env bash
# Hit-path cost of the usage ledger (issue 19, point 4): the same embedded gateway twice, measured in the
# same run, alternating — `usage.records: billed` (the default: a hit is added to an in-memory hourly
# count, flushed every 200 ms) and `usage.records: all` (a hit queues a record, one ledger row each, as
# before counts). Every request is a cache hit of one primed text, answered by the event-loop fast path;
# the upstream is an nginx `return 200` stub. ROUNDS rounds at 16 and 64 connections, medians reported,
# plus what the ledger file grew by per hit and whether the usage report counted every request wrk got
# an answer to (read once it stops changing; wrk does not count the answers in flight when a run ends,
# so the report may exceed its count by up to the connections per run). With DEJA_POSTGRES_URL set, the
# same two again on a PostgreSQL ledger (a fresh schema each, dropped afterwards). Not a test: it asserts
# nothing.
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
declare -A PORT=([billed]=18084 [all]=18085 [billed-pg]=18086 [all-pg]=18087)
MODES=(billed all)
PG_URL=${DEJA_POSTGRES_URL:-}
SCHEMA_TAG=bench_usage_$$
if [ -n "$PG_URL" ]; then
  MODES+=(billed-pg all-pg)
  # A shared ledger needs seal secrets set (nothing is sealed here: the cache is embedded).
  export DEJA_SEAL_SECRETS="bench $(head -c 32 /dev/urandom | base64)"
fi
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  if [ -n "$PG_URL" ]; then
    for mode in billed all; do psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS ${SCHEMA_TAG}_$mode CASCADE" > /dev/null 2>&1 || true; done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

start_sentiment_stub $STUB_PORT
PIDS+=($STUB_PID)

for mode in "${MODES[@]}"; do
  mkdir -p "$WORK/$mode"
  ledger=
  [ "${mode%-pg}" != "$mode" ] && ledger=", ledger: \"$PG_URL?schema=${SCHEMA_TAG}_${mode%-pg}\""
  cat > "$WORK/$mode/deja.yaml" <<YAML
server: {host: 127.0.0.1, port: ${PORT[$mode]}}
storage: {path: $WORK/$mode/data$ledger}
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
    usage: {records: ${mode%-pg}}
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
ledger_bytes() {  # ledger_bytes MODE: the ledger file with its write-ahead log, or the PostgreSQL schema's tables
  if [ "${1%-pg}" != "$1" ]; then
    psql "$PG_URL" -Atc "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname = '${SCHEMA_TAG}_${1%-pg}' AND c.relkind = 'r'"
  else
    cat "$WORK/$1/data/ledger.sqlite" "$WORK/$1/data/ledger.sqlite-wal" 2>/dev/null | wc -c
  fi
}
declare -A SENT BYTES0
for mode in "${MODES[@]}"; do
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
    for mode in "${MODES[@]}"; do
      read -r rps p50 p99 non n < <(DEJA_KEY=$(cat "$WORK/$mode/key") DEJA_BODY="$WORK/body.json" \
        run_wrk "$conns" -s "$WORK/post.lua" "http://127.0.0.1:${PORT[$mode]}/sentiment")
      [ "${non:-0}" = 0 ] || echo "warning: $mode at $conns connections: $non non-2xx answers" >&2
      RPS[$mode,$conns]+="$rps "; P50[$mode,$conns]+="$p50 "; P99[$mode,$conns]+="$p99 "
      SENT[$mode]=$(( SENT[$mode] + n - ${non:-0} ))
    done
  done
done
# The last batches are written every 200 ms (a `usage.records: all` backlog may take longer): wait until
# each report stops changing.
declare -A REPORTED
for mode in "${MODES[@]}"; do
  last=-1
  for _ in $(seq 1 60); do
    now=$(requests "$mode")
    [ "$now" = "$last" ] && break
    last=$now
    sleep 1
  done
  REPORTED[$mode]=$last
done
{
  echo "# Usage ledger on the hit path"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t2 shares them with the gateways; $DURATION per run, $ROUNDS rounds,"
  echo "the gateways alternating within each round; medians. Release build, embedded (memory + SQLite),"
  echo "every request a hit on the event-loop fast path. Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| usage.records (ledger) | connections | hits/s | p50 ms | p99 ms | ÷ all, same ledger | rounds (hits/s) |"
  echo "|---|---|---|---|---|---|---|"
  for conns in 16 64; do
    for mode in "${MODES[@]}"; do
      suffix=${mode#billed}; suffix=${suffix#all}  # "" or "-pg": compared with `all` on the same ledger
      base=$(median "${RPS[all$suffix,$conns]}")
      rps=$(median "${RPS[$mode,$conns]}")
      echo "| $mode | $conns | $rps | $(median "${P50[$mode,$conns]}") | $(median "${P99[$mode,$conns]}") | $(awk -v a="$rps" -v b="$base" 'BEGIN {printf "%.2f", a / b}') | ${RPS[$mode,$conns]}|"
    done
  done
  echo
  echo "| usage.records (ledger) | hits answered | requests in the report | ledger grew by | bytes per hit |"
  echo "|---|---|---|---|---|"
  for mode in "${MODES[@]}"; do
    reported=${REPORTED[$mode]}
    grown=$(( $(ledger_bytes "$mode") - BYTES0[$mode] ))
    hits=$(( SENT[$mode] - 1 ))
    echo "| $mode | $hits (+1 miss) | $reported | $(awk -v b="$grown" 'BEGIN {printf "%.1f MB", b / 1e6}') | $(awk -v b="$grown" -v h="$hits" 'BEGIN {printf "%.2f", b / h}') |"
  done
} > "$OUT/usage.md"
cat "$OUT/usage.md"
