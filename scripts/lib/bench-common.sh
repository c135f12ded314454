# Shared by scripts/bench.sh and scripts/bench-redis.sh: request bodies, the wrk POST script, and wrk
# runs reduced to numbers. Source it after setting WORK (a scratch folder), VENV and DURATION.

# make_bodies [large]: $WORK/small.json (a tiny image: gateway overhead) and $WORK/invoice.json (a real
# OCR request); with "large", also $WORK/large.json (a ~1 MiB noise PNG).
make_bodies() {
  "$VENV/bin/python" worker/make_invoice.py --out "$WORK/invoice.png"
  "$VENV/bin/python" - "$WORK" "${1:-}" <<'PY'
import base64, io, json, random, sys
from PIL import Image, ImageDraw
work, large = sys.argv[1], sys.argv[2] == "large"
def write(name, png):
    open(f"{work}/{name}.json", "w").write(json.dumps({"file": base64.b64encode(png).decode(), "fileType": 1}))
img = Image.new("RGB", (160, 40), "white")
ImageDraw.Draw(img).text((8, 12), "DEJA 42", fill="black")
buf = io.BytesIO(); img.save(buf, "PNG"); write("small", buf.getvalue())
write("invoice", open(f"{work}/invoice.png", "rb").read())
if large:
    random.seed(7)
    noise = Image.frombytes("RGB", (600, 600), bytes(random.getrandbits(8) for _ in range(600 * 600 * 3)))
    buf = io.BytesIO(); noise.save(buf, "PNG"); write("large", buf.getvalue())
PY
  write_post_lua
}

# write_post_lua: $WORK/post.lua, a wrk script POSTing the file $DEJA_BODY with the key $DEJA_KEY.
write_post_lua() {
  cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("DEJA_KEY")
local f = assert(io.open(os.getenv("DEJA_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
LUA
}

# start_sentiment_stub PORT: an nginx answering POST /sentiment with `return 200` of a fixed sentiment
# answer (a model that costs ~nothing), in $WORK/nginx; sets STUB_PID. Call after prepare_wrk_and_nginx.
start_sentiment_stub() {
  local port=$1
  mkdir -p "$WORK/nginx"
  cat > "$WORK/nginx.conf" <<NGINX
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  server {
    listen 127.0.0.1:$port;
    location /sentiment {
      default_type application/json;
      return 200 '{"logId":"stub","errorCode":0,"errorMsg":"Success","result":{"label":"positive","score":0.97}}';
    }
  }
}
NGINX
  "$NGINX" -c "$WORK/nginx.conf" -p "$WORK/nginx" > "$WORK/nginx/stdout.log" 2>&1 &
  STUB_PID=$!
}

# run_wrk CONNS ARGS...: one wrk run of $DURATION; prints "rps p50_ms p99_ms non2xx requests" and
# appends wrk's own output to $WORK/wrk.txt.
run_wrk() {
  local conns=$1; shift
  local out
  local threads=2; [ "$conns" -lt 2 ] && threads=1
  out=$(wrk -t$threads -c"$conns" -d"$DURATION" --latency "$@")
  echo "$out" >> "$WORK/wrk.txt"
  local rps p50 p99 non n
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") ${non:-0} $n"
}

to_ms() {  # wrk prints 512.00us, 1.20ms or 2.00s
  local v=$1
  case "$v" in
    *us) echo "${v%us}" | awk '{printf "%.3f", $1/1000}' ;;
    *ms) echo "${v%ms}" | awk '{printf "%.3f", $1}' ;;
    *s)  echo "${v%s}"  | awk '{printf "%.3f", $1*1000}' ;;
    *)   echo "?" ;;
  esac
}

# prepare_wrk_and_nginx: installs wrk and nginx from Debian when missing and the worker's environment,
# then prepare_deja; sets NGINX and DEJA.
prepare_wrk_and_nginx() {
  command -v wrk > /dev/null || { apt-get update -qq || true; apt-get install -y -qq wrk > /dev/null; }
  command -v nginx > /dev/null || { apt-get update -qq || true; apt-get install -y -qq nginx-light > /dev/null; }
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  bash worker/install.sh > /dev/null
  prepare_deja
}

# prepare_deja: sets DEJA to $DEJA_BIN when given (comparing two builds in one sitting: no build), else
# builds the release gateway (in $DEJA_SCRATCH_PATH, default .build) and uses it.
prepare_deja() {
  if [ -n "${DEJA_BIN:-}" ]; then
    DEJA=$DEJA_BIN
  else
    local scratch=${DEJA_SCRATCH_PATH:-$REPO/.build}
    swift build -c release --product deja --scratch-path "$scratch" > /dev/null
    DEJA=$scratch/release/deja
  fi
}
