#!/usr/bin/env bash
# The main job, from nothing: set up .venv, then run the whole pipeline on this machine - an embedded S3,
# the classify Lambda handler fed by the bucket's notifications, and the upload page - after classifying
# the bundled sample photos through it. No AWS account needed; Ctrl+C stops everything.
# Usage: scripts/demo.sh [catdog serve options, e.g. --port 8080 or --host 0.0.0.0 for a phone on the LAN]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/catdog serve "$@"
