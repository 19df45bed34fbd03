#!/bin/sh
# Lints the container setup without a Docker engine (the same tools tests/unit/test_containers.py
# uses, pinned in requirements-dev.txt): hadolint on both Dockerfiles, and Compose's own schema
# validation of both Compose files. Production is checked with placeholder credentials.
set -eu
cd "$(dirname "$0")/.."
PATH="${VENV:-$PWD/.venv}/bin:$PATH"
for tool in hadolint docker-compose; do
    command -v "$tool" >/dev/null || { echo "$tool missing: pip install -r requirements-dev.txt" >&2; exit 1; }
done
hadolint services/Dockerfile nginx/Dockerfile
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%s\n' RABBITMQ_ADMIN_USER=a RABBITMQ_ADMIN_PASSWORD=p RABBITMQ_APP_USER=u \
    RABBITMQ_APP_PASSWORD=p MONGO_ROOT_USER=r MONGO_ROOT_PASSWORD=p MONGO_APP_USER=u \
    MONGO_APP_PASSWORD=p FLOWER_BASIC_AUTH=u:p >"$tmp/.env"
docker-compose -f docker-compose.dev.yml --project-directory "$tmp" config --quiet
docker-compose -f docker-compose.prod.yml --project-directory "$tmp" config --quiet
echo "containers: Dockerfiles lint clean, Compose files valid"
