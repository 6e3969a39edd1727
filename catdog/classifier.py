"""LiteRT inference for a released model folder (``model.tflite`` + ``model.json``).

The interpreter is expensive to create and cheap to call: make one ``Classifier`` per process (or per
thread: an interpreter is not thread-safe) and reuse it for every image.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from catdog.images import DEFAULT_MAX_PIXELS, ImageSource, load_image, preprocess

try:  # ai-edge-litert is the maintained successor of tflite-runtime, with the same API.
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # pragma: no cover - only for users who have nothing but tflite-runtime
    from tflite_runtime.interpreter import Interpreter

MODEL_FILE = "model.tflite"
CARD_FILE = "model.json"


class ModelError(RuntimeError):
    """The model folder is missing, incomplete or does not match its model card."""


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    probabilities: dict[str, float]

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "confidence": self.confidence,
            "probabilities": self.probabilities,
        }


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Classifier:
    """A cat/dog classifier over one TFLite model, full-int8 or float.

    ``model`` is a folder holding ``model.tflite`` and ``model.json``, or the ``.tflite`` path itself
    (its card is then read from beside it). Quantization parameters come from the interpreter's own
    tensor details, so int8, uint8 and float models are all served the same way.
    """

    def __init__(self, model: str | os.PathLike, *, num_threads: int | None = 1):
        path = Path(model)
        self.model_path = path / MODEL_FILE if path.is_dir() else path
        if not self.model_path.is_file():
            raise ModelError(f"no model at {self.model_path}")
        card_path = self.model_path.with_name(CARD_FILE)
        if not card_path.is_file():
            raise ModelError(f"no model card {card_path} beside {self.model_path}")
        self.card = json.loads(card_path.read_text())
        self.labels: list[str] = list(self.card["labels"])

        self._interpreter = Interpreter(model_path=str(self.model_path), num_threads=num_threads)
        self._interpreter.allocate_tensors()
        (self._input,) = self._interpreter.get_input_details()
        (self._output,) = self._interpreter.get_output_details()
        _, height, width, channels = self._input["shape"]
        if height != width or channels != 3:
            raise ModelError(f"expected a square RGB input, the model takes {self._input['shape']}")
        self.input_size = int(height)
        if self._output["shape"][-1] != len(self.labels):
            raise ModelError(
                f"the model has {self._output['shape'][-1]} outputs, its card lists {self.labels}"
            )

    @cached_property
    def info(self) -> dict:
        """What a result records about the model that produced it."""
        return {
            "name": self.card.get("name", self.model_path.parent.name),
            "version": self.card.get("version", "unversioned"),
            "sha256": self.card.get("sha256") or sha256_file(self.model_path),
        }

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, labels)`` for a uint8 batch ``(n, size, size, 3)`` of raw RGB pixels."""
        results = [self._invoke(image[np.newaxis]) for image in pixels]
        return np.stack(results)

    def _invoke(self, batch: np.ndarray) -> np.ndarray:
        self._interpreter.set_tensor(self._input["index"], _quantize(batch, self._input))
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._output["index"])[0]
        probabilities = _dequantize(raw, self._output)
        total = probabilities.sum()
        return probabilities / total if total > 0 else probabilities

    def classify(self, source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Prediction:
        """Decode, preprocess and classify one photo (bytes, path or PIL image)."""
        image = load_image(source, max_pixels=max_pixels)
        return self.classify_pixels(preprocess(image, self.input_size)[0])

    def classify_pixels(self, pixels: np.ndarray) -> Prediction:
        """Classify one already preprocessed uint8 image ``(size, size, 3)``."""
        probabilities = self._invoke(pixels[np.newaxis])
        best = int(np.argmax(probabilities))
        return Prediction(
            label=self.labels[best],
            confidence=round(float(probabilities[best]), 6),
            probabilities={
                label: round(float(p), 6) for label, p in zip(self.labels, probabilities, strict=True)
            },
        )


def _quantize(batch: np.ndarray, details: dict) -> np.ndarray:
    dtype = details["dtype"]
    if np.issubdtype(dtype, np.floating):
        return batch.astype(dtype)
    scale, zero_point = details["quantization"]
    if scale == 0:  # an unquantized integer input takes the pixels as they are
        return batch.astype(dtype)
    info = np.iinfo(dtype)
    quantized = np.round(batch.astype(np.float32) / scale + zero_point)
    return np.clip(quantized, info.min, info.max).astype(dtype)


def _dequantize(values: np.ndarray, details: dict) -> np.ndarray:
    if np.issubdtype(details["dtype"], np.floating):
        return values.astype(np.float64)
    scale, zero_point = details["quantization"]
    return (values.astype(np.float64) - zero_point) * scale
