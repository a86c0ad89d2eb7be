#!/usr/bin/env bash
# Runs the whole test suite (sets up first, so it works on a fresh machine): lint, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
jobs=${AGILENN_TEST_JOBS:-auto}
exec .venv/bin/python -m pytest -n "$jobs" "$@"
