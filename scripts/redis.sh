#!/usr/bin/env bash
# Test Redis servers for Deja's integration tests, all on 127.0.0.1:
#   a standalone server on 16379 and a 6-node Redis Cluster (3 masters, 3 replicas) on 17000-17005.
# Usage: scripts/redis.sh start|stop|status
# Data and configuration live under $DEJA_REDIS_DIR (default /tmp/deja-redis). Idempotent.
set -euo pipefail

DIR="${DEJA_REDIS_DIR:-/tmp/deja-redis}"
STANDALONE_PORT="${DEJA_REDIS_PORT:-16379}"
TLS_PORT="${DEJA_REDIS_TLS_PORT:-16390}"
CLUSTER_PORTS=(17000 17001 17002 17003 17004 17005)
HOST=127.0.0.1

log() { echo "redis.sh: $*" >&2; }

ensure_installed() {
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then return; fi
    log "installing redis-server and redis-tools"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q redis-server redis-tools >/dev/null; then
        apt-get update -q >/dev/null
        apt-get install -y -q redis-server redis-tools >/dev/null
    fi
}

cli() { redis-cli -h "$HOST" -p "$1" "${@:2}"; }

is_up() { cli "$1" PING 2>/dev/null | grep -q PONG; }

write_config() { # port dir cluster(yes|no)
    local port=$1 dir=$2 cluster=$3
    mkdir -p "$dir"
    cat >"$dir/redis.conf" <<EOF
bind $HOST
port $port
protected-mode no
daemonize yes
dir $dir
pidfile $dir/redis.pid
logfile $dir/redis.log
save ""
appendonly no
maxmemory 256mb
maxmemory-policy allkeys-lru
enable-debug-command yes
EOF
    if [[ $cluster == yes ]]; then
        cat >>"$dir/redis.conf" <<EOF
cluster-enabled yes
cluster-config-file $dir/nodes.conf
cluster-node-timeout 2000
cluster-replica-validity-factor 0
cluster-require-full-coverage yes
EOF
    fi
}

start_server() { # port dir cluster
    local port=$1 dir=$2 cluster=$3
    if is_up "$port"; then return; fi
    write_config "$port" "$dir" "$cluster"
    redis-server "$dir/redis.conf"
    for _ in $(seq 1 100); do is_up "$port" && return; sleep 0.1; done
    log "server on port $port did not start; see $dir/redis.log"
    exit 1
}

# A standalone server speaking only TLS, with a test CA made here (openssl), for rediss:// tests.
tls_cli() { redis-cli --tls --cacert "$DIR/tls/ca.crt" -h "$HOST" -p "$TLS_PORT" "$@"; }

start_tls_server() {
    local dir="$DIR/tls"
    mkdir -p "$dir"
    if [[ ! -f $dir/server.crt ]]; then
        command -v openssl >/dev/null || apt-get install -y -q openssl >/dev/null
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 30 \
            -subj "/CN=deja-test-ca" 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -keyout "$dir/server.key" -out "$dir/server.csr" -subj "/CN=localhost" 2>/dev/null
        printf "subjectAltName=DNS:localhost,IP:127.0.0.1\n" >"$dir/ext.cnf"
        openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
            -out "$dir/server.crt" -days 30 -extfile "$dir/ext.cnf" 2>/dev/null
    fi
    if tls_cli PING 2>/dev/null | grep -q PONG; then return; fi
    {
        echo "bind $HOST"
        echo "port 0"
        echo "tls-port $TLS_PORT"
        echo "tls-cert-file $dir/server.crt"
        echo "tls-key-file $dir/server.key"
        echo "tls-ca-cert-file $dir/ca.crt"
        echo "tls-auth-clients no"
        echo "protected-mode no"
        echo "daemonize yes"
        echo "dir $dir"
        echo "pidfile $dir/redis.pid"
        echo "logfile $dir/redis.log"
        echo 'save ""'
        echo "appendonly no"
    } >"$dir/redis.conf"
    redis-server "$dir/redis.conf"
    for _ in $(seq 1 100); do tls_cli PING 2>/dev/null | grep -q PONG && return; sleep 0.1; done
    log "TLS server on port $TLS_PORT did not start; see $dir/redis.log"
    exit 1
}

cluster_ok() { cli "${CLUSTER_PORTS[0]}" CLUSTER INFO 2>/dev/null | grep -q 'cluster_state:ok'; }

cluster_known_nodes() { cli "${CLUSTER_PORTS[0]}" CLUSTER INFO 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_known_nodes://p'; }

start() {
    ensure_installed
    mkdir -p "$DIR"
    start_server "$STANDALONE_PORT" "$DIR/standalone" no
    start_tls_server
    for port in "${CLUSTER_PORTS[@]}"; do start_server "$port" "$DIR/cluster-$port" yes; done
    if [[ "$(cluster_known_nodes)" != "6" ]]; then
        local nodes=()
        for port in "${CLUSTER_PORTS[@]}"; do nodes+=("$HOST:$port"); done
        log "creating the cluster"
        redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/cluster-create.log" 2>&1 || {
            cat "$DIR/cluster-create.log" >&2
            exit 1
        }
    fi
    for _ in $(seq 1 300); do
        if cluster_ok; then break; fi
        sleep 0.1
    done
    cluster_ok || { log "cluster did not reach cluster_state:ok"; exit 1; }
    # Wait until every node agrees that all slots are covered.
    for port in "${CLUSTER_PORTS[@]}"; do
        for _ in $(seq 1 300); do
            cli "$port" CLUSTER INFO | grep -q 'cluster_state:ok' && break
            sleep 0.1
        done
    done
    print_env
}

stop() {
    for port in "$STANDALONE_PORT" "${CLUSTER_PORTS[@]}"; do
        if is_up "$port"; then cli "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true; fi
    done
    # Servers that do not answer (hung, or killed mid-test) are stopped through their pid files.
    for pidfile in "$DIR"/*/redis.pid; do
        [[ -f $pidfile ]] || continue
        local pid
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
    done
    rm -rf "$DIR"
    log "stopped"
}

status() {
    local port
    for port in "$STANDALONE_PORT" "${CLUSTER_PORTS[@]}"; do
        if is_up "$port"; then echo "$HOST:$port up"; else echo "$HOST:$port down"; fi
    done
    if cluster_ok; then echo "cluster: ok"; else echo "cluster: not ok"; fi
}

print_env() {
    echo "export DEJA_REDIS_URL=redis://$HOST:$STANDALONE_PORT"
    echo "export DEJA_REDIS_TLS_URL=rediss://localhost:$TLS_PORT?ca=$DIR/tls/ca.crt"
    echo "export DEJA_REDIS_CLUSTER=$HOST:${CLUSTER_PORTS[0]},$HOST:${CLUSTER_PORTS[1]},$HOST:${CLUSTER_PORTS[2]}"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) print_env ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
