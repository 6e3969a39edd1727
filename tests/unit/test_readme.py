"""The README's Python example runs as written and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re

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
