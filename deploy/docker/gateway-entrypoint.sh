#!/bin/sh
# The gateway image's entrypoint: `serve` reads $DEJA_CONFIG (default /etc/deja/deja.yaml) when that file
# exists — a mounted ConfigMap or volume — and the built-in defaults otherwise; DEJA_* variables
# override either. Any other command is run as `deja <args>` (e.g. `keys create --tenant T`).
# `exec`: the gateway replaces this shell, so SIGTERM from the runtime reaches it directly.
set -eu
DEJA=${DEJA_BIN:-deja}
CONFIG=${DEJA_CONFIG:-/etc/deja/deja.yaml}
if [ "$#" -eq 0 ]; then set -- serve; fi
case "$1" in
    serve|keys|quota|usage|explain|warm|purge|capacity|gray)
        command=$1
        shift
        if [ -f "$CONFIG" ]; then
            exec "$DEJA" "$command" --config "$CONFIG" "$@"
        fi
        exec "$DEJA" "$command" "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
