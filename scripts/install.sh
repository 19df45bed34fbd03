#!/usr/bin/env bash
# Installs what the local stack and the tests need, skipping what is already there:
# RabbitMQ and Nginx from the OS packages, FerretDB (unless a mongod is on PATH), the Python venv.
set -euo pipefail
cd "$(dirname "$0")/.."

FERRETDB_VERSIONS="${FERRETDB_VERSIONS:-v1.24.1 v1.24.0}"
TOOLS_DIR="${SWITCHBOARD_TOOLS:-$HOME/.cache/switchboard}"
say() { printf 'install: %s\n' "$*" >&2; }
# --python-only: just the virtualenv (enough for the unit tests and the linters).
python_only=false
[ "${1:-}" = "--python-only" ] && python_only=true

install_python() {
    local stamp=.venv/.requirements.sha256 want
    want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d" " -f1)
    if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "python environment from requirements.txt and requirements-dev.txt"
        python3 -m venv .venv
        .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
        echo "$want" > "$stamp"
    fi
}
if $python_only; then install_python; exit 0; fi

need_apt=()
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need_apt+=(rabbitmq-server)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v envsubst >/dev/null || need_apt+=(gettext-base)
# The HTTP load generator of `make bench`.
command -v wrk >/dev/null || need_apt+=(wrk)
if [ ${#need_apt[@]} -gt 0 ]; then
    say "apt packages: ${need_apt[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_apt[@]}" >/dev/null
    # The package starts a system broker; the stack runs its own.
    service rabbitmq-server stop >/dev/null 2>&1 || true
fi

# FerretDB from the Go module proxy, built vendored in a scratch module: `go install` alone
# cannot build it (it wants a generated version file), and the vendored copy takes our patches:
# - scripts/ferretdb/serialize_writes.go makes each conditional update atomic, as in MongoDB;
# - an `_id` equality is pushed down to SQLite even when the filter has other fields (FerretDB
#   re-applies the whole filter in Go to the rows that come back), and the `_id` expression is
#   written as its index is, so `{_id, status}` updates are index lookups, not full scans.
FERRETDB_BUILD="serialized-writes-id-pushdown-2"
build_ferretdb() {
    local version=$1 work pkg=github.com/FerretDB/FerretDB patch
    patch="$PWD/scripts/ferretdb/serialize_writes.go"
    work=$(mktemp -d)
    (
        cd "$work" &&
        go mod init ferretdb-build >/dev/null 2>&1 &&
        printf '//go:build tools\n\npackage tools\n\nimport _ "%s/cmd/ferretdb"\n' "$pkg" > tools.go &&
        go get "$pkg/cmd/ferretdb@$version" &&
        go mod vendor &&
        echo "$version" > "vendor/$pkg/build/version/version.txt" &&
        cp "$patch" "vendor/$pkg/internal/handler/" &&
        sed -i 's/^\(\s*\)h.initCommands()$/&\n\1serializeWrites(h.commands)/' \
            "vendor/$pkg/internal/handler/handler.go" &&
        grep -q 'serializeWrites(h.commands)' "vendor/$pkg/internal/handler/handler.go" &&
        sed -i 's/if params.Filter.Len() == 1 {/if params.Filter.Len() >= 1 {/' \
            "vendor/$pkg/internal/backends/sqlite/collection.go" &&
        grep -q 'Filter.Len() >= 1' "vendor/$pkg/internal/backends/sqlite/collection.go" &&
        sed -i "s|IDColumn = DefaultColumn + \"->'\\\$._id'\"|IDColumn = DefaultColumn + \"->'_id'\"|" \
            "vendor/$pkg/internal/backends/sqlite/metadata/metadata.go" &&
        grep -q "IDColumn = DefaultColumn + \"->'_id'\"" \
            "vendor/$pkg/internal/backends/sqlite/metadata/metadata.go" &&
        go build -mod=vendor -o "$TOOLS_DIR/bin/ferretdb" "$pkg/cmd/ferretdb"
    ) || { rm -rf "$work"; return 1; }
    rm -rf "$work"
    echo "$version $FERRETDB_BUILD" > "$TOOLS_DIR/bin/ferretdb.build"
}

if ! command -v mongod >/dev/null \
    && ! grep -qs " $FERRETDB_BUILD\$" "$TOOLS_DIR/bin/ferretdb.build"; then
    mkdir -p "$TOOLS_DIR/bin"
    for version in $FERRETDB_VERSIONS; do
        say "building FerretDB $version (once; cached in $TOOLS_DIR/bin)"
        build_ferretdb "$version" && break
        say "FerretDB $version did not build"
    done
    grep -qs " $FERRETDB_BUILD\$" "$TOOLS_DIR/bin/ferretdb.build" || { say "no FerretDB could be built"; exit 1; }
fi

install_python
