#!/usr/bin/env bash
# Set up everything from nothing, then run the linters and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --train --dev --tools --browser
export PATH="$PWD/.venv/bin:$PWD/.venv-tools/bin:$PATH"
ruff check .
ruff format --check .
# two workers, one test module each (its module fixtures made once): the moto, sam and browser tests mostly
# wait, so they overlap the training tests on two cores (11 min against 17 min in one process)
python -m pytest -n 2 --dist loadfile "$@"
