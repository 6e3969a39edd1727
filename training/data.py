"""From a folder of photos to reproducible, cached uint8 arrays.

Public API:
    scan(root, labels=LABELS, allow_missing=False) -> Scan
        find the photos (class folders ``cat/``, ``dog/`` in any case, or Kaggle's flat ``cat.123.jpg``),
        decode every one through ``catdog.load_image`` to drop what is corrupt, empty or not an image, and
        drop exact duplicate files. ``Scan.report()`` says what was kept and skipped, and why.
    make_split(scan, fractions=(0.8, 0.1, 0.1), seed=0) -> Split
        stratified and seeded; ``Split.save(path)`` / ``Split.load(path)`` make it reproducible.
    check_parts(split, parts=("train", "val", "test"), labels=None)
        a ``DataError`` unless each part holds a photo of every class the split holds (or of ``labels``).
    left_out(split) -> list[str]
        one line for every folder ignored, file skipped and duplicate dropped.
    load_pixels(root, paths, size, cache_dir=None) -> uint8 array (n, size, size, 3)
        through ``catdog.load_image`` + ``catdog.preprocess`` only, cached on disk so that a second run
        does not decode thousands of JPEGs again.
    load_arrays(split, size, cache_dir=None) -> {"train": (x, y), "val": (x, y), "test": (x, y)}

No TensorFlow here: the loader is used by tests and tools that must stay light.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from catdog import InvalidImage, load_image
from catdog.images import decoder_key, model_input
from catdog.inputs import Missing
from catdog.inputs import photos_in as files_under

LABELS = ("cat", "dog")
HIDDEN = "hidden file"
SPLITS = ("train", "val", "test")
FRACTIONS = (0.8, 0.1, 0.1)  # of each class, in the order of SPLITS


class DataError(ValueError):
    """The data folder cannot be used as it is (no classes found, a class without photos, ...)."""


@dataclass(frozen=True)
class Sample:
    path: str  # relative to the data root, with forward slashes, so a split file is portable
    label: int  # index into the labels


@dataclass
class Scan:
    root: Path
    labels: tuple[str, ...]
    layout: str  # "folders" or "flat"
    samples: list[Sample]
    skipped: list[dict] = field(default_factory=list)  # {"path", "reason"}
    duplicates: list[dict] = field(default_factory=list)  # {"path", "same_as"}
    ignored_folders: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counter = Counter(sample.label for sample in self.samples)
        return {label: counter[index] for index, label in enumerate(self.labels)}

    def report(self) -> dict:
        return {
            "root": str(self.root),
            "layout": self.layout,
            "labels": list(self.labels),
            "counts": self.counts(),
            "total": len(self.samples),
            "skipped": self.skipped,
            "duplicates_removed": self.duplicates,
            "ignored_folders": self.ignored_folders,
        }


def scan(
    root: str | os.PathLike,
    labels: tuple[str, ...] = LABELS,
    allow_missing: bool = False,
    allow_empty: bool = False,
) -> Scan:
    """Find, validate and de-duplicate the photos under ``root``; see the module docstring.

    ``allow_missing``: a label may have no class folder, or no file named like it, at all (one of
    several sources need not hold every class); a class folder or named file must still give a photo.
    ``allow_empty``: no class folder and no named file at all is an empty scan, not an error (the photos
    are elsewhere: an evaluation folder of look-alikes alone).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    candidates, layout, ignored, skipped, absent = _find(root, labels, allow_missing, allow_empty)
    samples: list[Sample] = []
    first_by_hash: dict[str, Sample] = {}
    duplicates: list[dict] = []
    conflicting: set[str] = set()
    for path, label in candidates:
        relative = path.relative_to(root).as_posix()
        try:
            load_image(path)
        except InvalidImage as exc:
            skipped.append({"path": relative, "reason": skip_reason(exc)})
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        first = first_by_hash.get(digest)
        if first is None:
            first_by_hash[digest] = Sample(relative, label)
            samples.append(first_by_hash[digest])
            continue
        duplicates.append({"path": relative, "same_as": first.path})
        if first.label != label:
            conflicting.add(first.path)
    if conflicting:  # the same photo under two labels: neither label can be trusted
        samples = [sample for sample in samples if sample.path not in conflicting]
        skipped.extend(
            {"path": path, "reason": "same file under another label"} for path in sorted(conflicting)
        )
    result = Scan(root, tuple(labels), layout, samples, skipped, duplicates, ignored)
    empty = [label for label, count in result.counts().items() if count == 0 and label not in absent]
    if empty:  # the files skipped are why: named here, as the scan's report is never reached
        shown = "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        why = f" ({len(skipped)} file{'s' * (len(skipped) != 1)} skipped: {shown}{more})" if skipped else ""
        raise DataError(f"no usable photos for {', '.join(empty)} in {root}{why}")
    return result


def _find(
    root: Path, labels: tuple[str, ...], allow_missing: bool, allow_empty: bool = False
) -> tuple[list[tuple[Path, int]], str, list[str], list[dict], list[str]]:
    """Pick the layout: class folders if any folder is named like a label, else flat Kaggle names.

    Also returns the labels that are absent (no folder, no named file) and allowed to be."""
    folders = sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))
    by_label = {label: [f for f in folders if f.name.lower() == label] for label in labels}
    skipped: list[dict] = []
    if any(by_label.values()):
        missing = [label for label, found in by_label.items() if not found]
        if missing and not allow_missing:
            raise DataError(
                f"no folder for {', '.join(missing)} in {root} (found: {', '.join(f.name for f in folders)})"
            )
        candidates = [
            (path, index)
            for index, label in enumerate(labels)
            for folder in by_label[label]
            for path in class_files(root, folder, skipped)
        ]
        matched = {f for found in by_label.values() for f in found}
        ignored = [f.name for f in folders if f not in matched]
        return candidates, "folders", ignored, skipped, missing
    candidates = []
    for path in sorted(root.iterdir()):
        if not path.is_file():
            continue
        if path.name.startswith("."):
            skipped.append({"path": path.name, "reason": HIDDEN})
            continue
        prefix = path.name.split(".", 1)[0].lower()
        if prefix in labels and "." in path.name:
            candidates.append((path, labels.index(prefix)))
        else:
            skipped.append({"path": path.name, "reason": f"name does not start with one of {list(labels)}"})
    if not candidates and not allow_empty:
        raise DataError(
            f"found neither class folders ({', '.join(labels)}) nor files named like "
            f"{labels[0]}.1.jpg in {root} (folders: {', '.join(f.name for f in folders) or 'none'})"
        )
    named = {index for _, index in candidates}
    absent = [label for index, label in enumerate(labels) if index not in named] if allow_missing else []
    return candidates, "flat", [f.name for f in folders], skipped, absent


def class_files(root: Path, folder: Path, skipped: list[dict]) -> list[Path]:
    """Every file under a class folder, linked folders followed, as ``catdog classify`` finds photos: a
    folder that cannot be read and a hidden file (``.DS_Store``) are added to ``skipped``, not left out
    without a word; any other file is decoded, and skipped with its reason if it is no photo."""
    files = []
    for found in files_under(folder, keep=lambda name: True):
        if isinstance(found, Missing):
            skipped.append({"path": Path(found.path).relative_to(root).as_posix(), "reason": found.message})
        elif found.name.startswith("."):
            skipped.append({"path": found.relative_to(root).as_posix(), "reason": HIDDEN})
        else:
            files.append(found)
    return files


def skip_reason(exc: InvalidImage) -> str:
    return "empty file" if exc.code == "empty" else f"{exc.code}: {exc}"


@dataclass
class Split:
    root: Path
    labels: tuple[str, ...]
    seed: int
    fractions: tuple[float, float, float]
    parts: dict[str, list[Sample]]
    report: dict = field(default_factory=dict)

    def sizes(self) -> dict[str, dict[str, int]]:
        return {
            name: {
                label: sum(1 for sample in samples if sample.label == index)
                for index, label in enumerate(self.labels)
            }
            | {"total": len(samples)}
            for name, samples in self.parts.items()
        }

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "root": str(self.root),
            "labels": list(self.labels),
            "seed": self.seed,
            "fractions": list(self.fractions),
            "sizes": self.sizes(),
            "splits": {name: [[s.path, s.label] for s in samples] for name, samples in self.parts.items()},
            "report": self.report,
        }
        path.write_text(json.dumps(document, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, root: str | os.PathLike | None = None) -> Split:
        """Read a saved split; ``root`` overrides where the photos are now (paths in it are relative)."""
        try:
            document = json.loads(Path(path).read_text())
            parts = {
                name: [Sample(p, int(label)) for p, label in rows]
                for name, rows in document["splits"].items()
            }
            split = cls(
                root=Path(root or document["root"]),
                labels=tuple(document["labels"]),
                seed=int(document["seed"]),
                fractions=tuple(document["fractions"]),
                parts=parts,
                report=document.get("report", {}),
            )
        except KeyError as exc:  # Python's words are the bare key: 'splits'
            raise DataError(
                f"cannot read split file {path}: it lacks {exc.args[0]!r}, which every split has"
            ) from exc
        except (OSError, ValueError, TypeError) as exc:
            raise DataError(f"cannot read split file {path}: {exc}") from exc
        if root is not None and not split.root.is_dir():  # --data mistyped: said now, not as the first photo
            raise DataError(f"data folder not found: {root}")
        return split


def make_split(scan: Scan, fractions: tuple[float, float, float] = FRACTIONS, seed: int = 0) -> Split:
    """Stratified: each class is shuffled with ``seed`` and cut at the same fractions."""
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise DataError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[Sample]] = {name: [] for name in SPLITS}
    for index in range(len(scan.labels)):
        members = sorted((s for s in scan.samples if s.label == index), key=lambda s: s.path)
        for name, chosen in cut_members(members, fractions, rng).items():
            parts[name].extend(chosen)
    for name in SPLITS:  # interleave classes in a seeded order, so a prefix of a split is still mixed
        parts[name] = [parts[name][i] for i in rng.permutation(len(parts[name]))]
    return Split(scan.root, scan.labels, seed, tuple(fractions), parts, scan.report())


def check_parts(split: Split, parts: tuple[str, ...] = SPLITS, labels: tuple[str, ...] | None = None) -> None:
    """A ``DataError`` unless each of ``parts`` holds a photo of every class of ``labels``, by default
    every class found anywhere in ``split``.

    Training on a part without a class, choosing on an empty val part or scoring a one-class test part
    fails late and obscurely (a missing ``val_loss``, an unpack error) or not at all. A class that no
    part holds is not asked for unless ``labels`` names it (a source split measured without "neither"
    photos); a model that trains on a class names it, and then a class no folder holds (a misspelt
    ``nether/``) is refused with the classes the folders hold and the folders ignored.
    """
    sizes = split.sizes()
    present = [label for label in split.labels if any(sizes[part][label] for part in sizes)]
    wanted = present if labels is None else list(labels)
    for part in parts:
        missing = [label for label in wanted if not sizes[part][label]]
        if missing or not sizes[part]["total"]:
            what = " or ".join(missing) + " photo" if missing else "photo"
            counts = ", ".join(f"{label}: {sizes[part][label]}" for label in wanted) or "none"
            nowhere = [label for label in missing if label not in present]
            hint = f": add photos or give the {part} part a larger fraction"
            if nowhere:
                hint = _found(split, present, sizes)
            raise DataError(f"the {part} part has no {what} ({counts}){hint}")


def _found(split: Split, present: list[str], sizes: dict) -> str:
    """What the folders hold and which folders were ignored, to tell a class no folder holds."""
    held = (
        ", ".join(f"{label}: {sum(sizes[part][label] for part in sizes)}" for label in present) or "nothing"
    )
    return (
        f", and no data folder has any: they hold {held} (ignored folders: "
        f"{', '.join(ignored_folders(split)) or 'none'}; class folders are named {', '.join(split.labels)})"
    )


def _reports(split: Split) -> dict[str, dict]:
    """The scan report of each folder of ``split`` by the prefix of its paths (none for one folder)."""
    sources = split.report.get("sources")
    return {f"{name}/": report for name, report in sources.items()} if sources else {"": split.report}


def ignored_folders(split: Split) -> list[str]:
    """The folders beside the class folders that no photo was taken from, as split paths would start."""
    return [
        f"{prefix}{folder}"
        for prefix, report in _reports(split).items()
        for folder in report.get("ignored_folders", [])
    ]


def left_out(split: Split) -> list[str]:
    """Every folder ignored, file skipped and duplicate dropped, a line each: a data set is not cut down
    silently. Paths of a split of several folders start with the folder's name."""
    lines = []
    for prefix, report in _reports(split).items():
        lines += report_lines(report, prefix)
        duplicates = report.get("duplicates_removed")
        lines += [
            f"duplicate {prefix}{entry['path']} of {prefix}{entry['same_as']}"
            for entry in (duplicates if isinstance(duplicates, list) else [])
        ]
        lines += [
            f"duplicate {entry['path']} of {entry['same_as']}"
            for entry in report.get("duplicates_of_other_sources", [])
        ]
    return lines


def report_lines(report: dict, prefix: str = "") -> list[str]:
    """The folders a scan ``report`` ignored and the files it skipped, a line each, paths after ``prefix``."""
    lines = [f"ignored folder {prefix}{folder}" for folder in report.get("ignored_folders", [])]
    return lines + [
        f"skipped {prefix}{entry['path']}: {entry['reason']}" for entry in report.get("skipped", [])
    ]


def other_photos(saved: Split, made: Split) -> str | None:
    """How the split ``made`` from the photos now differs from the ``saved`` one, if it does: ``prepare``
    does not replace, and ``train`` and ``release`` do not reuse, a split the photos no longer give."""
    if _paths_by_part(saved) == _paths_by_part(made):
        return None
    had = {sample.path for samples in saved.parts.values() for sample in samples}
    has = {sample.path for samples in made.parts.values() for sample in samples}
    new, gone = len(has - had), len(had - has)
    differences = [f"{new} there {'is' if new == 1 else 'are'} not in it"] if new else []
    differences += [f"{gone} of its photos {'is' if gone == 1 else 'are'} not there"] if gone else []
    return ", ".join(differences) or "the same photos, split otherwise"


def _paths_by_part(split: Split) -> dict[str, list[str]]:
    return {part: [sample.path for sample in samples] for part, samples in split.parts.items()}


def cut_members(members: list, fractions, rng: np.random.Generator) -> dict[str, list]:
    """One class's members shuffled by ``rng`` and cut at ``fractions`` into train, val and test; a test
    fraction of 0 leaves test empty (rounding each fraction alone could leave it a photo: 0.7 / 0.3 of 15
    is 10 and 4)."""
    order = rng.permutation(len(members))
    n_train = round(len(members) * fractions[0])
    n_val = len(members) - n_train if fractions[2] == 0 else round(len(members) * fractions[1])
    cuts = {
        "train": order[:n_train],
        "val": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
    return {name: [members[i] for i in positions] for name, positions in cuts.items()}


def add_files(digest, root: str | os.PathLike, paths) -> None:
    """Add each file's path (relative to ``root``), byte size and modification time to ``digest``: a cache
    keyed by it is made again when a photo is replaced in place, not served stale."""
    for relative in paths:
        stat = (Path(root) / relative).stat()
        digest.update(f"{relative}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())


def load_pixels(
    root: str | os.PathLike,
    paths: list[str],
    size: int,
    cache_dir: str | os.PathLike | None = None,
    workers: int = 2,
) -> np.ndarray:
    """Decode and resize ``paths`` (relative to ``root``) into ``(n, size, size, 3)`` uint8.

    The cache key covers the size, the decoder (``catdog.images.decoder_key``) and every file's path, byte
    size and modification time, so a changed or re-split data set, or changed decoding, is decoded again
    rather than served stale.
    """
    root = Path(root)
    cache = None
    if cache_dir is not None:
        key = hashlib.sha256(f"{size}\n{decoder_key()}\n".encode())
        add_files(key, root, paths)
        cache = Path(cache_dir) / f"pixels-{size}px-{len(paths)}-{key.hexdigest()[:20]}.npy"
        if cache.is_file():
            return np.load(cache)

    def decode(relative: str) -> np.ndarray:
        try:
            return model_input(root / relative, size)
        except InvalidImage as exc:  # a photo spoilt since the split was made: which one, of 25,000
            raise DataError(f"{root / relative}: {exc} (it was readable when the split was made)") from exc

    pixels = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=workers) as pool:  # Pillow releases the GIL while decoding
        for index, array in enumerate(pool.map(decode, paths)):
            pixels[index] = array
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".partial.npy")
        np.save(partial, pixels)
        partial.replace(cache)  # never leave a half-written cache behind a crash
    return pixels


def load_arrays(
    split: Split, size: int, cache_dir: str | os.PathLike | None = None, parts: tuple[str, ...] = SPLITS
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Pixels and integer labels of each part of ``split``."""
    arrays = {}
    for name in parts:
        samples = split.parts[name]
        pixels = load_pixels(split.root, [s.path for s in samples], size, cache_dir)
        arrays[name] = (pixels, np.array([s.label for s in samples], dtype=np.int64))
    return arrays


def photos_in(folder) -> list[Path]:
    """The photos (.jpg, .png) directly in ``folder``: the not-pet photos a "neither" check is measured on."""
    if not Path(folder).is_dir():
        raise ValueError(f"no folder {folder}")
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        raise ValueError(f"no photos (.jpg, .png) in {folder}")
    return paths
