#!/usr/bin/env bash
# Hit-path benchmark on the shared cache: wrk against the gateway's cache hits read from Redis and from
# Redis Cluster (memory L1 off, so every hit is a Redis GET), with redis-benchmark's GET rate for the same
# value size measured in the same run as the yardstick, and one gateway with the default memory L1 on for
# contrast. Not a test: it reports numbers, it asserts nothing.
#
#   scripts/bench-redis.sh                                  # build, 10 s per wrk run
#   DEJA_BIN=/path/to/deja DURATION=30s scripts/bench-redis.sh
#
# Starts the test Redis servers (scripts/redis.sh: standalone on 16379, cluster on 17000-17005) when they
# are not up, and stops only the ones it started. Writes bench-results/redis.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${DEJA_WORKER_VENV:-$REPO/.venv-worker}
DURATION=${DURATION:-10s}
RB_REQUESTS=${RB_REQUESTS:-200000}
OUT=$REPO/bench-results
WORK=$(mktemp -d /tmp/deja-bench-redis.XXXXXX)
source "$REPO/scripts/lib/bench-common.sh"
# Instances sharing a cache must share seal secrets; a fresh one per run.
export DEJA_SEAL_SECRETS="s1 $(head -c 32 /dev/urandom | base64)"
mkdir -p "$OUT"

command -v wrk > /dev/null || { apt-get update -qq || true; apt-get install -y -qq wrk > /dev/null; }
bash worker/install.sh > /dev/null
prepare_deja

REDIS_HOST=127.0.0.1
STANDALONE_PORT=16379
CLUSTER_PORTS=(17000 17001 17002 17003 17004 17005)
CLUSTER_SEEDS="$REDIS_HOST:17000,$REDIS_HOST:17001,$REDIS_HOST:17002"
WORKER_PORT=18867
STANDALONE_GW_PORT=18180   # memory L1 off, Redis standalone
CLUSTER_GW_PORT=18181      # memory L1 off, Redis Cluster
L1_GW_PORT=18182           # default memory L1 on, Redis standalone behind it

redis_up() { command -v redis-cli > /dev/null && redis-cli -h $REDIS_HOST -p "$1" PING 2> /dev/null | grep -q PONG; }
# Only the servers that are down now are ours to stop.
STARTED_PORTS=()
for port in $STANDALONE_PORT "${CLUSTER_PORTS[@]}"; do redis_up "$port" || STARTED_PORTS+=("$port"); done

WORKER_PID=
GATEWAY_PIDS=()
declare -A GATEWAY_PID
cleanup() {
  for pid in "${GATEWAY_PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  [ -n "$WORKER_PID" ] && kill "$WORKER_PID" 2>/dev/null && wait "$WORKER_PID" 2>/dev/null
  if [ ${#STARTED_PORTS[@]} -eq 7 ]; then
    bash scripts/redis.sh stop > /dev/null 2>&1 || true
  else
    for port in "${STARTED_PORTS[@]}"; do redis-cli -h $REDIS_HOST -p "$port" SHUTDOWN NOSAVE > /dev/null 2>&1 || true; done
    # Servers left running keep their data: drop redis-benchmark's own keys (key:__rand_int__, key:{tag}:__rand_int__).
    redis_up $STANDALONE_PORT && redis-cli -h $REDIS_HOST -p $STANDALONE_PORT DEL key:__rand_int__ > /dev/null 2>&1
    for port in "${CLUSTER_PORTS[@]}"; do
      redis_up "$port" || continue
      redis-cli -h $REDIS_HOST -p "$port" --scan --pattern 'key:{*}:__rand_int__' 2>/dev/null \
        | while read -r k; do redis-cli -h $REDIS_HOST -p "$port" DEL "$k" > /dev/null 2>&1; done
    done
  fi
  rm -rf "$WORK"
  return 0
}
trap cleanup EXIT
bash scripts/redis.sh start > /dev/null

"$VENV/bin/python" worker/server.py --host 127.0.0.1 --port $WORKER_PORT > "$WORK/worker.log" 2>&1 &
WORKER_PID=$!
for _ in $(seq 1 300); do curl -fsS http://127.0.0.1:$WORKER_PORT/health > /dev/null 2>&1 && break; sleep 1; done

# Redis keys are shared between runs: a model version of its own keeps a previous run's entries out.
VERSION=bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
# start_gateway NAME PORT STORAGE_JSON: writes $WORK/NAME.yaml (JSON is YAML), makes a key, starts it.
start_gateway() {
  local name=$1 port=$2 storage=$3
  cat > "$WORK/$name.yaml" <<JSON
{
  "server": {"host": "127.0.0.1", "port": $port},
  "storage": $storage,
  "adminToken": "bench-admin",
  "logLevel": "warning",
  "tasks": [{
    "name": "ocr",
    "upstream": "http://127.0.0.1:$WORKER_PORT/ocr",
    "model": {"name": "PP-OCRv4", "version": "$VERSION"},
    "defaults": {"fileType": 1, "useTextlineOrientation": false, "visualize": false}
  }]
}
JSON
  "$DEJA" keys create --config "$WORK/$name.yaml" --tenant bench --quiet > "$WORK/$name.key"
  "$DEJA" serve --config "$WORK/$name.yaml" > "$WORK/$name.log" 2>&1 &
  GATEWAY_PIDS+=($!)
  GATEWAY_PID[$name]=$!
  for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:$port/healthz > /dev/null 2>&1 && break; sleep 0.2; done
}
start_gateway standalone $STANDALONE_GW_PORT "{\"path\": \"$WORK/standalone-data\", \"memoryBytes\": 0, \"cache\": \"redis://$REDIS_HOST:$STANDALONE_PORT\"}"
start_gateway cluster $CLUSTER_GW_PORT "{\"path\": \"$WORK/cluster-data\", \"memoryBytes\": 0, \"cache\": \"redis-cluster://$CLUSTER_SEEDS\"}"
start_gateway l1 $L1_GW_PORT "{\"path\": \"$WORK/l1-data\", \"cache\": \"redis://$REDIS_HOST:$STANDALONE_PORT\"}"

# Two bodies: a small image (gateway overhead) and the invoice (a realistic OCR request).
make_bodies

# post NAME PORT BODY: one request; prints "x-deja-cache x-deja-key".
post() {
  local headers
  headers=$(curl -fsS -o /dev/null -D - -H "Authorization: Bearer $(cat "$WORK/$1.key")" -H 'Content-Type: application/json' \
    --data-binary @"$WORK/$3.json" "http://127.0.0.1:$2/ocr" | tr -d '\r')
  echo "$(echo "$headers" | awk -F': ' 'tolower($1)=="x-deja-cache" {print $2}') $(echo "$headers" | awk -F': ' 'tolower($1)=="x-deja-key" {print $2}')"
}
# Prime: the first request of each body on each Redis is the one miss; the second must be a hit.
declare -A PRIME CHECK KEYHEX
for body in small invoice; do
  for gw in standalone:$STANDALONE_GW_PORT cluster:$CLUSTER_GW_PORT l1:$L1_GW_PORT; do
    name=${gw%%:*}; port=${gw#*:}
    read -r outcome key < <(post "$name" "$port" "$body")
    PRIME[$name.$body]=$outcome
    KEYHEX[$body]=$key
    read -r outcome _ < <(post "$name" "$port" "$body")
    CHECK[$name.$body]=$outcome
  done
done
worker_ocr() { curl -fsS http://127.0.0.1:$WORKER_PORT/stats | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["ocrRequests"])'; }
worker_ocr_before=$(worker_ocr)

# The stored entry of each body, and its size: the value a hit reads with one GET.
dbsize_standalone=$(redis-cli -h $REDIS_HOST -p $STANDALONE_PORT DBSIZE)
dbsize_cluster=0
for port in "${CLUSTER_PORTS[@]}"; do
  if redis-cli -h $REDIS_HOST -p "$port" ROLE | head -1 | grep -q master; then
    dbsize_cluster=$((dbsize_cluster + $(redis-cli -h $REDIS_HOST -p "$port" DBSIZE)))
  fi
done
declare -A SIZE CSIZE INREDIS
for body in small invoice; do
  k="deja:e:${KEYHEX[$body]}"
  SIZE[$body]=$(redis-cli -h $REDIS_HOST -p $STANDALONE_PORT STRLEN "$k")
  CSIZE[$body]=$(redis-cli -c -h $REDIS_HOST -p 17000 STRLEN "$k")
  INREDIS[$body]="standalone EXISTS $(redis-cli -h $REDIS_HOST -p $STANDALONE_PORT EXISTS "$k"), TTL $(redis-cli -h $REDIS_HOST -p $STANDALONE_PORT TTL "$k") s, MEMORY USAGE $(redis-cli -h $REDIS_HOST -p $STANDALONE_PORT MEMORY USAGE "$k") B; cluster EXISTS $(redis-cli -c -h $REDIS_HOST -p 17000 EXISTS "$k") (slot $(redis-cli -h $REDIS_HOST -p 17000 CLUSTER KEYSLOT "$k"))"
done

# redis-benchmark GET of a value of SIZE bytes (SET first, so GET returns it; without SET it reads nil);
# prints "rps p50_ms p99_ms".
run_rb() {
  local size=$1 conns=$2; shift 2
  redis-benchmark "$@" -t set,get -d "$size" -n "$RB_REQUESTS" -c "$conns" -P 1 --csv 2>/dev/null \
    | tr -d '"' | awk -F, '$1=="GET" {printf "%.0f %.3f %.3f\n", $2, $5, $7}'
}
# GET calls served by the Redis servers on the given ports (INFO commandstats).
redis_gets() {
  local total=0 port n
  for port in "$@"; do
    n=$(redis-cli -h $REDIS_HOST -p "$port" INFO commandstats | tr -d '\r' | awk -F'[:=,]' '$1=="cmdstat_get" {print $3}')
    total=$((total + ${n:-0}))
  done
  echo $total
}
# deja_requests_total by outcome from /metrics: "hit N miss N bypass N ..." (only non-zero).
outcomes() {
  curl -fsS "http://127.0.0.1:$1/metrics" | awk '/^deja_requests_total\{/ {
      match($0, /outcome="[a-z]+"/); o = substr($0, RSTART + 9, RLENGTH - 10); n[o] += $NF }
    END { for (o in n) if (n[o] > 0) printf "%s %d ", o, n[o] }'
}
outcome_of() { echo "$1" | awk -v o="$2" '{ for (i = 1; i < NF; i += 2) if ($i == o) v = $(i + 1) } END { print v + 0 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }
fmt_int() { printf "%'d" "${1%.*}" 2>/dev/null || echo "$1"; }

# wrk_row LABEL NAME PORT BODY CONNS RB_RPS REDIS_PORTS... : one wrk run with its checks, as a table row.
wrk_row() {
  local label=$1 name=$2 port=$3 body=$4 conns=$5 rb=$6; shift 6
  local before_out after_out gets_before gets_after rps p50 p99 non n hits others o d
  before_out=$(outcomes "$port"); gets_before=$(redis_gets "$@")
  read -r rps p50 p99 non n < <(DEJA_KEY=$(cat "$WORK/$name.key") DEJA_BODY="$WORK/$body.json" \
    run_wrk "$conns" -s "$WORK/post.lua" "http://127.0.0.1:$port/ocr")
  gets_after=$(redis_gets "$@"); after_out=$(outcomes "$port")
  hits=$(( $(outcome_of "$after_out" hit) - $(outcome_of "$before_out" hit) ))
  others=""
  for o in miss coalesced bypass stale negative error; do
    d=$(( $(outcome_of "$after_out" $o) - $(outcome_of "$before_out" $o) ))
    [ "$d" -gt 0 ] && others="$others, $o $d"
  done
  echo "| $label | ${SIZE[$body]} B ($body) | $conns | $(fmt_int "$rps") | $p50 | $p99 | $non | $(ratio "$rps" "$rb") | $n / $hits${others} | $(ratio $((gets_after - gets_before)) "$hits") |"
}

{
  echo "# Deja hit-path benchmark on Redis and Redis Cluster"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores shared by everything below: wrk (-t2), three gateways, the worker"
  echo "(idle after priming), Redis (standalone and 6 cluster nodes) and redis-benchmark, plus whatever else runs on"
  echo "the machine (load average at start: $(cut -d' ' -f1-3 /proc/loadavg)). $DURATION per wrk run."
  echo "deja: $DEJA; $(redis-server --version | awk '{print $1, $2, $3}'); redis-benchmark $(redis-benchmark --version 2>/dev/null | awk '{print $2}')."
  echo
  echo "Gateways: memoryBytes 0 (the memory L1 holds nothing, so every hit is one GET of the entry from Redis)"
  echo "on redis://$REDIS_HOST:$STANDALONE_PORT and on redis-cluster://$CLUSTER_SEEDS (3 masters, 3 replicas);"
  echo "a third gateway keeps the default memory L1 (256 MiB) in front of the same standalone Redis, for contrast."
  echo "Model version $VERSION (new each run, so no earlier entry is reused)."
  echo
  echo "Priming, x-deja-cache of the first and the second request per gateway (the memory-L1 gateway shares the"
  echo "standalone Redis, so its first request is already a hit read from Redis):"
  for body in small invoice; do
    echo "- $body ($(stat -c %s "$WORK/$body.json") B request): standalone ${PRIME[standalone.$body]}, ${CHECK[standalone.$body]};" \
      "cluster ${PRIME[cluster.$body]}, ${CHECK[cluster.$body]}; memory L1 ${PRIME[l1.$body]}, ${CHECK[l1.$body]}. Redis key deja:e:${KEYHEX[$body]:0:16}…"
  done
  echo
  echo "Entries in Redis after priming: standalone DBSIZE $dbsize_standalone, cluster masters' DBSIZE sum $dbsize_cluster."
  for body in small invoice; do
    echo "- $body entry: STRLEN ${SIZE[$body]} B on standalone, ${CSIZE[$body]} B on the cluster; ${INREDIS[$body]}."
  done
  echo
  echo "Each group: redis-benchmark GET of a value of the entry's size (\`redis-benchmark -t set,get -d SIZE -n $RB_REQUESTS"
  echo "-c CONNS -P 1 --csv\`, standalone \`-p $STANDALONE_PORT\`, cluster \`--cluster -p 17000\`; SET runs first so the GET"
  echo "returns the value), measured just before the deja runs it is compared with. \"÷ redis-benchmark\" is deja's"
  echo "requests/s over redis-benchmark's GET requests/s for the same value size and connections (Redis Cluster row:"
  echo "over the --cluster rate; the other deja rows: over the standalone rate). \"requests / hits\" is what wrk"
  echo "completed against deja_requests_total{outcome=\"hit\"} during the run (any other outcome is listed);"
  echo "\"Redis GETs/hit\" is INFO commandstats cmdstat_get calls on the Redis servers behind the gateway during the"
  echo "run per hit (1.00: every hit read from Redis; 0.00: answered from memory)."
  echo
  echo "| case | value size | connections | requests/s | p50 ms | p99 ms | non-2xx | ÷ redis-benchmark GET | requests / hits | Redis GETs/hit |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for conns in 16 64; do
    for body in small invoice; do
      read -r rb_rps p50 p99 < <(run_rb "${SIZE[$body]}" "$conns" -h $REDIS_HOST -p $STANDALONE_PORT)
      echo "| redis-benchmark GET, standalone | ${SIZE[$body]} B | $conns | $(fmt_int "$rb_rps") | $p50 | $p99 | — | — | — | — |"
      read -r rbc_rps p50 p99 < <(run_rb "${CSIZE[$body]}" "$conns" --cluster -h $REDIS_HOST -p 17000)
      echo "| redis-benchmark --cluster GET, 3 masters | ${CSIZE[$body]} B | $conns | $(fmt_int "$rbc_rps") | $p50 | $p99 | — | — | — | — |"
      wrk_row "**deja hit via Redis standalone** (L1 off)" standalone $STANDALONE_GW_PORT "$body" "$conns" "$rb_rps" $STANDALONE_PORT
      wrk_row "**deja hit via Redis Cluster** (L1 off)" cluster $CLUSTER_GW_PORT "$body" "$conns" "$rbc_rps" "${CLUSTER_PORTS[@]}"
      wrk_row "deja hit, memory L1 on (Redis behind it)" l1 $L1_GW_PORT "$body" "$conns" "$rb_rps" $STANDALONE_PORT
    done
  done
} > "$OUT/redis.md"

worker_ocr_after=$(worker_ocr)
sleep 0.5  # unbilled hit records are written every 200 ms
{
  echo
  echo "Worker /ocr calls during the measured runs: $((worker_ocr_after - worker_ocr_before)) (priming made $worker_ocr_before)."
  for gw in standalone:$STANDALONE_GW_PORT cluster:$CLUSTER_GW_PORT l1:$L1_GW_PORT; do
    name=${gw%%:*}; port=${gw#*:}
    totals=$(curl -fsS -H 'Authorization: Bearer bench-admin' "http://127.0.0.1:$port/v1/usage?tenant=bench" \
      | "$VENV/bin/python" -c 'import json,sys; t=json.load(sys.stdin)["totals"]; print("hits %d, misses %d, billed %d" % (t["hits"], t["misses"], t["billedTokens"]))' || echo "?")
    metrics=$(curl -fsS "http://127.0.0.1:$port/metrics")
    fast=$(echo "$metrics" | awk '/^deja_fast_path_hits_total/ {s += $NF} END {print s + 0}')
    plain=$(echo "$metrics" | awk '/^deja_plain_answers_total/ {s += $NF} END {print s + 0}')
    up=$(echo "$metrics" | awk '$1=="deja_cache_redis_up" {print $2}')
    mem=$(echo "$metrics" | awk '$1=="deja_cache_memory_bytes" {print $2}')
    lines=$(wc -l < "$WORK/$name.log")
    echo "- gateway $name: ledger $totals; outcomes $(outcomes "$port"); fast-path hits $fast (from the request's bytes: $plain);" \
      "deja_cache_redis_up ${up:-?}; memory L1 bytes ${mem:-?}; RSS $(ps -o rss= -p "${GATEWAY_PID[$name]}" | tr -d ' ') KiB; log lines (level warning and up): $lines"
    if [ "$lines" -gt 0 ]; then
      echo '  ```'
      sort "$WORK/$name.log" | uniq -c | sort -rn | head -5 | cut -c1-300 | sed 's/^/  /'
      echo '  ```'
    fi
  done
  echo
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). redis-benchmark is Redis's only client in its runs;"
  echo "a deja hit adds an HTTP request (parse, authenticate, hash the body, answer) around its GET on the same"
  echo "2 cores, so the ratio is the share of Redis's bare GET rate the gateway reaches end to end."
} >> "$OUT/redis.md"
cat "$OUT/redis.md"
