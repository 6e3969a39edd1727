#!/usr/bin/env bash
# `sam local invoke` on any machine: with a running Docker daemon it is `sam local invoke` itself;
# without one the function from `sam build`'s output runs under Lambda's Runtime Interface Emulator
# (shipped in the aws-sam-cli wheel) against an embedded S3/SQS prepared from the event.
# Usage: scripts/invoke.sh FUNCTION EVENT [--env-vars FILE] [--photo FILE] [--aws] [--build-dir DIR]
#   e.g. scripts/invoke.sh ClassifyFunction events/s3-put.json   (run `sam build` first)
# Paths are taken from the caller's folder; stdout is only the function's answer.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
(cd "$repo" && scripts/setup.sh --tools) >&2
PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" exec "$repo/.venv/bin/python" -m local.invoke "$@"
