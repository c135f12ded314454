#!/usr/bin/env bash
# Builds and runs a real container image of the gateway here, without Docker: rootful podman from
# Debian builds an image FROM scratch holding the `deja` binary, the libraries `ldd` names and the
# compose setup's deja.yaml, runs it as a non-root user, checks that /readyz answers 200 and that
# `podman stop` (SIGTERM) ends it with exit code 0, then removes the container and the image.
#
#   scripts/container-check.sh [DEJA_BINARY]     # default: .build/debug/deja
#
# Exit 0 when the checks pass, 1 when the container misbehaves. When this machine cannot run a
# container at all (podman not installable, or the OCI runtime refused by the sandbox), it says exactly
# why and exits 0: the image's files and entrypoint are still checked by tests/deploy.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
BIN=$(realpath "${1:-$REPO/.build/debug/deja}")
NAME=deja-check-$$
IMAGE=localhost/$NAME:test
PORT=${DEJA_CONTAINER_CHECK_PORT:-18990}
WORK=$(mktemp -d /tmp/deja-container.XXXXXX)
skip() { echo "container check skipped: $*"; exit 0; }
cleanup() {
  podman --runtime runc --cgroup-manager cgroupfs rm -f "$NAME" > /dev/null 2>&1 || true
  podman rmi -f "$IMAGE" > /dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if ! command -v podman > /dev/null || ! command -v runc > /dev/null; then
  apt-get install -y -qq --no-install-recommends podman runc > "$WORK/apt.log" 2>&1 \
    || { apt-get update -qq > /dev/null 2>&1 && apt-get install -y -qq --no-install-recommends podman runc > "$WORK/apt.log" 2>&1; } \
    || skip "podman and runc could not be installed from Debian ($(tail -1 "$WORK/apt.log"))"
fi

# The image's tree: the binary, its libraries, a passwd entry for the user, the configuration.
mkdir -p "$WORK/root/usr/local/bin" "$WORK/root/etc/deja" "$WORK/root/tmp" "$WORK/data"
cp "$BIN" "$WORK/root/usr/local/bin/deja"
for lib in $(ldd "$BIN" | grep -o '/[^ ]*'); do
  mkdir -p "$WORK/root$(dirname "$lib")"
  cp -L "$lib" "$WORK/root$lib"
done
cp deploy/compose/deja.yaml "$WORK/root/etc/deja/deja.yaml"
echo 'deja:x:10001:10001::/var/lib/deja:/nonexistent' > "$WORK/root/etc/passwd"
chmod 1777 "$WORK/root/tmp"
touch "$WORK/data/.keep"
cat > "$WORK/Containerfile" <<'CONTAINERFILE'
FROM scratch
COPY root/ /
COPY --chown=10001:10001 data/ /var/lib/deja/
USER 10001:10001
ENV DEJA_HOST=0.0.0.0 DEJA_PORT=8080 DEJA_STORAGE_PATH=/var/lib/deja
ENTRYPOINT ["/usr/local/bin/deja"]
CMD ["serve", "--config", "/etc/deja/deja.yaml"]
CONTAINERFILE
podman build -q -t "$IMAGE" "$WORK" > "$WORK/build.log" 2>&1 || skip "podman build failed: $(tail -1 "$WORK/build.log")"
echo "built $IMAGE FROM scratch: $(du -sh "$WORK/root" | cut -f1) (binary and $(ldd "$BIN" | grep -c '/') libraries)"

# runc with the cgroupfs manager and explicit ulimits: what a sandbox like this one allows (crun refuses
# setrlimit and hybrid cgroups here).
if ! podman --runtime runc --cgroup-manager cgroupfs run -d --name "$NAME" --network host \
     --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 -e DEJA_HOST=127.0.0.1 -e DEJA_PORT="$PORT" "$IMAGE" \
     > "$WORK/run.log" 2>&1; then
  skip "the OCI runtime cannot start a container here: $(tail -1 "$WORK/run.log")"
fi
status=000
for _ in $(seq 1 100); do
  status=$(curl -s -o "$WORK/readyz" -w '%{http_code}' "http://127.0.0.1:$PORT/readyz" || true)
  [ "$status" = 200 ] && break
  sleep 0.2
done
if [ "$status" != 200 ]; then
  echo "FAIL: /readyz of the container answered $status"; podman logs "$NAME" 2>&1 | tail -20; exit 1
fi
echo "container answers /readyz: $(cat "$WORK/readyz")"
podman --runtime runc --cgroup-manager cgroupfs stop -t 30 "$NAME" > /dev/null
code=$(podman inspect "$NAME" --format '{{.State.ExitCode}}')
if [ "$code" != 0 ]; then
  echo "FAIL: the container exited $code on SIGTERM"; podman logs "$NAME" 2>&1 | tail -20; exit 1
fi
echo "container stopped on SIGTERM with exit code 0"
