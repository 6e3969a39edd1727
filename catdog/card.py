"""The model card (``model.json``): the contract between ``training/``, which writes it, and the
``Classifier``, which serves the model it describes.

Training writes a card as a JSON document with many facts for people (data, recipe, metrics); serving
relies on a few of them, and those are typed here so that a card missing one fails at load, in words,
instead of as a ``KeyError`` deep in a handler.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

MODEL_FILE = "model.tflite"
CARD_FILE = "model.json"
NEITHER = "neither"

#: A second output (size 1): the cosine similarity of the photo's features to the nearest prototype of
#: the training photos (release 1.3.0). Below the threshold the answer is "neither".
PROTOTYPE_SIMILARITY = "nearest-prototype-similarity"
#: "neither" is one of the model's labels; at or above the threshold on its probability it is the answer.
CLASS_PROBABILITY = "class-probability"
NEITHER_METHODS = (PROTOTYPE_SIMILARITY, CLASS_PROBABILITY)


class ModelError(RuntimeError):
    """The model folder is missing, incomplete or does not match its model card."""


@dataclass(frozen=True)
class NeitherCheck:
    """How a model says "neither": which signal, and the threshold chosen on validation photos."""

    method: str
    threshold: float
    #: the size of the similarity output (prototype method only)
    output_size: int = 1

    @classmethod
    def from_dict(cls, section: object) -> NeitherCheck:
        if not isinstance(section, dict) or section.get("method") not in NEITHER_METHODS:
            raise ModelError(
                f"the card's 'neither' section names no known method {NEITHER_METHODS}: {section}"
            )
        try:
            threshold = float(section["threshold"])
            output_size = int(section.get("output_size", 1))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"the card's 'neither' section needs a numeric threshold: {section}") from exc
        # a probability threshold above what stored_threshold can give, or at or below 0, answers
        # "neither" for no photo or for every photo; NaN for none
        if not math.isfinite(threshold) or (
            section["method"] == CLASS_PROBABILITY and not 0 < threshold <= 1 + 1e-6
        ):
            raise ModelError(f"the card's 'neither' threshold must be a probability above 0: {section}")
        return cls(section["method"], threshold, output_size)

    def stored_threshold(self) -> float:
        """The threshold to six decimals, rounded away from the photos it was chosen to keep out: never
        a photo more answered "neither" than when it was chosen (``p >= T`` for the class probability,
        ``similarity < T`` for prototypes). Rounded to nearest, a T just above a val pet's p(neither)
        of 1.0 became 1.0, and that pet was answered "neither" beyond the release's budget."""
        stored = round(self.threshold, 6)
        if self.method == CLASS_PROBABILITY and stored < self.threshold:
            return round(stored + 1e-6, 6)
        if self.method == PROTOTYPE_SIMILARITY and stored > self.threshold:
            return round(stored - 1e-6, 6)
        return stored

    def to_dict(self) -> dict:
        """The fields serving reads; training adds its measurements beside them."""
        section = {"method": self.method, "threshold": self.stored_threshold()}
        if self.method == PROTOTYPE_SIMILARITY:
            section["output_size"] = self.output_size
        return section


@dataclass(frozen=True)
class ModelCard:
    """What serving reads of a model's ``model.json``: the model's name, version and the sha256 that every
    label records, its labels in output order, its input side and its "neither" rule. The card and the
    ``model.tflite`` travel together; ``verify`` refuses a model file the card does not describe."""

    name: str
    version: str
    sha256: str
    labels: tuple[str, ...]
    input_size: int
    neither: NeitherCheck | None = None
    #: the whole document as written, for the facts serving does not read
    document: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, document: object, *, source: str = "the model card") -> ModelCard:
        """The card in ``document`` (parsed JSON); ``ModelError`` naming ``source`` and the field that is
        missing or wrong."""
        if not isinstance(document, dict):
            raise ModelError(f"{source} is not a JSON object")
        try:
            labels = tuple(str(label) for label in document["labels"])
            card = cls(
                name=str(document["name"]),
                version=str(document["version"]),
                sha256=str(document["sha256"]),
                labels=labels,
                input_size=int(document["input"]["size"]),
                neither=NeitherCheck.from_dict(document[NEITHER]) if NEITHER in document else None,
                document=document,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{source} lacks a field serving needs ({exc!r})") from exc
        card._check_labels()
        return card

    @classmethod
    def load(cls, path: str | os.PathLike) -> ModelCard:
        """The card in the ``model.json`` at ``path``; ``ModelError`` if it cannot be read or is no card."""
        path = Path(path)
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read the model card {path}: {exc}") from exc
        return cls.from_dict(document, source=str(path))

    def verify(self, model_path: str | os.PathLike) -> None:
        """Raise ``ModelError`` unless ``model_path`` holds the very bytes this card describes: every
        label claims the card's sha256, so a swapped or damaged ``model.tflite`` must not be served."""
        found = sha256_file(model_path)
        if found != self.sha256:
            raise ModelError(
                f"{model_path} is not the model its card describes: its sha256 is {found}, the card "
                f"({self.name} {self.version}) says {self.sha256}; ship the two files together"
            )

    def _check_labels(self) -> None:
        if len(set(self.labels)) != len(self.labels):  # one probability would overwrite another's
            raise ModelError(f"the card's labels must differ from each other: {list(self.labels)}")
        has_neither_label = NEITHER in self.labels
        if has_neither_label != (self.neither is not None and self.neither.method == CLASS_PROBABILITY):
            raise ModelError(
                f'a "{NEITHER}" label needs a "{CLASS_PROBABILITY}" neither section, and only it: '
                f"labels {list(self.labels)}, neither {self.neither}"
            )

    @property
    def pets(self) -> tuple[str, ...]:
        """The labels that name an animal (all but "neither")."""
        return tuple(label for label in self.labels if label != NEITHER)

    @property
    def answers(self) -> list[str]:
        """Every label a prediction can carry, "neither" last when the model has the check."""
        return list(self.pets) + ([NEITHER] if self.neither else [])

    @property
    def has_pet_score(self) -> bool:
        """Whether predictions carry the prototype similarity as ``pet_score``."""
        return self.neither is not None and self.neither.method == PROTOTYPE_SIMILARITY

    @property
    def info(self) -> dict:
        """What a label records about the model that produced it."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


def model_file(model: str | os.PathLike) -> Path:
    """The ``.tflite`` file that ``model`` names: a model folder's ``model.tflite``, or the file itself."""
    path = Path(model)
    return path / MODEL_FILE if path.is_dir() else path


def card_path(model: str | os.PathLike) -> Path:
    """The card of the model that ``model`` names, a model folder or its ``.tflite`` file: the
    ``model.json`` beside the model file (``MODEL_PATH`` may name either, as ``Classifier`` takes either)."""
    return model_file(model).with_name(CARD_FILE)


def missing_model(model: str | os.PathLike) -> str | None:
    """Why ``model``, a model folder or its ``.tflite`` file, cannot be loaded, in one line; None if it can
    (every command that takes a model says the same)."""
    path = Path(model)
    if path.is_dir() and not (path / MODEL_FILE).is_file():
        return f"no {MODEL_FILE} + {CARD_FILE} in {path}"
    if path.name == CARD_FILE:
        return f"{path} is the model card: name its folder, or the {MODEL_FILE} beside it"
    if not model_file(path).is_file():
        return f"no model at {path}"
    if not card_path(path).is_file():
        return f"no model card {card_path(path)} beside {model_file(path)}"
    return None


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
