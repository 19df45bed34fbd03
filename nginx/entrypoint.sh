#!/bin/sh
# Entry point of the nginx process, in the container and in the local stack alike.
set -eu
here=$(dirname "$0")
: "${HTTP_PORT:=80}"
: "${WEB_UPSTREAM_SERVERS:=server web:8000;}"
: "${FLOWER_UPSTREAM:=flower:5555}"
: "${MAX_BODY_BYTES:=1048576}"
: "${NGINX_RUN_DIR:=/tmp/nginx}"
# The local stack listens on loopback only; a container listens on every interface.
: "${NGINX_LISTEN:=$HTTP_PORT}"
: "${NGINX_TEMPLATE:=$here/switchboard.conf.template}"
export HTTP_PORT NGINX_LISTEN WEB_UPSTREAM_SERVERS FLOWER_UPSTREAM MAX_BODY_BYTES NGINX_RUN_DIR
mkdir -p "$NGINX_RUN_DIR"
conf="$NGINX_RUN_DIR/nginx.conf"
envsubst '${NGINX_LISTEN} ${WEB_UPSTREAM_SERVERS} ${FLOWER_UPSTREAM} ${MAX_BODY_BYTES} ${NGINX_RUN_DIR}' \
    < "$NGINX_TEMPLATE" > "$conf"
if [ "${1:-}" = "test" ]; then
    exec nginx -t -q -p "$NGINX_RUN_DIR" -c "$conf"
fi
exec nginx -p "$NGINX_RUN_DIR" -c "$conf" -g 'daemon off;'
