"""A grid of training runs on one fixed split and seed, measured the same way, into one table.

The grid file (JSON or TOML) has ``defaults`` (settings of every run), and ``grid`` (each key a list:
every combination is a run) and/or ``runs`` (a list of explicit runs), each merged over the defaults:

    architecture   "cnn" (from scratch, ``training.train``) or "efficientnet_lite0" (``training.transfer``)
    size           input size in pixels
    mode           "frozen" or "fine-tuned" (transfer only: fine-tunes blocks ``cut``..15)
    augment        augmentation strength (cnn; transfer runs use their cached mirror images)
    dropout, lr, epochs, fine_epochs, cut, batch_size
    train_subset, val_subset   use only the first N photos of those parts (the split's seeded order)

Every run is evaluated on the WHOLE test split through its exported full-int8 TFLite model (accuracy,
macro F1), besides the Keras validation/test accuracy; the table also has the file size, the LiteRT
latency per image on one thread and the training time. On 2 shared CPU cores, transfer runs train on
cached activations and from-scratch runs on subsets: the table says which.
"""

from __future__ import annotations

import csv
import itertools
import json
import shlex
import sys
import time
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np

from catdog import Classifier
from training.data import Split, load_arrays, load_pixels
from training.evaluate import classification_metrics, predict_keras

DEFAULTS = {
    "architecture": "efficientnet_lite0",
    "size": 224,
    "mode": "frozen",
    "augment": 1.0,
    "dropout": 0.2,
    "lr": 1e-3,
    "epochs": 10,
    "fine_epochs": 2,
    "cut": 11,
    "batch_size": 64,
    "train_subset": None,
    "val_subset": None,
}
#: The settings a run must take from a list: the from-scratch CNN or the Lite0 of ``training.transfer``.
CHOICES = {"architecture": ("cnn", "efficientnet_lite0"), "mode": ("frozen", "fine-tuned")}
COLUMNS = [
    "run",
    "architecture",
    "size",
    "mode",
    "augment",
    "dropout",
    "lr",
    "epochs",
    "train_photos",
    "val_accuracy",
    "test_accuracy",
    "int8_test_accuracy",
    "int8_test_macro_f1",
    "model_mb",
    "latency_ms",
    "latency_vs_run_1",
    "train_seconds",
]
LATENCY_PHOTOS = 30


def load_grid(path: Path) -> list[dict]:
    """The runs of a grid file; an unknown setting is an error, not silently ignored."""
    text = Path(path).read_text()
    try:
        document = tomllib.loads(text) if Path(path).suffix == ".toml" else json.loads(text)
    except ValueError as exc:  # tomllib's and json's errors say where, not which file
        raise ValueError(f"{path}: {exc}") from exc
    if not isinstance(document, dict):
        raise ValueError(f"{path}: a grid file is a table with 'defaults', 'runs' and/or 'grid'")
    defaults, runs, grid = document.get("defaults", {}), document.get("runs", []), document.get("grid", {})
    if not (
        isinstance(defaults, dict)
        and isinstance(runs, list)
        and all(isinstance(run, dict) for run in runs)
        and isinstance(grid, dict)
        and all(isinstance(values, list) for values in grid.values())
    ):
        raise ValueError(f"{path}: 'defaults' is a table, 'runs' a list of tables, 'grid' a table of lists")
    defaults = DEFAULTS | defaults
    runs = [dict(run) for run in runs]
    if grid:
        keys = list(grid)
        runs += [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]
    if not runs:
        raise ValueError(f"{path}: no runs (give a 'grid' of lists or a list of 'runs')")
    unknown = {key for run in [document.get("defaults", {}), *runs] for key in run} - set(DEFAULTS)
    if unknown:
        raise ValueError(f"{path}: unknown settings {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    runs = [defaults | run for run in runs]
    for key, allowed in CHOICES.items():
        wrong = sorted({str(run[key]) for run in runs} - set(allowed))
        if wrong:
            raise ValueError(f"{path}: {key} is one of {', '.join(allowed)}, got {', '.join(wrong)}")
    for number, run in enumerate(runs, start=1):  # found now, not after the runs before it have trained
        _check_run(path, number, run)
    return runs


def _check_run(path: Path, number: int, run: dict) -> None:
    """A size the CNN cannot take or a cut past Lite0's blocks, as the one line ``train`` and
    ``transfer`` give, naming the run."""
    from training.backbones.specs import SPECS

    try:
        if run["architecture"] == "cnn":
            from training import models

            models.build("cnn", run["size"], 2, dropout=run["dropout"])
        else:
            SPECS["efficientnet_lite0"].check_cut(run["cut"])
    except ValueError as exc:
        raise ValueError(f"{path}: run {number}: {exc}") from None


def subset(split: Split, run: dict) -> Split:
    """The first N photos of train/val (the split interleaves classes in a seeded order); test stays whole."""
    parts = dict(split.parts)
    for part in ("train", "val"):
        if run[f"{part}_subset"]:
            parts[part] = parts[part][: run[f"{part}_subset"]]
    return replace(split, parts=parts)


def run_grid(args) -> list[dict]:
    runs = load_grid(args.grid)
    split = Split.load(args.split, root=args.data)
    out, run_root = Path(args.out), Path(args.runs)
    rows, folders = [], []
    for number, run in enumerate(runs, start=1):
        print(f"[{number}/{len(runs)}] {json.dumps(run)}", flush=True)
        folders.append(run_root / f"run-{number:02d}" / "int8")
        rows.append({"run": number, **run_one(run, subset(split, run), folders[-1].parent, Path(args.cache))})
        write_table(rows, out, command=_command(), grid=args.grid)  # a stopped grid keeps its rows
    # Latency last, all models in interleaved rounds: on a shared machine, runs measured minutes
    # apart are not comparable; the ratio to run 1 is.
    photos = [sample.path for sample in split.parts["test"][:LATENCY_PHOTOS]]
    latencies = interleaved_latency(folders, split.root, photos)
    for row, ms in zip(rows, latencies, strict=True):
        row["latency_ms"], row["latency_vs_run_1"] = round(ms, 2), round(ms / latencies[0], 2)
    write_table(rows, out, command=_command(), grid=args.grid)
    return rows


def interleaved_latency(folders: list[Path], root: Path, photos: list[str], rounds: int = 3) -> list[float]:
    """Per model: the best over ``rounds`` of its median LiteRT time per photo (one thread)."""
    classifiers = [Classifier(folder, num_threads=1) for folder in folders]
    pixels = [load_pixels(root, photos, classifier.input_size) for classifier in classifiers]
    best = [float("inf")] * len(classifiers)
    for _ in range(rounds):
        for index, (classifier, batch) in enumerate(zip(classifiers, pixels, strict=True)):
            best[index] = min(best[index], latency_ms(classifier, batch))
    return best


def run_one(run: dict, split: Split, folder: Path, cache: Path) -> dict:
    from training.export import export_model, representative_sample

    started = time.perf_counter()
    if run["architecture"] == "cnn":
        model, val_accuracy, test_accuracy = _train_cnn(run, split, folder, cache)
    else:
        model, val_accuracy, test_accuracy = _train_transfer(run, split, cache)
    seconds = time.perf_counter() - started
    size = model.input_shape[1]
    arrays = load_arrays(split, size, cache, parts=("train", "test"))
    export_model(model, folder / "int8", representative=representative_sample(arrays["train"][0], 200))
    classifier = Classifier(folder / "int8", num_threads=1)
    pixels, truth = arrays["test"]
    int8 = classification_metrics(truth, classifier.predict(pixels).argmax(axis=1), split.labels)
    return {
        **{key: run[key] for key in ("architecture", "size", "mode", "augment", "dropout", "lr", "epochs")},
        "mode": run["mode"] if run["architecture"] != "cnn" else "from scratch",
        "augment": run["augment"] if run["architecture"] == "cnn" else "mirror (cached)",
        "train_photos": len(split.parts["train"]),
        "val_accuracy": round(val_accuracy, 4),
        "test_accuracy": round(test_accuracy, 4),
        "int8_test_accuracy": round(int8["accuracy"], 4),
        "int8_test_macro_f1": round(int8["macro"]["f1"], 4),
        "model_mb": round((folder / "int8" / "model.tflite").stat().st_size / 1e6, 2),
        "latency_ms": round(latency_ms(classifier, pixels[:LATENCY_PHOTOS]), 2),  # until run_grid's
        "latency_vs_run_1": "",
        "train_seconds": round(seconds),
    }


def latency_ms(classifier: Classifier, pixels: np.ndarray) -> float:
    """Median LiteRT time of one image (one thread), after a warm-up."""
    for image in pixels[:3]:
        classifier.outputs(image)
    times = []
    for image in pixels:
        started = time.perf_counter()
        classifier.outputs(image)
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000)


def _train_cnn(run: dict, split: Split, folder: Path, cache: Path):
    from training import models
    from training.config import TrainConfig
    from training.train import fit

    config = TrainConfig(
        model="cnn",
        input_size=run["size"],
        options={"dropout": run["dropout"]},
        epochs=run["epochs"],
        batch_size=run["batch_size"],
        learning_rate=run["lr"],
        augment=run["augment"],
        seed=split.seed,
    )
    model = models.build("cnn", run["size"], len(split.labels), dropout=run["dropout"])
    arrays = load_arrays(split, run["size"], cache)
    model = fit(model, arrays["train"], arrays["val"], folder, config)
    accuracy = {
        part: float(np.mean(predict_keras(model, arrays[part][0]).argmax(axis=1) == arrays[part][1]))
        for part in ("val", "test")
    }
    return model, accuracy["val"], accuracy["test"]


def _train_transfer(run: dict, split: Split, cache: Path):
    from training.config import TransferConfig
    from training.transfer import train_transfer

    fine = run["mode"] == "fine-tuned"
    config = TransferConfig(
        input_size=run["size"],
        cut=run["cut"],
        batch_size=run["batch_size"],
        head_epochs=run["epochs"],
        head_lr=run["lr"],
        fine_epochs=run["fine_epochs"] if fine else 0,
        dropout=run["dropout"],
        seed=split.seed,
        cache_dir=str(cache),
    )
    result = train_transfer(split, config)
    phase = "fine_tuned" if fine else "frozen"
    return result.model, result.metrics[f"{phase}_val_accuracy"], result.metrics[f"{phase}_test_accuracy"]


def _command() -> str:
    return "python -m training " + shlex.join(sys.argv[1:]) if sys.argv[0].endswith("__main__.py") else ""


def write_table(rows: list[dict], out: Path, *, command: str, grid: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "experiments.csv", "w", newline="") as stream:
        table = csv.DictWriter(stream, COLUMNS)
        table.writeheader()
        table.writerows(rows)
    lines = [
        "# Experiments",
        "",
        "Made by `training/experiment.py` from the grid "
        f"[`{grid.as_posix()}`]({Path('..', grid).as_posix()}), on one split and seed, with:",
        "",
        f"    nice -n 10 {command}" if command else "",
        "",
        "Val/test accuracy: the Keras model (transfer runs: on cached activations). int8: the exported "
        "full-int8 TFLite model on the whole test split. Latency: LiteRT, one thread, median per image over "
        f"{LATENCY_PHOTOS} test photos, all models measured at the end in interleaved rounds (best round "
        "kept), so the ratio to run 1 holds on a busy machine. "
        "Transfer runs train on cached activations (`train_photos` = photos, each with its mirror image); "
        "from-scratch CNN runs train on the subset of `train_photos` photos and few epochs to fit the "
        "2-core budget, so they are NOT comparable to the released CNN's full run.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "| " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    lines += ["| " + " | ".join(str(row[column]) for column in COLUMNS) + " |" for row in rows]
    (out / "experiments.md").write_text("\n".join(lines) + "\n")
