#!/usr/bin/env bash
# Create .venv (Python 3.12, the Lambda runtime's) with every pinned dependency, idempotently.
# Usage: scripts/setup.sh [--tools] [--browser]
#   --tools    also .venv-tools with aws-sam-cli and cfn-lint (sam pins its own boto3, so it lives apart)
#   --browser  also Debian's chromium and chromium-driver for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  for candidate in python3.12 /root/.pyenv/versions/3.12.*/bin/python3.12 /usr/bin/python3.12; do
    if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1; then
      "$candidate" -c 'import sys; print(sys.executable)'; return
    fi
  done
  echo "setup: Python 3.12 is required (the Lambda runtime); install it and re-run" >&2
  exit 1
}

stamp_ok() { [ -f "$1/.stamp" ] && [ "$(cat "$1/.stamp")" = "$2" ]; }

python=$(find_python)
lock_hash=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if ! stamp_ok .venv "$lock_hash"; then
  echo "setup: creating .venv with $python"
  "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet pip==26.3
  .venv/bin/python -m pip install --quiet -r requirements.lock
  .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
  echo "$lock_hash" > .venv/.stamp
fi

for arg in "$@"; do
  case "$arg" in
    --tools)
      tools_hash=$(sha256sum requirements-tools.lock | cut -c1-16)
      if ! stamp_ok .venv-tools "$tools_hash"; then
        echo "setup: creating .venv-tools (aws-sam-cli, cfn-lint)"
        "$python" -m venv .venv-tools
        .venv-tools/bin/python -m pip install --quiet pip==26.3
        .venv-tools/bin/python -m pip install --quiet -r requirements-tools.lock
        echo "$tools_hash" > .venv-tools/.stamp
      fi
      ;;
    --browser)
      if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
        echo "setup: installing chromium and chromium-driver (apt-get)"
        sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
        $sudo_cmd apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium chromium-driver >/dev/null
      fi
      ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done
