#!/usr/bin/env bash
# Print the path of a Python 3.12 (the Lambda runtime's version): the one place that looks for it, used by
# scripts/setup.sh, the tests and the benchmarks that need `sam build`. Exit 1 with a message if none.
for candidate in python3.12 "$HOME"/.pyenv/versions/3.12.*/bin/python3.12 /root/.pyenv/versions/3.12.*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do
  if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1; then
    exec "$candidate" -c 'import sys; print(sys.executable)'
  fi
done
echo "setup: Python 3.12 is required (the Lambda runtime); install it and re-run" >&2
exit 1
