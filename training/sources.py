"""Several labelled photo folders as one data set, each folder (a *source*) split with its own fractions.

A user has several sources too: the Asirra photos, breed photos, photos with neither animal. Each folder
holds class folders named like the labels (``cat/``, ``dog/``, ``neither/``) or Kaggle's flat names
(``cat.1.jpg``), as ``training.data.scan`` reads them; a folder may lack a class (Asirra has no
"neither"). Paths in the resulting ``training.data.Split`` are relative to the folders' common parent
and start with the source's folder name (``petimages-180/cat/1.jpg``), so one split file covers every
source, and ``source_of(split, path)`` tells them apart in every report.

Public API:
    Source(folder, fractions=(0.8, 0.1, 0.1), seed=0)   one folder and how it is split
    scan_folder(folder, labels) -> training.data.Scan   like ``data.scan``, a missing class allowed
    make_source_split(sources, labels, seed=0) -> Split  stratified per source and class, seeded;
        exact duplicate files across sources are kept once (the first source wins); the same file under
        two labels is a ``DataError``
    source_of(split, path) -> str;  breed_of(path) -> str   from the path and the file name
    dataset_card(split) -> dict                           the model card's ``dataset`` section
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.data import SPLITS, DataError, Sample, Scan, Split, cut_members, scan

LABELS3 = ("cat", "dog", "neither")
#: what the model card keeps of each source's split report
CARD_FIELDS = ("folder", "counts", "total", "fractions", "seed", "split_sizes", "duplicates_removed")


@dataclass(frozen=True)
class Source:
    folder: str
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0


def scan_folder(
    folder: str | os.PathLike, labels: tuple[str, ...] = LABELS3, allow_empty: bool = False
) -> Scan:
    """``data.scan`` of ``folder`` (class folders or flat names, at least one class unless ``allow_empty``),
    labels indexed as given: a source need not hold every class."""
    return scan(folder, labels, allow_missing=True, allow_empty=allow_empty)


def source_folder(folder: str | os.PathLike) -> Path:
    """A data folder as a split knows it: resolved, so a link ``PetImages`` to ``a`` is the source ``a``
    (splits saved in run folders name their sources so). A recipe's per-source settings name the folder
    as the recipe gives it (``training.build.per_source``)."""
    return Path(folder).resolve()


def make_source_split(sources: list[Source], labels: tuple[str, ...] = LABELS3, seed: int = 0) -> Split:
    """One split over every source; see the module docstring. ``seed`` orders the interleaving."""
    if not sources:
        raise DataError("no data folders given")
    folders = [source_folder(s.folder) for s in sources]
    root = Path(os.path.commonpath([f.parent for f in folders]))
    names = [f.relative_to(root).as_posix() for f in folders]
    if len(set(names)) != len(names):
        raise DataError(f"the same folder is given twice: {names}")
    parts: dict[str, list[Sample]] = {name: [] for name in SPLITS}
    report: dict = {"sources": {}}
    seen: dict[str, Sample] = {}
    for source, folder, name in zip(sources, folders, names, strict=True):
        found = scan_folder(folder, labels)
        kept, cross = [], []
        for sample in found.samples:
            digest = hashlib.sha256((folder / sample.path).read_bytes()).hexdigest()
            path, first = f"{name}/{sample.path}", seen.get(digest)
            if first is None:
                seen[digest] = Sample(path, sample.label)
                kept.append(seen[digest])
                continue
            if first.label != sample.label:  # the data set contradicts itself: only the user can settle it
                raise DataError(
                    f"the same photo is {labels[first.label]} as {root / first.path} and "
                    f"{labels[sample.label]} as {root / path}: remove the wrong one"
                )
            cross.append({"path": path, "same_as": first.path})
        rng = np.random.default_rng(source.seed)
        sizes = {}
        for index, label in enumerate(labels):
            members = sorted((s for s in kept if s.label == index), key=lambda s: s.path)
            if not members:
                continue
            for part, chosen in cut_members(members, source.fractions, rng).items():
                parts[part].extend(chosen)
                sizes.setdefault(part, {})[label] = len(chosen)
        report["sources"][name] = {
            "folder": str(source.folder),
            "counts": {label: sum(1 for s in kept if s.label == i) for i, label in enumerate(labels)},
            "total": len(kept),
            "fractions": list(source.fractions),
            "seed": source.seed,
            "split_sizes": sizes,
            "skipped": found.skipped,
            "ignored_folders": found.ignored_folders,
            "duplicates_removed": len(found.duplicates) + len(cross),
            "duplicates_of_other_sources": cross,
        }
    rng = np.random.default_rng(seed)
    for part in SPLITS:
        parts[part] = [parts[part][i] for i in rng.permutation(len(parts[part]))]
    counts = {label: sum(s["counts"][label] for s in report["sources"].values()) for label in labels}
    report |= {"root": str(root), "layout": "sources", "labels": list(labels), "counts": counts}
    return Split(root, tuple(labels), seed, (0.0, 0.0, 0.0), parts, report)


def source_parts(split: Split, path: str) -> tuple[str, str]:
    """``(name, inside)`` of a split path: the split's name for its source folder, relative to the
    folders' common parent (``breeds-dev``; ``home/me/cats`` beside a folder elsewhere), and the rest."""
    for name in sorted(split.report.get("sources", {}), key=len, reverse=True):
        if path.startswith(f"{name}/"):
            return name, path[len(name) + 1 :]
    first, _, inside = path.partition("/")  # a split of one folder
    return first, inside


def source_of(split: Split, path: str) -> str:
    """The folder name of a split path's source: how recipes (``views.oversample``, ``source_views``)
    and reports know it, wherever the folder is."""
    return Path(source_parts(split, path)[0]).name


def breed_of(path: str) -> str:
    """The breed or class a file name carries, else its class folder.

    breeds-dev: ``<source>_<breed>_<original>.jpg``; other-sources-dev: ``imagen_<wnid>_<id>_<class>.jpg``
    or ``imagenet_<wnid>_<class>.jpg`` (``n02123045_tabby.JPEG``); Asirra: ``cat/123.jpg`` -> ``cat``.
    """
    parts = path.split("/")
    stem, folder = Path(parts[-1]).stem, parts[-2] if len(parts) > 1 else ""
    fields = stem.split("_")
    if fields[0] in ("imagen", "imagenet"):
        words = [w for w in fields[1:] if not w.isdigit() and not (w.startswith("n") and w[1:].isdigit())]
        return "_".join(words) or folder
    if len(fields) >= 3 and not fields[0].isdigit():
        return fields[1]
    return folder


def dataset_card(split: Split) -> dict:
    """The model card's ``dataset``: every source folder with its counts, fractions, seed and split, how
    many files were skipped and which folders beside the class folders were ignored."""
    sources = split.report.get("sources", {})
    return {
        "root": split.root.name,
        "layout": "sources",
        "sources": {
            name: {k: s[k] for k in CARD_FIELDS}
            | {"skipped_files": len(s.get("skipped", [])), "ignored_folders": s.get("ignored_folders", [])}
            for name, s in sources.items()
        },
        "usable_photos": split.report.get("counts"),
        "split_sizes": split.sizes(),
    }
