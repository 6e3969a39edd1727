"""The README's Python example runs as written and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys

from conftest import REPO


def test_given_the_readmes_python_example_when_run_from_the_checkout_then_it_prints_its_comments(
    monkeypatch,
):
    readme = (REPO / "README.md").read_text()
    (example,) = re.findall(r"\*\*From Python\*\*.*?```python\n(.*?)```", readme, flags=re.S)
    promised = [line.split("# ", 1)[1] for line in example.splitlines() if line.lstrip().startswith("print(")]
    monkeypatch.chdir(REPO)
    printed = io.StringIO()

    with contextlib.redirect_stdout(printed):
        exec(compile(example, "README.md", "exec"), {})

    assert printed.getvalue().splitlines() == promised


def test_given_the_web_tests_command_in_web_md_when_collected_then_it_runs_as_many_tests_as_it_says():
    web = (REPO / "docs" / "web.md").read_text()
    said, command = re.search(r"Run only these \((\d+) tests.*?```bash\n(.*?)```", web, flags=re.S).groups()
    words = command.replace("\\\n", " ").split()
    assert words[:3] == [".venv/bin/python", "-m", "pytest"], command
    collect = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *words[3:]]

    result = subprocess.run(collect, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)

    collected = re.search(r"^(\d+) tests? collected", result.stdout, flags=re.M)
    assert collected, result.stdout[-2000:] + result.stderr[-2000:]
    assert int(said) == int(collected[1])
