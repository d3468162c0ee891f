#!/usr/bin/env bash
# `make bench`: see scripts/bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/bench.py "$@"
