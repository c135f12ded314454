# The gateway: Swift 6.3 builder, slim Debian runtime, non-root, config from a mounted file and DEJA_*.
#   docker build -f deploy/docker/gateway.Dockerfile -t deja/gateway:0.1.0 .
FROM swift:6.3-bookworm AS build
WORKDIR /src
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product deja --static-swift-stdlib \
    && cp "$(swift build -c release --show-bin-path)/deja" /deja

FROM debian:bookworm-slim AS runtime
# libstdc++ and zlib are what the binary links besides the static Swift runtime; curl for HEALTHCHECK.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl libstdc++6 zlib1g tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/deja --shell /usr/sbin/nologin deja \
    && mkdir -p /var/lib/deja /etc/deja && chown deja:deja /var/lib/deja && chmod 0700 /var/lib/deja
COPY --from=build /deja /usr/local/bin/deja
COPY deploy/docker/gateway-entrypoint.sh /usr/local/bin/deja-entrypoint
COPY deja.example.yaml /etc/deja/deja.example.yaml
ENV DEJA_HOST=0.0.0.0 DEJA_PORT=8080 DEJA_STORAGE_PATH=/var/lib/deja DEJA_CONFIG=/etc/deja/deja.yaml
USER 10001:10001
VOLUME ["/var/lib/deja"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${DEJA_PORT}/healthz" || exit 1
# exec form, and the script execs deja: SIGTERM reaches the gateway, which drains and exits 0.
ENTRYPOINT ["/usr/local/bin/deja-entrypoint"]
CMD ["serve"]
