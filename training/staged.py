"""A release folder is replaced whole or not at all.

A release writes its model first and its threshold, figures and report minutes later; written in place,
a run stopped between the two (Ctrl+C, a failed evaluation, a full disk) left ``models/catdog`` with a
new model.tflite under a placeholder card, and the next deploy shipped it. So the release is written into
a staging folder beside the target, begun as a copy of it, and renamed into place only once everything
is written. A stopped run leaves the target as it was. The copy leaves out what a release writes
(``RELEASE_FILES``): an export of another model into the folder left the earlier release's report.md and
worst-errors CSVs beside the new model, describing a model no longer there. A file no release writes (a
user's notes) stays. A release that fails leaves no empty folder it made (``missing``, ``remove_empty``,
``kept_only_if_used``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from catdog.card import CARD_FILE, MODEL_FILE, ModelCard, ModelError

#: What every release writes anew (``training.export``, ``training.build``, ``training.neither``): the model,
#: its card, the card's page (``training.modelcard.README``) and the evaluation folder.
RELEASE_FILES = (MODEL_FILE, CARD_FILE, "README.md", "evaluation")


@contextmanager
def staged_folder(folder, written: Iterable[str] = ()) -> Iterator[Path]:
    """Yields the staging folder to write into; on a clean exit it becomes ``folder``. The entries of
    ``folder`` named in ``written`` (``RELEASE_FILES`` for a release) are not copied into it: what the
    writer does not write anew is then gone, not left over from the folder's earlier contents."""
    folder = Path(folder).resolve()  # "." has no name to put a sibling beside
    stage = folder.with_name(f".{folder.name}.staging")  # same parent: the renames stay on one disk
    replaced = folder.with_name(f".{folder.name}.replaced")
    if replaced.is_dir() and not folder.exists():  # a run stopped between the two renames below
        replaced.rename(folder)
    for leftover in (stage, replaced):
        shutil.rmtree(leftover, ignore_errors=True)
    with kept_only_if_used(folder.parent):  # made for the staging folder: removed again if the release fails
        if folder.is_dir():
            shutil.copytree(folder, stage, symlinks=True, ignore=_at_the_top(folder, written))
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


def _at_the_top(folder: Path, names: Iterable[str]) -> Callable[[str, list[str]], list[str]]:
    """``copytree``'s ``ignore``: the entries of ``folder`` itself named in ``names``, nothing deeper (the
    release's ``evaluation/``, not a user's ``notes/evaluation``)."""
    names, top = set(names), os.fspath(folder)
    return lambda at, found: [name for name in found if name in names] if os.fspath(at) == top else []


def missing(folder) -> list[Path]:
    """``folder`` and the folders above it that do not exist yet, deepest first: those a command that
    makes ``folder`` creates."""
    folder = Path(folder).absolute()
    return [path for path in (folder, *folder.parents) if not path.exists()]


def remove_empty(folders: list[Path]) -> None:
    """Removes ``folders`` (``missing``'s, once made) while they are empty, deepest first: a command that
    failed leaves no empty folder it made, and keeps any that holds something, and those above it."""
    for path in folders:
        if not path.is_dir() or any(path.iterdir()):
            return
        path.rmdir()


@contextmanager
def kept_only_if_used(*folders) -> Iterator[None]:
    """A command that fails leaves none of ``folders``, nor the folders above them, that it made and left
    empty (a run folder whose data scan failed); those that hold something stay."""
    made = [missing(folder) for folder in folders]
    try:
        yield
    except BaseException:
        for folders_made in made:
            remove_empty(folders_made)
        raise


def release_in(folder) -> str | None:
    """What a release folder holds, as a release says it ("release 2.4.0 (catdog-efficientnet-lite2)"),
    or None if it holds no model card; a card that cannot be read is still a release to be told of."""
    card = Path(folder) / CARD_FILE
    if not card.is_file():
        return None
    try:
        loaded = ModelCard.load(card)
    except ModelError:
        return f"an earlier release whose {CARD_FILE} cannot be read"
    return f"release {loaded.version} ({loaded.name})"
