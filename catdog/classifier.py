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
NEITHER = "neither"
#: the one "neither" method the Classifier knows (see training/neither.py and docs/neither.md)
NEITHER_METHOD = "nearest-prototype-similarity"


class ModelError(RuntimeError):
    """The model folder is missing, incomplete or does not match its model card."""


@dataclass(frozen=True)
class Prediction:
    """``probabilities`` are always over the model's labels (cat, dog). A model with a "neither" check
    also gives ``pet_score``, how close the photo is to the cats and dogs it was trained on (0..1, the
    cosine similarity of its features to the nearest training prototype); below the card's threshold
    the label is "neither" and ``confidence`` is ``1 - pet_score``."""

    label: str
    confidence: float
    probabilities: dict[str, float]
    pet_score: float | None = None

    def as_dict(self) -> dict:
        result = {
            "label": self.label,
            "confidence": self.confidence,
            "probabilities": self.probabilities,
        }
        if self.pet_score is not None:
            result["pet_score"] = self.pet_score
        return result


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
        _, height, width, channels = self._input["shape"]
        if height != width or channels != 3:
            raise ModelError(f"expected a square RGB input, the model takes {self._input['shape']}")
        self.input_size = int(height)
        self._output, self._neither_output, self.neither = self._outputs()
        #: every answer the classifier can give: the model's labels, then "neither" if it has the check
        self.answers: list[str] = self.labels + ([NEITHER] if self.neither else [])

    def _outputs(self) -> tuple[dict, dict | None, dict | None]:
        """The probabilities output and, when the card has a ``neither`` section, the similarity output
        that it thresholds (told apart by their sizes; the converter does not keep their order)."""
        outputs = {int(o["shape"][-1]): o for o in self._interpreter.get_output_details()}
        if len(self.labels) not in outputs:
            sizes = sorted(outputs)
            raise ModelError(f"the model has outputs of sizes {sizes}, its card lists {self.labels}")
        neither = self.card.get(NEITHER)
        if neither is None:  # the check is off (a second output, if any, is not read)
            return outputs[len(self.labels)], None, None
        similarity = outputs.get(int(neither.get("output_size", 0)))
        if similarity is None or neither.get("method") != NEITHER_METHOD:
            raise ModelError(f"the card's 'neither' section does not match the model: {neither}")
        return outputs[len(self.labels)], similarity, {"threshold": float(neither["threshold"])}

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
        return self.batch_outputs(pixels)[0]

    def pet_scores(self, pixels: np.ndarray) -> np.ndarray:
        """The "neither" check's score ``(n,)`` of each photo (a model without the check: ValueError)."""
        if self.neither is None:
            raise ValueError(f"the model {self.model_path} has no 'neither' check")
        return self.batch_outputs(pixels)[1]

    def batch_outputs(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``outputs`` for a batch in one pass: probabilities ``(n, labels)`` and, with a "neither"
        check, the scores ``(n,)``."""
        probabilities, scores = zip(*(self.outputs(image) for image in pixels), strict=True)
        return np.stack(probabilities), None if self.neither is None else np.concatenate(scores)

    def outputs(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The raw answers for one uint8 image ``(size, size, 3)``: probabilities over the labels and,
        with a "neither" check, the similarity ``(1,)`` it thresholds."""
        self._interpreter.set_tensor(self._input["index"], _quantize(pixels[np.newaxis], self._input))
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._output["index"])[0]
        probabilities = _dequantize(raw, self._output)
        total = probabilities.sum()
        probabilities = probabilities / total if total > 0 else probabilities
        if self._neither_output is None:
            return probabilities, None
        return probabilities, _dequantize(
            self._interpreter.get_tensor(self._neither_output["index"])[0], self._neither_output
        )

    def classify(self, source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Prediction:
        """Decode, preprocess and classify one photo (bytes, path or PIL image)."""
        image = load_image(source, max_pixels=max_pixels)
        return self.classify_pixels(preprocess(image, self.input_size)[0])

    def classify_pixels(self, pixels: np.ndarray) -> Prediction:
        """Classify one already preprocessed uint8 image ``(size, size, 3)``."""
        probabilities, similarity = self.outputs(pixels)
        score = None if similarity is None else float(similarity[0])
        best = int(np.argmax(probabilities))
        label, confidence = self.labels[best], float(probabilities[best])
        if score is not None and score < self.neither["threshold"]:
            label, confidence = NEITHER, 1.0 - score
        return Prediction(
            label=label,
            confidence=round(confidence, 6),
            probabilities={
                name: round(float(p), 6) for name, p in zip(self.labels, probabilities, strict=True)
            },
            pet_score=None if score is None else round(score, 6),
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
