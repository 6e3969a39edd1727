"""LiteRT inference for a released model folder (``model.tflite`` + ``model.json``).

The interpreter is expensive to create and cheap to call: make one ``Classifier`` and reuse it for every
image. One may be shared by threads (its calls take turns: an interpreter is not thread-safe); for
images classified in parallel, make one per thread.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from dataclasses import dataclass

import numpy as np

from catdog.card import (
    CLASS_PROBABILITY,
    NEITHER,
    PROTOTYPE_SIMILARITY,
    ModelCard,
    ModelError,
    card_path,
    missing_model,
    model_file,
)
from catdog.images import ImageSource, model_input
from catdog.settings import DEFAULT_MAX_PIXELS

#: The spread (the largest standard deviation of a colour channel, on 0..255) of the model's input pixels
#: under which an image is one flat colour (a lens cap, a blank page, a 1-pixel image) and "neither" is
#: answered whatever the network says: never shown such an image, release 2.4.0 called black, white and
#: grey frames "cat" (0.64-0.73). The least spread of the 27,193 photos of the data sets is 15.1; the
#: blank cat/835.jpg is 0.03.
BLANK_SPREAD = 4.0


def is_blank(pixels: np.ndarray) -> bool:
    """One flat colour, so neither a cat nor a dog (``BLANK_SPREAD``). Each channel is made contiguous
    first: the same spread as ``std(axis=0)`` on the interleaved pixels, in 0.3 ms instead of 2.5 (of a
    photo's ~8 ms of inference)."""
    channels = np.ascontiguousarray(np.reshape(pixels, (-1, 3)).T)
    return float(channels.std(axis=1).max()) < BLANK_SPREAD


try:  # ai-edge-litert is the maintained successor of tflite-runtime, with the same API.
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # pragma: no cover - only for users who have nothing but tflite-runtime
    from tflite_runtime.interpreter import Interpreter


@dataclass(frozen=True)
class Prediction:
    """``probabilities`` are over the model's labels. ``confidence`` is the probability of the answer
    given, "neither" included, except for a prototype-similarity model (release 1.3.0): its
    ``pet_score`` is how close the photo is to the cats and dogs it was trained on (0..1), and below the
    card's threshold the answer is "neither" with ``confidence`` ``1 - pet_score``. An image of one flat
    colour (``is_blank``) is "neither" with ``confidence`` 1.0 for any model that can answer it; its
    ``probabilities`` (and ``pet_score``) stay the network's."""

    label: str
    confidence: float
    probabilities: dict[str, float]
    pet_score: float | None = None

    def as_dict(self) -> dict:
        """The answer as a label JSON holds it (``pet_score`` only for a model with the prototype check)."""
        result = {
            "label": self.label,
            "confidence": self.confidence,
            "probabilities": self.probabilities,
        }
        if self.pet_score is not None:
            result["pet_score"] = self.pet_score
        return result


class Classifier:
    """A classifier over one TFLite model, full-int8 or float.

    ``model`` is a folder holding ``model.tflite`` and ``model.json``, or the ``.tflite`` path itself
    (its card is then read from beside it). Quantization parameters come from the interpreter's own
    tensor details, so int8, uint8 and float models are all served the same way.

    ``num_threads`` is LiteRT's: 1 (the default, as a Lambda function's one vCPU), more for one image on
    several cores, or None for LiteRT's own choice; the answers are the same bit for bit. One
    ``Classifier`` may be shared by threads: each image's inference runs alone.
    """

    def __init__(self, model: str | os.PathLike, *, num_threads: int | None = 1):
        if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
            raise ValueError(f"num_threads must be a whole number from 1, or None, not {num_threads!r}")
        if problem := missing_model(model):
            raise ModelError(problem)
        self.model_path = model_file(model)
        self.card = ModelCard.load(card_path(model))
        self.card.verify(self.model_path)  # 3-6 ms for the released 5.3 MB model (docs/reliability.md)
        self.labels: list[str] = list(self.card.labels)
        #: every answer the classifier can give: the pets, then "neither" if the model has the check
        self.answers: list[str] = self.card.answers
        self.neither = self.card.neither
        self.info = self.card.info

        try:
            with _without_banner():
                self._interpreter = Interpreter(model_path=str(self.model_path), num_threads=num_threads)
                self._interpreter.allocate_tensors()
        except ValueError as exc:  # bytes that match their card but are no model LiteRT can run
            raise ModelError(f"{self.model_path} cannot be loaded: {exc}") from exc
        #: set_tensor, invoke and get_tensor of one image must not interleave with another thread's
        self._invoking = threading.Lock()
        (self._input,) = self._interpreter.get_input_details()
        _, height, width, channels = self._input["shape"]
        if height != width or channels != 3:
            raise ModelError(f"expected a square RGB input, the model takes {self._input['shape']}")
        self.input_size = int(height)
        if self.card.input_size != self.input_size:
            raise ModelError(
                f"the card says {self.card.input_size} px, the model takes {self.input_size} px: "
                "ship the two files together"
            )
        self._output, self._similarity_output = self._outputs()

    def _outputs(self) -> tuple[dict, dict | None]:
        """The probabilities output and, for a prototype-similarity check, the similarity output that it
        thresholds (told apart by their sizes; the converter does not keep their order)."""
        outputs = {int(o["shape"][-1]): o for o in self._interpreter.get_output_details()}
        if len(self.labels) not in outputs:
            sizes = sorted(outputs)
            raise ModelError(f"the model has outputs of sizes {sizes}, its card lists {self.labels}")
        if not self.card.has_pet_score:  # no check, or "neither" is a label: one output is read
            return outputs[len(self.labels)], None
        similarity = outputs.get(self.neither.output_size)
        if similarity is None:
            raise ModelError(f"the card's 'neither' section does not match the model: {self.neither}")
        return outputs[len(self.labels)], similarity

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, labels)`` for a uint8 batch ``(n, size, size, 3)`` of raw RGB pixels."""
        return self.batch_outputs(pixels)[0]

    def pet_scores(self, pixels: np.ndarray) -> np.ndarray:
        """The prototype similarity ``(n,)`` of each photo (other models: ValueError)."""
        if not self.card.has_pet_score:
            raise ValueError(f"the model {self.model_path} has no '{PROTOTYPE_SIMILARITY}' check")
        return self.batch_outputs(pixels)[1]

    def batch_outputs(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``outputs`` for a batch, one image after another: probabilities ``(n, labels)`` and, with a
        prototype check, the similarities ``(n,)``."""
        if getattr(pixels, "ndim", None) != 4:
            shape = getattr(pixels, "shape", type(pixels).__name__)
            size = self.input_size
            raise ValueError(
                f"expected a batch (n, {size}, {size}, 3), got {shape} (classify_pixels takes one image)"
            )
        if len(pixels) == 0:
            return np.empty((0, len(self.labels))), np.empty(0) if self.card.has_pet_score else None
        probabilities, scores = zip(*(self.outputs(image) for image in pixels), strict=True)
        return np.stack(probabilities), np.concatenate(scores) if self.card.has_pet_score else None

    def outputs(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The raw answers for one uint8 image ``(size, size, 3)``: probabilities over the labels and,
        with a prototype check, the similarity ``(1,)`` it thresholds."""
        self._check_pixels(pixels)
        with self._invoking:
            self._interpreter.set_tensor(self._input["index"], _quantize(pixels[np.newaxis], self._input))
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._output["index"])[0]
            similarity = (
                None
                if self._similarity_output is None
                else self._interpreter.get_tensor(self._similarity_output["index"])[0]
            )
        probabilities = _dequantize(raw, self._output)
        total = probabilities.sum()
        probabilities = probabilities / total if total > 0 else probabilities
        if similarity is None:
            return probabilities, None
        return probabilities, _dequantize(similarity, self._similarity_output)

    def _check_pixels(self, pixels: np.ndarray) -> None:
        """What ``catdog.model_input`` gives: one image of raw uint8 pixels. Pixels scaled to 0..1 (a
        common habit) were quantized to black and answered with confidence; a batch of one failed in
        LiteRT's words."""
        size = self.input_size
        if not isinstance(pixels, np.ndarray) or pixels.shape != (size, size, 3):
            shape = getattr(pixels, "shape", type(pixels).__name__)
            raise ValueError(
                f"expected one image of shape ({size}, {size}, 3), got {shape} "
                "(catdog.model_input makes one; catdog.preprocess makes a batch of one: take [0])"
            )
        if pixels.dtype != np.uint8:
            raise ValueError(
                f"expected uint8 pixels 0..255 (normalization is inside the model), got {pixels.dtype}"
            )

    def classify(self, source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Prediction:
        """Decode, preprocess and classify one photo: its bytes, a path, an open binary file or a PIL image
        (``load_image``). Raises ``InvalidImage`` (its ``code``: ``invalid_image``, ``empty``,
        ``not_found``, ``too_many_pixels`` above ``max_pixels``, ...) for what cannot be classified."""
        return self.classify_pixels(model_input(source, self.input_size, max_pixels=max_pixels))

    def classify_pixels(self, pixels: np.ndarray) -> Prediction:
        """Classify one already preprocessed uint8 image ``(size, size, 3)``. A model that can answer
        "neither" answers it with confidence 1.0 for a blank image (``is_blank``); its probabilities are
        still the network's."""
        probabilities, similarity = self.outputs(pixels)
        if NEITHER in self.answers and is_blank(pixels):
            label, confidence = NEITHER, 1.0
        else:
            label, confidence = self._answer(probabilities, similarity)
        return Prediction(
            label=label,
            confidence=round(confidence, 6),
            probabilities={
                name: round(float(p), 6) for name, p in zip(self.labels, probabilities, strict=True)
            },
            pet_score=None if similarity is None else round(float(similarity[0]), 6),
        )

    def _answer(self, probabilities: np.ndarray, similarity: np.ndarray | None) -> tuple[str, float]:
        by_label = dict(zip(self.labels, (float(p) for p in probabilities), strict=True))
        if self.neither is not None:
            if self.neither.method == CLASS_PROBABILITY and by_label[NEITHER] >= self.neither.threshold:
                return NEITHER, by_label[NEITHER]
            if similarity is not None and similarity[0] < self.neither.threshold:
                return NEITHER, 1.0 - float(similarity[0])
        best = max(self.card.pets, key=by_label.__getitem__)
        return best, by_label[best]


#: what LiteRT's C++ logger writes to stderr at the first interpreter of a process: in a terminal it
#: reads as a message of catdog's, in CloudWatch as a line outside the structured logs
BANNER = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"

#: file descriptor 2 is one for the whole process: two threads that swapped it at once would leave it on
#: the first one's held-back file, and everything after (a bulk run's summary) would vanish
_stderr_held = threading.Lock()


@contextlib.contextmanager
def _without_banner():
    """Holds back what is written to file descriptor 2 meanwhile, and writes it back without LiteRT's
    banner: no environment variable silences that logger, and a line of another thread is kept. A process
    without a stderr (``2>&-``, ``pythonw``) has nothing to hold back."""
    try:
        os.fstat(2)
    except OSError:
        yield
        return
    if sys.stderr is not None:
        sys.stderr.flush()
    with _stderr_held, tempfile.TemporaryFile() as held:
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            if rest := held.read().replace(BANNER, b""):
                os.write(2, rest)


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
