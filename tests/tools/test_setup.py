"""scripts/setup.sh's choice of what to install, run for real on a copy of the checkout's locks, with a
Python 3.12 whose venvs record their pip commands instead of downloading anything."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

PYTHON312 = subprocess.run([REPO / "scripts" / "python312.sh"], capture_output=True, text=True).stdout.strip()
#: ``python3.12`` for scripts/python312.sh: the real one, except that it names itself as the Python to use
#: and that ``-m venv DIR`` makes a venv whose python writes its arguments to DIR/pip.log (and answers the
#: site-packages question with DIR/site).
FAKE_PYTHON = f"""#!/usr/bin/env bash
if [ "$1" = -c ] && [[ "$2" == *sys.executable* ]]; then echo "$0"; exit 0; fi
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin" "$3/site"
  printf '%s\\n' '#!/usr/bin/env bash' 'dir=$(cd "$(dirname "$0")/.." && pwd)' \\
    'if [ "$1" = -c ]; then echo "$dir/site"; else echo "$*" >> "$dir/pip.log"; fi' > "$3/bin/python"
  chmod +x "$3/bin/python"
  exit 0
fi
exec {PYTHON312} "$@"
"""


@pytest.fixture
def checkout(tmp_path) -> Path:
    """The files scripts/setup.sh reads, in a folder of their own, and the fake Python first on PATH."""
    root = tmp_path / "checkout"
    shutil.copytree(REPO / "scripts", root / "scripts")
    shutil.copytree(REPO / "requirements", root / "requirements")
    shutil.copy(REPO / "pyproject.toml", root)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python3.12").write_text(FAKE_PYTHON)
    (tmp_path / "bin" / "python3.12").chmod(0o755)
    return root


def _setup(checkout: Path, *args: str) -> list[str]:
    env = {**os.environ, "PATH": f"{checkout.parent / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["scripts/setup.sh", *args], cwd=checkout, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return (checkout / ".venv" / "pip.log").read_text().splitlines()


def _locks(pip_commands: list[str]) -> list[str]:
    return [command.split(" -r ")[1] for command in pip_commands if " -r " in command]


def test_given_no_venv_when_set_up_for_serving_then_only_the_serving_lock_is_installed(checkout):
    assert _locks(_setup(checkout)) == ["requirements/serving.lock"]


def test_given_a_training_venv_when_pyproject_changed_and_serving_is_set_up_then_it_keeps_its_locks(checkout):
    # GIVEN a .venv set up with --train --dev, and then a pull that changed pyproject.toml
    _setup(checkout, "--train", "--dev")
    (checkout / ".venv" / "pip.log").unlink()
    with (checkout / "pyproject.toml").open("a") as pyproject:
        pyproject.write("# a new pin\n")
    # WHEN setup runs as scripts/invoke.sh and scripts/demo.sh run it: without --train or --dev
    commands = _setup(checkout)
    # THEN the new .venv has the training and test packages again, not the serving ones alone
    locks = _locks(commands)
    assert locks[0] == "requirements/serving.lock"
    assert sorted(locks[1:]) == ["requirements/dev.lock", "requirements/training.lock"]
    stamps = sorted(path.name for path in (checkout / ".venv").glob(".stamp-*"))
    assert stamps == [".stamp-dev", ".stamp-serving", ".stamp-training"]
