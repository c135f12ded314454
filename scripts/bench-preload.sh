#!/usr/bin/env bash
# Hit latency in the first minute after a restart, with and without the memory preload: not a test, a
# measurement. For each persistent tier (SQLite, and Redis when REDIS_URL or a local scripts/redis.sh
# server is up) a release gateway in front of the real worker answers N distinct sentiment requests
# (misses), then each once more (hits, so they are the hot set), and is stopped with SIGTERM (which
# records the hot keys). It is restarted twice from that state — preload off (DEJA_PRELOAD_BYTES=0) and
# on (the default) — and every one of the N requests is sent once, in a shuffled order, right after the
# restart: the first request for each answer after a restart. Latency is the gateway's own, per request,
# from its ledger (`deja usage --csv`, latency_ms), so the client's overhead does not blur it; the pass's
# wall time is reported too. Writes bench-results/preload.md and prints it.
#
#   scripts/bench-preload.sh            # N=2000
#   N=5000 scripts/bench-preload.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${DEJA_WORKER_VENV:-$REPO/.venv-worker}
N=${N:-2000}
OUT=$REPO/bench-results
WORK=$(mktemp -d /tmp/deja-bench-preload.XXXXXX)
mkdir -p "$OUT"
bash worker/install.sh > /dev/null
SCRATCH=${DEJA_SCRATCH_PATH:-$REPO/.build}
swift build -c release --product deja --scratch-path "$SCRATCH" > /dev/null
BIN=$SCRATCH/release/deja

WORKER_PORT=18867
"$VENV/bin/python" worker/server.py --host 127.0.0.1 --port $WORKER_PORT > "$WORK/worker.log" 2>&1 &
WORKER_PID=$!
cleanup() {
  pkill -f "$WORK/" 2>/dev/null || true
  kill $WORKER_PID 2>/dev/null; wait $WORKER_PID 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 300); do curl -fsS http://127.0.0.1:$WORKER_PORT/health > /dev/null 2>&1 && break; sleep 1; done

TIERS="sqlite"
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:16379}
if "$VENV/bin/python" -c "import socket,sys,urllib.parse as u; p=u.urlparse('$REDIS_URL'); socket.create_connection((p.hostname, p.port or 6379), 1)" 2>/dev/null; then
  TIERS="sqlite redis"
fi

"$VENV/bin/python" - "$BIN" "$WORK" "$WORKER_PORT" "$N" "$REDIS_URL" "$TIERS" > "$OUT/preload.md" <<'PY'
import concurrent.futures as futures, csv, io, json, os, random, signal, statistics, subprocess, sys, time, urllib.request
BIN, WORK, WORKER_PORT, N, REDIS_URL, TIERS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6].split()
version = json.load(urllib.request.urlopen(f"http://127.0.0.1:{WORKER_PORT}/health"))["sentimentModel"]["version"]
random.seed(11)
texts = [f"第{i}号订单的物流太慢了，客服态度还行 #{random.randrange(10**9)}" for i in range(N)]

def config(name, port, cache):
    folder = f"{WORK}/{name}"
    os.makedirs(folder, exist_ok=True)
    storage = {"path": f"{folder}/data", "memoryBytes": 256 << 20}
    if cache:
        storage["cache"] = cache
    settings = {"server": {"host": "127.0.0.1", "port": port}, "storage": storage, "adminToken": "bench-admin", "logLevel": "warning",
                "tasks": [{"name": "sentiment", "route": "/sentiment", "protocol": "paddlex-sentiment",
                           "upstream": f"http://127.0.0.1:{WORKER_PORT}/sentiment",
                           "model": {"name": "deja-sentiment", "version": version}, "ttlSeconds": 3600,
                           "defaults": {}, "binaryFields": [], "requiredFields": ["text"], "meter": {"perRequest": 1}}]}
    path = f"{folder}/deja.yaml"
    open(path, "w").write(json.dumps(settings))
    return path

def env(extra=None):
    e = dict(os.environ, DEJA_SEAL_SECRETS=SECRETS)
    e.update(extra or {})
    return e

def start(path, port, extra=None):
    proc = subprocess.Popen([BIN, "serve", "--config", path], stdout=open(path + ".log", "ab"), stderr=subprocess.STDOUT, env=env(extra))
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1); return proc
        except Exception:
            time.sleep(0.1)
    raise SystemExit("gateway did not start")

def stop(proc):
    proc.send_signal(signal.SIGTERM); proc.wait(timeout=60)

def send(port, key, text):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/sentiment", data=json.dumps({"text": text}).encode(),
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
        return response.headers["x-deja-cache"]

def run_pass(port, key, order):
    started = time.perf_counter()
    with futures.ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda t: send(port, key, t), order))
    return time.perf_counter() - started, outcomes

def ledger_latencies(path):
    """The gateway's latency of the hits among the last N records: the pass after the restart."""
    out = subprocess.run([BIN, "usage", "--csv", "--config", path], capture_output=True, text=True, env=env(), check=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))[-N:]
    return [float(r["latency_ms"]) for r in rows if r["outcome"] == "hit"]

def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]

SECRETS = "bench " + __import__("base64").b64encode(os.urandom(32)).decode()
print(f"# Hit latency in the first minute after a restart\n")
print(f"{N} distinct sentiment requests (the hot set), each answered once and hit once before a SIGTERM; then a restart")
print("and each sent once more in a shuffled order, 4 at a time. Latency: the gateway's own, from its ledger.\n")
print("| L2 | preload | preloaded at first request | hits | p50 ms | p90 ms | p99 ms | mean ms | pass wall s |")
print("|---|---|---|---|---|---|---|---|---|")
port = 18900
for tier in TIERS:
    for mode in ("off", "on"):
        port += 1
        cache = f"{REDIS_URL}/7" if tier == "redis" else None  # a database of its own, emptied first
        path = config(f"{tier}-{mode}", port, cache)
        extra = {"DEJA_PRELOAD_BYTES": "0" if mode == "off" else str(64 << 20)}
        if tier == "redis":
            subprocess.run(["redis-cli", "-u", f"{REDIS_URL}/7", "FLUSHDB"], capture_output=True, check=True)
        proc = start(path, port)
        key = subprocess.run([BIN, "keys", "create", "--tenant", "bench", "--quiet", "--config", path], capture_output=True, text=True, env=env(), check=True).stdout.strip()
        run_pass(port, key, texts)
        run_pass(port, key, texts)
        stop(proc)  # records the hot keys (with preload on; with it off nothing is recorded or read)
        proc = start(path, port, extra if mode == "off" else None)
        preloaded = 0
        if mode == "on":
            deadline = time.time() + 30
            while time.time() < deadline:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
                line = [l for l in text.splitlines() if l.startswith("deja_cache_preloaded_entries ")]
                preloaded = int(float(line[0].split()[1])) if line else 0
                if preloaded >= N: break
                time.sleep(0.1)
        order = texts[:]
        random.shuffle(order)
        wall, outcomes = run_pass(port, key, order)
        time.sleep(1.5)  # the usage queue flushes every 200 ms
        latencies = ledger_latencies(path)
        stop(proc)
        hits = outcomes.count("hit")
        print(f"| {tier} | {mode} | {preloaded} | {hits}/{N} | {pct(latencies, .5):.3f} | {pct(latencies, .9):.3f} | {pct(latencies, .99):.3f} | {statistics.mean(latencies):.3f} | {wall:.2f} |")
PY
cat "$OUT/preload.md"
