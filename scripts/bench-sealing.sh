#!/usr/bin/env bash
# What sealing stored answers costs on the hit path: the same hits against this checkout's gateway and
# against a baseline commit from before sealing (BASE, default 0917f39), measured in the same run and
# interleaved (base, new, base, new) so drift hits both alike. Not a test: it reports ratios.
#
#   scripts/bench-sealing.sh                       # builds BASE in .build-base (release) the first time
#   DEJA_BASE_BIN=/path/to/old/deja scripts/bench-sealing.sh
#   DURATION=10s scripts/bench-sealing.sh
#
# Two cache shapes, each with the invoice body (a real OCR request) at 16 and 64 connections:
#   memory   — the in-memory L1 answers (plaintext by design): the hit path proper, event loop included;
#   sqlite   — no L1 (memoryBytes 0): every hit reads the SQLite file and, on the new gateway, opens
#              the sealed entry (HKDF + AES-GCM), the cost sealing adds to an L2 hit.
# Writes bench-results/sealing.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${DEJA_WORKER_VENV:-$REPO/.venv-worker}
DURATION=${DURATION:-5s}
BASE=${BASE:-0917f39}
OUT=$REPO/bench-results
WORK=$(mktemp -d /tmp/deja-bench-seal.XXXXXX)
source "$REPO/scripts/lib/bench-common.sh"
mkdir -p "$OUT"

command -v wrk > /dev/null || { apt-get update -qq || true; apt-get install -y -qq wrk > /dev/null; }
bash worker/install.sh > /dev/null
SCRATCH=${DEJA_SCRATCH_PATH:-$REPO/.build}
swift build -c release --product deja --scratch-path "$SCRATCH" > /dev/null
NEW=$SCRATCH/release/deja
if [ -z "${DEJA_BASE_BIN:-}" ]; then
  # The baseline in its own worktree and build folder, built once and kept.
  BASE_TREE=$REPO/.build-base/tree
  if [ ! -x "$REPO/.build-base/release/deja" ]; then
    git worktree remove --force "$BASE_TREE" 2>/dev/null || true
    git worktree add --detach "$BASE_TREE" "$BASE" > /dev/null
    (cd "$BASE_TREE" && swift build -c release --product deja --scratch-path "$REPO/.build-base" > /dev/null)
    git worktree remove --force "$BASE_TREE"
  fi
  DEJA_BASE_BIN=$REPO/.build-base/release/deja
fi

WORKER_PORT=18866
"$VENV/bin/python" worker/server.py --host 127.0.0.1 --port $WORKER_PORT > "$WORK/worker.log" 2>&1 &
WORKER_PID=$!
# Gateways are started inside $(...) (a subshell), so their pids are kept in a file, not a variable.
cleanup() {
  for pid in $(cat "$WORK/pids" 2>/dev/null); do kill "$pid" 2>/dev/null; done
  sleep 0.5
  kill $WORKER_PID 2>/dev/null; wait $WORKER_PID 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 300); do curl -fsS http://127.0.0.1:$WORKER_PORT/health > /dev/null 2>&1 && break; sleep 1; done
make_bodies

# start NAME BINARY PORT MEMORY_BYTES: a gateway with its own folder; prints its API key.
start() {
  local name=$1 bin=$2 port=$3 memory=$4
  cat > "$WORK/$name.yaml" <<YAML
server: {host: 127.0.0.1, port: $port}
storage: {path: $WORK/$name-data, memoryBytes: $memory}
logLevel: warning
tasks:
  - name: ocr
    upstream: http://127.0.0.1:$WORKER_PORT/ocr
    model: {name: PP-OCRv4, version: bench}
    defaults: {fileType: 1, useTextlineOrientation: false, visualize: false}
YAML
  local key
  key=$("$bin" keys create --config "$WORK/$name.yaml" --tenant bench --quiet)
  "$bin" serve --config "$WORK/$name.yaml" > "$WORK/$name.log" 2>&1 &
  echo $! >> "$WORK/pids"
  for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:$port/healthz > /dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS http://127.0.0.1:$port/healthz > /dev/null || { echo "gateway $name did not start: $(tail -3 "$WORK/$name.log")" >&2; exit 1; }
  curl -fsS -o /dev/null -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
       --data-binary @"$WORK/invoice.json" http://127.0.0.1:$port/ocr  # the one miss
  echo "$key"
}

declare -A KEYS PORTS
port=18100
for shape in memory sqlite; do
  memory=67108864; [ "$shape" = sqlite ] && memory=0
  for build in base new; do
    bin=$NEW; [ "$build" = base ] && bin=$DEJA_BASE_BIN
    KEYS[$shape-$build]=$(start "$shape-$build" "$bin" $port $memory)
    PORTS[$shape-$build]=$port
    port=$((port + 1))
  done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "?" }'; }
{
  echo "# Sealing on the hit path"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, release builds; $DURATION per run, each pair run twice interleaved"
  echo "(base, new, base, new) and summed. base = $BASE (answers stored in clear), new = $(git rev-parse --short HEAD)"
  echo "(sealed). Invoice body ($(stat -c %s "$WORK/invoice.json") B), every request a hit."
  echo
  echo "| cache | connections | base requests/s | new requests/s | new ÷ base | non-2xx |"
  echo "|---|---|---|---|---|---|"
  for shape in memory sqlite; do
    for conns in 16 64; do
      declare -A sum=([base]=0 [new]=0)
      non=0
      for _ in 1 2; do
        for build in base new; do
          read -r rps _ _ n _ < <(DEJA_KEY=${KEYS[$shape-$build]} DEJA_BODY="$WORK/invoice.json" \
            run_wrk "$conns" -s "$WORK/post.lua" "http://127.0.0.1:${PORTS[$shape-$build]}/ocr")
          sum[$build]=$(awk -v a="${sum[$build]}" -v b="$rps" 'BEGIN { printf "%.2f", a + b }')
          non=$((non + n))
        done
      done
      base=$(awk -v s="${sum[base]}" 'BEGIN { printf "%.0f", s / 2 }')
      new=$(awk -v s="${sum[new]}" 'BEGIN { printf "%.0f", s / 2 }')
      echo "| $shape | $conns | $base | $new | $(ratio "$new" "$base") | $non |"
    done
  done
  echo
  echo "memory: the L1 keeps answers in clear, so sealing adds nothing to these hits. sqlite: every hit"
  echo "reads the file; the new gateway also derives the entry's key and opens its seal."
} > "$OUT/sealing.md"
cat "$OUT/sealing.md"
