#!/usr/bin/env bash
# No function or method in the product (services/) above radon's grade B (complexity over 10).
set -euo pipefail
cd "$(dirname "$0")/.."
complex=$(.venv/bin/radon cc --min C --show-complexity services)
if [ -n "$complex" ]; then
    printf 'functions above grade B:\n%s\n' "$complex" >&2
    exit 1
fi
