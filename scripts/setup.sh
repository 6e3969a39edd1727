#!/usr/bin/env bash
# Create .venv (Python 3.12, the Lambda runtime's) with the pinned packages each job needs, idempotently.
# Usage: scripts/setup.sh [--train] [--dev] [--tools] [--browser]
#   (none)     serving + the local stack: requirements/serving.lock (what scripts/demo.sh runs)
#   --train    also TensorFlow and the training packages: requirements/training.lock
#   --dev      also the test and lint tools: requirements/dev.lock
#   --tools    also .venv-tools with aws-sam-cli and cfn-lint (sam pins its own boto3, so it lives apart)
#   --browser  also Debian's chromium and chromium-driver for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

python=$(scripts/python312.sh)
locks=(serving)
for arg in "$@"; do
  case "$arg" in
    --train) locks+=(training) ;;
    --dev) locks+=(dev) ;;
    --tools | --browser) ;;
    *) echo "setup: unknown option $arg (see the usage at the top of scripts/setup.sh)" >&2; exit 2 ;;
  esac
done

# A changed serving lock (or pyproject) makes a new .venv; the other locks add to it. The new one gets every
# lock the old one had: `scripts/invoke.sh` (setup --tools) after a pull took the training and test packages.
serving_hash=$(hash_of requirements/serving.lock pyproject.toml)
if ! stamp_ok .venv/.stamp-serving "$serving_hash"; then
  for had in training dev; do  # in the order the options install them: dev.lock goes on top of training's
    if [ -f ".venv/.stamp-$had" ] && [[ " ${locks[*]} " != *" $had "* ]]; then
      locks+=("$had")
    fi
  done
  echo "setup: creating .venv with $python"
  rm -rf .venv
  "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet pip==26.3
fi
for lock in "${locks[@]}"; do
  lock_hash=$(hash_of "requirements/$lock.lock" pyproject.toml)
  stamp_ok ".venv/.stamp-$lock" "$lock_hash" && continue
  echo "setup: installing requirements/$lock.lock into .venv"
  .venv/bin/python -m pip install --quiet -r "requirements/$lock.lock"
  if [ "$lock" = serving ]; then
    # setuptools warns, in a banner of asterisks, that folders named like the package may shadow it:
    # that is the checkout's very layout, and the .pth below puts it first on purpose
    PYTHONWARNINGS="ignore:Editable installation" \
      .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
    # The checkout's own top-level folders (local/, training/, functions/) import from this venv too:
    # `catdog serve` is local/serve.py, which exists only in a checkout, never in the deployed package.
    site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
    echo "$PWD" > "$site/catdog-checkout.pth"
  fi
  echo "$lock_hash" > ".venv/.stamp-$lock"
done

for arg in "$@"; do
  case "$arg" in
    --tools)
      tools_hash=$(hash_of requirements/tools.lock)
      if ! stamp_ok .venv-tools/.stamp "$tools_hash"; then
        echo "setup: creating .venv-tools (aws-sam-cli, cfn-lint)"
        "$python" -m venv .venv-tools
        .venv-tools/bin/python -m pip install --quiet pip==26.3
        .venv-tools/bin/python -m pip install --quiet -r requirements/tools.lock
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
  esac
done
