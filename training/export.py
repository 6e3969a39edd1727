"""Keras model -> TFLite file + model card, the form in which every model leaves training.

Public API:
    export_model(model, folder, *, representative=None, card=None, labels=LABELS) -> Path
        writes ``folder/model.tflite`` and ``folder/model.json``. With ``representative`` (uint8 photos
        ``(n, size, size, 3)`` from the training split) the model is full-integer int8 with uint8 input
        and output; without, it stays float32. The card gets the file's sha256 and the input/output
        dtype and quantization read back from the converted model.
    representative_sample(pixels, count=300, seed=0) -> uint8 array
    release(model, folder, *, split, arrays, name, version, training=None, float_dir, backbone=None) -> dict
        int8 into ``folder``, float into ``float_dir``, both evaluated against Keras on the test split
        (``folder/evaluation/``), test metrics and data set written into both cards.
    update_card(folder, **fields) -> dict
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import tensorflow as tf

from catdog.card import CARD_FILE, MODEL_FILE, ModelCard, sha256_file
from catdog.classifier import Interpreter
from training import modelcard
from training.data import LABELS, Split
from training.evaluate import evaluate_models, predict_keras, predict_tflite
from training.models import MODELS


def convert(model, representative: np.ndarray | None = None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if representative is not None:

        def calibration() -> Iterator[list[np.ndarray]]:
            for image in representative:  # raw 0..255 pixels, as catdog.preprocess returns them
                yield [image[np.newaxis].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints every captured tensor of the export
        return converter.convert()


def export_model(
    model,
    folder: str | os.PathLike,
    *,
    representative: np.ndarray | None = None,
    card: dict | None = None,
    labels=LABELS,
) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_FILE
    path.write_bytes(convert(model, representative))
    interpreter = Interpreter(model_path=str(path))
    (tensor_in,) = interpreter.get_input_details()
    # A model with a prototype "neither" check has a second output (its similarity); the card describes
    # the probabilities.
    (tensor_out,) = [o for o in interpreter.get_output_details() if o["shape"][-1] == len(labels)]
    card = card or {}
    document = {
        "name": card.get("name", model.name),
        "version": card.get("version", "0.0.0"),
        "sha256": sha256_file(path),
        "format": "tflite",
        "quantization": "full-int8 (uint8 input and output)"
        if representative is not None
        else "none (float32)",
        "input": {
            "size": int(tensor_in["shape"][1]),
            "shape": [int(n) for n in tensor_in["shape"]],
            "dtype": np.dtype(tensor_in["dtype"]).name,
            "scale": float(tensor_in["quantization"][0]),
            "zero_point": int(tensor_in["quantization"][1]),
            "pixels": "RGB 0..255 from catdog.preprocess (normalization is inside the model)",
        },
        "output": {
            "dtype": np.dtype(tensor_out["dtype"]).name,
            "scale": float(tensor_out["quantization"][0]),
            "zero_point": int(tensor_out["quantization"][1]),
            "meaning": "softmax probabilities in the order of labels",
        },
        "labels": list(labels),
        "calibration_images": len(representative) if representative is not None else 0,
        **{key: value for key, value in card.items() if key not in ("name", "version")},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _write_card(folder, document)
    return folder


def update_card(folder: str | os.PathLike, **fields) -> dict:
    path = Path(folder) / CARD_FILE
    document = json.loads(path.read_text()) | fields
    _write_card(Path(folder), document)
    return document


def _write_card(folder: Path, document: dict) -> None:
    """Write ``model.json``, refusing a card that serving could not read (``catdog.card.ModelCard``), and
    the page rendered from it (``training.modelcard``)."""
    ModelCard.from_dict(document, source=f"the card for {folder}")
    (folder / CARD_FILE).write_text(json.dumps(document, indent=1) + "\n")
    modelcard.write(folder)


def representative_sample(pixels: np.ndarray, count: int = 300, seed: int = 0) -> np.ndarray:
    """A seeded random subset: calibration ranges should cover the data, not its first rows."""
    chosen = np.random.default_rng(seed).choice(len(pixels), size=min(count, len(pixels)), replace=False)
    return pixels[np.sort(chosen)]


def release(
    model,
    folder: str | os.PathLike,
    *,
    split: Split,
    arrays: dict[str, tuple[np.ndarray, np.ndarray]],
    name: str,
    version: str,
    float_dir: str | os.PathLike,
    training: dict | None = None,
    backbone: str | None = None,
) -> dict:
    """Export, evaluate and document a trained model; returns the evaluation report."""
    folder, float_dir = Path(folder), Path(float_dir)
    if backbone is None:
        backbone = MODELS[model.name].backbone if model.name in MODELS else model.name
    card = {
        "name": name,
        "version": version,
        "backbone": backbone,
        "dataset": {
            "root": split.root.name,
            "layout": split.report.get("layout"),
            "usable_photos": split.report.get("counts"),
            "skipped_files": len(split.report.get("skipped", [])),
            "ignored_folders": split.report.get("ignored_folders", []),
            "duplicates_removed": len(split.report.get("duplicates_removed", [])),
            "split_seed": split.seed,
            "split_fractions": list(split.fractions),
            "split_sizes": split.sizes(),
        },
        "training": training or {},
    }
    if split.report.get("sources"):  # several folders (training.sources): each with its counts and split
        from training.sources import dataset_card

        card["dataset"] = dataset_card(split) | {"split_seed": split.seed}
    train_pixels = arrays["train"][0]
    export_model(
        model, folder, representative=representative_sample(train_pixels), card=card, labels=split.labels
    )
    export_model(model, float_dir, card=card | {"name": f"{name}-float"}, labels=split.labels)
    pixels, y_true = arrays["test"]
    probabilities = {
        "keras": predict_keras(model, pixels),
        "tflite-float": predict_tflite(float_dir, pixels),
        "tflite-int8": predict_tflite(folder, pixels),
    }
    report = evaluate_models(probabilities, y_true, split.labels, folder / "evaluation")
    metrics = {
        "split": "test",
        "count": len(y_true),
        **{kind: _headline(report["models"][f"tflite-{kind}"]) for kind in ("float", "int8")},
        "keras": _headline(report["models"]["keras"]),
        "int8_vs_float_accuracy_points": round(
            100
            * (report["models"]["tflite-int8"]["accuracy"] - report["models"]["tflite-float"]["accuracy"]),
            4,
        ),
    }
    for target in (folder, float_dir):
        update_card(target, metrics=metrics)
    return report


def _headline(metrics: dict) -> dict:
    return {
        "accuracy": metrics["accuracy"],
        "macro": metrics["macro"],
        "per_class": metrics["per_class"],
        **({"versus_keras": metrics["versus_reference"]} if "versus_reference" in metrics else {}),
    }
