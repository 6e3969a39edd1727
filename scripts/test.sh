#!/usr/bin/env bash
# Set up everything from nothing, then run the linters and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --train --dev --tools --browser
export PATH="$PWD/.venv/bin:$PWD/.venv-tools/bin:$PATH"
ruff check .
ruff format --check .
python -m pytest "$@"
