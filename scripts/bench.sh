#!/usr/bin/env bash
# Hit-path benchmark: wrk against the gateway's cache hits, measured in the same run against nginx
# answering the same answer bytes with `return 200` (no lookup: the machine's limit for an HTTP answer)
# and nginx's proxy_cache answering the same cached POST (the yardstick), in alternating rounds.
# Not a test: it reports numbers, it asserts nothing.
#
#   scripts/bench.sh                 # 3 rounds of 10 s per target; DURATION=30s ROUNDS=5 scripts/bench.sh
#
# Writes bench-results/hits.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${DEJA_WORKER_VENV:-$REPO/.venv-worker}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
OUT=$REPO/bench-results
WORK=$(mktemp -d /tmp/deja-bench.XXXXXX)
source "$REPO/scripts/lib/bench-common.sh"
mkdir -p "$OUT"

prepare_wrk_and_nginx  # nginx: the limit and the yardstick (bench.sh) or the stub model (bench-miss.sh)

WORKER_PORT=18866
GATEWAY_PORT=18080
"$VENV/bin/python" worker/server.py --host 127.0.0.1 --port $WORKER_PORT > "$WORK/worker.log" 2>&1 &
WORKER_PID=$!
ROUTER_PORT=18081
PARSED_PORT=18082
NGINX_PORT=18090
GATEWAY_PID=
ROUTER_PID=
PARSED_PID=
NGINX_PID=
RETURN_PID=
cleanup() {
  [ -n "$RETURN_PID" ] && kill "$RETURN_PID" 2>/dev/null && wait "$RETURN_PID" 2>/dev/null
  [ -n "$GATEWAY_PID" ] && kill "$GATEWAY_PID" 2>/dev/null && wait "$GATEWAY_PID" 2>/dev/null
  [ -n "$ROUTER_PID" ] && kill "$ROUTER_PID" 2>/dev/null && wait "$ROUTER_PID" 2>/dev/null
  [ -n "$PARSED_PID" ] && kill "$PARSED_PID" 2>/dev/null && wait "$PARSED_PID" 2>/dev/null
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  kill $WORKER_PID 2>/dev/null; wait $WORKER_PID 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 300); do curl -fsS http://127.0.0.1:$WORKER_PORT/health > /dev/null 2>&1 && break; sleep 1; done

cat > "$WORK/deja.yaml" <<YAML
server: {host: 127.0.0.1, port: $GATEWAY_PORT}
storage: {path: $WORK/data, memoryBytes: 67108864}
adminToken: bench-admin
logLevel: warning
tasks:
  - name: ocr
    upstream: http://127.0.0.1:$WORKER_PORT/ocr
    model: {name: PP-OCRv4, version: bench}
    defaults: {fileType: 1, useTextlineOrientation: false, visualize: false}
YAML
KEY=$("$DEJA" keys create --config "$WORK/deja.yaml" --tenant bench --quiet)
"$DEJA" serve --config "$WORK/deja.yaml" > "$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
# The same gateway with server.fastPath off: every hit goes through the router (own storage and key).
sed -e "s/port: $GATEWAY_PORT/port: $ROUTER_PORT/" -e "s#path: $WORK/data#path: $WORK/router-data#" \
  "$WORK/deja.yaml" > "$WORK/router.yaml"
ROUTER_KEY=$("$DEJA" keys create --config "$WORK/router.yaml" --tenant bench --quiet)
DEJA_FAST_PATH=0 "$DEJA" serve --config "$WORK/router.yaml" > "$WORK/router.log" 2>&1 &
ROUTER_PID=$!
# And with server.plainHits off: hits answered on the event loop after HTTP/1 parsing (llhttp), not from the bytes.
sed -e "s/port: $GATEWAY_PORT/port: $PARSED_PORT/" -e "s#path: $WORK/data#path: $WORK/parsed-data#" \
  "$WORK/deja.yaml" > "$WORK/parsed.yaml"
PARSED_KEY=$("$DEJA" keys create --config "$WORK/parsed.yaml" --tenant bench --quiet)
DEJA_PLAIN_HITS=0 "$DEJA" serve --config "$WORK/parsed.yaml" > "$WORK/parsed.log" 2>&1 &
PARSED_PID=$!
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx.conf" <<NGINX
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  proxy_cache_path $WORK/nginx/cache keys_zone=deja:10m max_size=256m;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location /ocr {
      client_max_body_size 20m;
      client_body_buffer_size 4m;
      proxy_pass http://127.0.0.1:$WORKER_PORT;
      proxy_cache deja;
      proxy_cache_methods POST;
      proxy_cache_key "\$request_uri|\$request_body";
      proxy_cache_valid 200 1h;
      proxy_cache_lock on;
    }
  }
}
NGINX
"$NGINX" -c "$WORK/nginx.conf" -p "$WORK/nginx" > "$WORK/nginx/stdout.log" 2>&1 &
NGINX_PID=$!
for port in $GATEWAY_PORT $ROUTER_PORT $PARSED_PORT; do
  for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:$port/healthz > /dev/null 2>&1 && break; sleep 0.2; done
done

# Three bodies: a small image (gateway overhead), the invoice (a realistic OCR request) and a ~1 MiB
# PNG (a byte-identical repeat of a large image).
make_bodies large

# Prime: the first request of each body is the one miss; everything wrk sends after is a hit.
for body in small invoice large; do
  curl -fsS -o /dev/null -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
       --data-binary @"$WORK/$body.json" http://127.0.0.1:$GATEWAY_PORT/ocr
  curl -fsS -o /dev/null -H "Authorization: Bearer $ROUTER_KEY" -H 'Content-Type: application/json' \
       --data-binary @"$WORK/$body.json" http://127.0.0.1:$ROUTER_PORT/ocr
  curl -fsS -o /dev/null -H "Authorization: Bearer $PARSED_KEY" -H 'Content-Type: application/json' \
       --data-binary @"$WORK/$body.json" http://127.0.0.1:$PARSED_PORT/ocr
  curl -fsS -o /dev/null -H 'Content-Type: application/json' --data-binary @"$WORK/$body.json" http://127.0.0.1:$NGINX_PORT/ocr
  curl -fsS -o /dev/null -H 'Content-Type: application/json' --data-binary @"$WORK/$body.json" http://127.0.0.1:$NGINX_PORT/ocr
done
# nginx must answer from its cache, not from the model: the worker's count stays put from here on.
worker_ocr_before=$(curl -fsS http://127.0.0.1:$WORKER_PORT/stats | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["ocrRequests"])')


hits_before=$(curl -fsS -H 'Authorization: Bearer bench-admin' "http://127.0.0.1:$GATEWAY_PORT/v1/usage?tenant=bench" \
  | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["totals"]["hits"])')

# The machine's limit for this answer: nginx writing the same answer bytes from memory with `return 200`,
# no lookup at all (a second nginx, started now that the answer is known).
curl -fsS -o "$WORK/answer.json" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
     --data-binary @"$WORK/small.json" http://127.0.0.1:$GATEWAY_PORT/ocr
grep -q '[$]' "$WORK/answer.json" && { echo "the answer contains \$, which nginx's return would expand" >&2; exit 1; }
RETURN_PORT=18091
# In a single-quoted nginx string only \ and ' need a backslash.
RETURN_TEXT=$("$VENV/bin/python" -c 'import sys; print(open(sys.argv[1]).read().replace("\\", "\\\\").replace("\x27", "\\\x27"), end="")' "$WORK/answer.json")
mkdir -p "$WORK/nginx-return"
cat > "$WORK/nginx-return.conf" <<NGINX
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes auto;
daemon off;
pid $WORK/nginx-return/nginx.pid;
error_log $WORK/nginx-return/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx-return/body;
  server {
    listen 127.0.0.1:$RETURN_PORT;
    location /ocr {
      client_max_body_size 20m;
      client_body_buffer_size 4m;
      default_type application/json;
      return 200 '$RETURN_TEXT';
    }
  }
}
NGINX
"$NGINX" -c "$WORK/nginx-return.conf" -p "$WORK/nginx-return" > "$WORK/nginx-return/stdout.log" 2>&1 &
RETURN_PID=$!
for _ in $(seq 1 50); do curl -fsS -o /dev/null -X POST --data-binary @"$WORK/small.json" http://127.0.0.1:$RETURN_PORT/ocr 2>/dev/null && break; sleep 0.1; done
curl -fsS -o "$WORK/returned.json" -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/small.json" http://127.0.0.1:$RETURN_PORT/ocr
cmp -s "$WORK/answer.json" "$WORK/returned.json" || { echo "nginx's return 200 does not give Deja's answer bytes" >&2; exit 1; }

# ROUNDS rounds; in each, every target in turn at 16 and at 64 connections (small body); medians reported.
declare -A RPS P50 P99
small_run() {  # small_run TARGET CONNS
  local target=$1 conns=$2 url key
  case $target in
    return) url=http://127.0.0.1:$RETURN_PORT/ocr; key=none ;;
    proxy_cache) url=http://127.0.0.1:$NGINX_PORT/ocr; key=none ;;
    deja) url=http://127.0.0.1:$GATEWAY_PORT/ocr; key=$KEY ;;
    router) url=http://127.0.0.1:$ROUTER_PORT/ocr; key=$ROUTER_KEY ;;
    parsed) url=http://127.0.0.1:$PARSED_PORT/ocr; key=$PARSED_KEY ;;
  esac
  read -r rps p50 p99 non _ < <(DEJA_KEY=$key DEJA_BODY="$WORK/small.json" run_wrk "$conns" -s "$WORK/post.lua" "$url")
  [ "${non:-0}" = 0 ] || echo "warning: $target at $conns connections: $non non-2xx answers" >&2
  RPS[$target,$conns]+="$rps "; P50[$target,$conns]+="$p50 "; P99[$target,$conns]+="$p99 "
}
for round in $(seq 1 "$ROUNDS"); do
  for conns in 16 64; do
    for target in return proxy_cache deja parsed router; do small_run $target $conns; done
  done
done
median() { echo "$1" | tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }
size=$(stat -c %s "$WORK/small.json")
answer_size=$(stat -c %s "$WORK/answer.json")
{
  echo "# Deja hit-path benchmark"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t2 shares them with the servers; $DURATION per run, $ROUNDS rounds,"
  echo "targets alternating within each round; medians of the rounds (every round's figures in wrk.txt order below)."
  echo "Release build. Every gateway request is a cache hit (primed once). Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "Small body: a $size-byte POST /ocr; the answer is $answer_size bytes."
  echo
  echo "| target | connections | requests/s | p50 ms | p99 ms | ÷ return 200 | rounds (requests/s) |"
  echo "|---|---|---|---|---|---|---|"
  for conns in 16 64; do
    base=$(median "${RPS[return,$conns]}")
    for target in return proxy_cache deja parsed router; do
      case $target in
        return) label="nginx \`return 200\` of the same answer bytes (the machine's limit)" ;;
        proxy_cache) label="nginx proxy_cache hit (yardstick)" ;;
        deja) label="**deja hit (memory, fast path, from the bytes)**" ;;
        parsed) label="deja hit (memory, fast path after HTTP/1 parsing: plainHits off)" ;;
        router) label="deja hit through the router (fastPath off)" ;;
      esac
      rps=$(median "${RPS[$target,$conns]}")
      echo "| $label | $conns | $rps | $(median "${P50[$target,$conns]}") | $(median "${P99[$target,$conns]}") | $(ratio "$rps" "$base") | ${RPS[$target,$conns]}|"
      eval "${target}_${conns}=$rps"
    done
  done
  echo
  echo "| other bodies (one run each) | connections | requests/s | p50 ms | p99 ms | non-2xx |"
  echo "|---|---|---|---|---|---|"
  for conns in 16 64; do
    for body in invoice large; do
      size=$(stat -c %s "$WORK/$body.json")
      read -r rps p50 p99 non _ < <(DEJA_KEY=$KEY DEJA_BODY="$WORK/$body.json" run_wrk "$conns" -s "$WORK/post.lua" "http://127.0.0.1:$GATEWAY_PORT/ocr")
      echo "| deja hit, $body body ($size B) | $conns | $rps | $p50 | $p99 | $non |"
    done
  done
  size=$(stat -c %s "$WORK/large.json")
  read -r rps p50 p99 non _ < <(DEJA_KEY=$KEY DEJA_BODY="$WORK/large.json" run_wrk 1 -s "$WORK/post.lua" "http://127.0.0.1:$GATEWAY_PORT/ocr")
  echo "| deja hit, large body ($size B), one request at a time | 1 | $rps | $p50 | $p99 | $non |"
} > "$OUT/hits.md"

hits_after=$(curl -fsS -H 'Authorization: Bearer bench-admin' "http://127.0.0.1:$GATEWAY_PORT/v1/usage?tenant=bench" \
  | "$VENV/bin/python" -c 'import json,sys; t=json.load(sys.stdin)["totals"]; print(t["hits"], t["misses"], t["billedTokens"])')
metrics=$(curl -fsS http://127.0.0.1:$GATEWAY_PORT/metrics)
mem_used=$(echo "$metrics" | awk '$1=="deja_cache_memory_bytes" {print $2}')
mem_budget=$(echo "$metrics" | awk '$1=="deja_cache_memory_budget_bytes" {print $2}')
rss=$(ps -o rss= -p "$GATEWAY_PID" | tr -d ' ')
worker_ocr_after=$(curl -fsS http://127.0.0.1:$WORKER_PORT/stats | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["ocrRequests"])')
fast_hits=$(echo "$metrics" | awk -F' ' '/^deja_fast_path_hits_total/ {print $2}')
plain_answers=$(echo "$metrics" | awk -F' ' '/^deja_plain_answers_total/ {print $2}')
{
  echo
  echo "Ratios (median requests/s, small body): deja ÷ nginx return 200 $(ratio "$deja_16" "$return_16") at 16 connections,"
  echo "$(ratio "$deja_64" "$return_64") at 64; deja ÷ nginx proxy_cache $(ratio "$deja_16" "$proxy_cache_16") at 16, $(ratio "$deja_64" "$proxy_cache_64") at 64;"
  echo "deja ÷ deja with fastPath off $(ratio "$deja_16" "$router_16") at 16, $(ratio "$deja_64" "$router_64") at 64;"
  echo "deja ÷ deja with plainHits off $(ratio "$deja_16" "$parsed_16") at 16, $(ratio "$deja_64" "$parsed_64") at 64. (nginx keyed on"
  echo "\$request_body does not cache the invoice or large bodies, so it is compared on the small body only.)"
  echo "Hits answered on the event loop (deja_fast_path_hits_total): $fast_hits, of them from the request's bytes"
  echo "(deja_plain_answers_total): $plain_answers. Worker /ocr calls during the runs:"
  echo "$((worker_ocr_after - worker_ocr_before)) (nginx and deja answered every measured request from their caches)."
  echo
  echo "Ledger after the runs: hits, misses, billed tokens = $hits_after (hits before the runs: $hits_before)."
  echo "Memory L1: $mem_used bytes used of a $mem_budget byte budget; gateway RSS ${rss} KiB."
} >> "$OUT/hits.md"
cat "$OUT/hits.md"
