#!/usr/bin/env bash
# Installs what the local stack and the tests need, skipping what is already there:
# RabbitMQ and Nginx from the OS packages, secantusd-rs (unless a mongod is on PATH), the Python venv.
set -euo pipefail
cd "$(dirname "$0")/.."

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
# The browser tests (tests/integration/test_dashboard.py): headless Chromium and its driver.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
    say "apt packages: ${need_apt[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_apt[@]}" >/dev/null
    # The package starts a system broker; the stack runs its own.
    service rabbitmq-server stop >/dev/null 2>&1 || true
fi

# The local MongoDB-wire server, unless a real mongod is on PATH: secantusd-rs (crates.io package
# secantus-mdb, GPL-2.0), MongoDB's own storage engine WiredTiger behind the MongoDB wire protocol.
# Chosen by measurement (docs/data-model.md): atomic conditional updates, real secondary indexes,
# every operator the code uses, nothing acknowledged lost to kill -9. Built once from the crate's
# own lock file (about 10 minutes on 2 cores) and cached; cargo prints its progress. The crate
# declares a newer Rust than this machine's toolchain, which builds it all the same.
SECANTUS_VERSION="0.5.3-beta.196"
secantus="$TOOLS_DIR/bin/secantusd-rs"
if ! command -v mongod >/dev/null \
    && ! "$secantus" --version 2>/dev/null | grep -qF "$SECANTUS_VERSION"; then
    command -v cargo >/dev/null || { say "cargo is needed to build secantusd-rs"; exit 1; }
    if ! command -v cmake >/dev/null; then
        say "apt packages: cmake (WiredTiger's build)"
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends cmake >/dev/null
    fi
    say "building secantusd-rs $SECANTUS_VERSION, the local MongoDB-wire server (once, ~10 min; cached in $TOOLS_DIR/bin)"
    cargo install secantus-mdb --version "$SECANTUS_VERSION" --locked --ignore-rust-version \
        --root "$TOOLS_DIR"
fi

install_python
