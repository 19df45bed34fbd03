#!/bin/sh
# Entry point of the nginx process, in the container and in the local stack alike.
set -eu
here=$(dirname "$0")
: "${HTTP_PORT:=80}"
: "${WEB_UPSTREAM_SERVERS:=server web:8000;}"
: "${FLOWER_UPSTREAM:=flower:5555}"
: "${MAX_BODY_BYTES:=1048576}"
: "${NGINX_RUN_DIR:=/tmp/nginx}"
# Per client address: sustained requests per second, the burst above it, open connections.
# Sized for one real client; the local stack raises them for its benchmarks.
: "${NGINX_RATE_LIMIT:=50r/s}"
: "${NGINX_RATE_BURST:=100}"
: "${NGINX_CONN_LIMIT:=64}"
# How /flower/ is opened: `api-key` asks the web replicas (GET /auth/flower, an admin key) and
# then hands Flower its internal credentials; `flower` passes the client's own Authorization
# header, so only Flower's internal credentials open it.
: "${NGINX_FLOWER_AUTH:=api-key}"
# The local stack listens on loopback only; a container listens on every interface.
: "${NGINX_LISTEN:=$HTTP_PORT}"
: "${NGINX_TEMPLATE:=$here/switchboard.conf.template}"
case "$NGINX_FLOWER_AUTH" in
api-key)
    # Flower's internal user:password, from the environment, never from a command line.
    : "${FLOWER_BASIC_AUTH:?FLOWER_BASIC_AUTH (user:password) is needed to open Flower}"
    FLOWER_AUTH_REQUEST=/_flower_login
    FLOWER_AUTHORIZATION="\"Basic $(printf '%s' "$FLOWER_BASIC_AUTH" | base64 | tr -d '\n')\""
    ;;
flower)
    FLOWER_AUTH_REQUEST=off
    FLOWER_AUTHORIZATION='$http_authorization'
    ;;
*)
    echo "NGINX_FLOWER_AUTH must be api-key or flower, not '$NGINX_FLOWER_AUTH'" >&2
    exit 2
    ;;
esac
export HTTP_PORT NGINX_LISTEN WEB_UPSTREAM_SERVERS FLOWER_UPSTREAM MAX_BODY_BYTES NGINX_RUN_DIR \
    NGINX_RATE_LIMIT NGINX_RATE_BURST NGINX_CONN_LIMIT FLOWER_AUTH_REQUEST FLOWER_AUTHORIZATION
mkdir -p "$NGINX_RUN_DIR"
conf="$NGINX_RUN_DIR/nginx.conf"
# The rendered file may hold Flower's credentials: readable by its owner only.
(
    umask 077
    envsubst '${NGINX_LISTEN} ${WEB_UPSTREAM_SERVERS} ${FLOWER_UPSTREAM} ${MAX_BODY_BYTES} ${NGINX_RUN_DIR} ${NGINX_RATE_LIMIT} ${NGINX_RATE_BURST} ${NGINX_CONN_LIMIT} ${FLOWER_AUTH_REQUEST} ${FLOWER_AUTHORIZATION}' \
        < "$NGINX_TEMPLATE" > "$conf.tmp"
    mv "$conf.tmp" "$conf"
)
if [ "${1:-}" = "test" ]; then
    exec nginx -t -q -p "$NGINX_RUN_DIR" -c "$conf"
fi
exec nginx -p "$NGINX_RUN_DIR" -c "$conf" -g 'daemon off;'
