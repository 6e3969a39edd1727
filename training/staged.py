"""A release folder is replaced whole or not at all.

A release writes its model first and its threshold, figures and report minutes later; written in place,
a run stopped between the two (Ctrl+C, a failed evaluation, a full disk) left ``models/catdog`` with a
new model.tflite under a placeholder card, and the next deploy shipped it. So the release is written into
a staging folder beside the target, begun as a copy of it (files the release does not write stay), and
renamed into place only once everything is written. A stopped run leaves the target as it was.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_folder(folder) -> Iterator[Path]:
    """Yields the staging folder to write into; on a clean exit it becomes ``folder``."""
    folder = Path(folder).resolve()  # "." has no name to put a sibling beside
    stage = folder.with_name(f".{folder.name}.staging")  # same parent: the renames stay on one disk
    replaced = folder.with_name(f".{folder.name}.replaced")
    if replaced.is_dir() and not folder.exists():  # a run stopped between the two renames below
        replaced.rename(folder)
    for leftover in (stage, replaced):
        shutil.rmtree(leftover, ignore_errors=True)
    if folder.is_dir():
        shutil.copytree(folder, stage, symlinks=True)
    else:
        stage.mkdir(parents=True)
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if folder.exists():
        folder.rename(replaced)
    stage.rename(folder)
    shutil.rmtree(replaced, ignore_errors=True)
