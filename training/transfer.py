"""Transfer learning from EfficientNet-Lite0 (ImageNet-1k) on a CPU budget, to one exportable model.

Running the whole backbone for every image of every epoch costs minutes per epoch on two cores, so the
network is cut before block ``cut`` (see ``efficientnet_lite0.build_split``):

1. the blocks below the cut run ONCE per photo and its mirror image, and their activations are cached
   to disk (float16);
2. frozen phase: the blocks above the cut also run once, giving pooled features on which the softmax
   head trains in seconds;
3. fine-tuning: the blocks above the cut and the head train together on the cached activations (a
   random mirror per photo and epoch), with a lower learning rate on a cosine schedule, early stopping
   on validation loss (best weights restored), batch-norm statistics kept frozen;
4. the parts are put back together as ONE Keras model, raw pixels in, probabilities out, which
   ``training.export`` turns into the int8 TFLite model.

Public API:
    train_transfer(split, config) -> TransferResult   ``config``: a ``training.config.TransferConfig``
    save_run(result, config, out_dir) -> Path   model.keras, frozen.keras, history.json, curves-*.png
    cached_activations(bottom, pixels, path) -> float16 (n, 2, h, w, c)
    pooled_features(top, activations) -> float32 (n, 2, d)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from training.backbones import efficientnet_lite0
from training.config import TransferConfig
from training.data import Split, add_files, load_arrays


@dataclass
class TransferResult:
    model: keras.Model  # pixels -> probabilities, fine-tuned (or frozen when fine_epochs == 0)
    frozen_model: keras.Model
    history: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)  # accuracies of the Keras models on val / test
    seconds: dict = field(default_factory=dict)


def cached_activations(
    bottom: keras.Model, pixels: np.ndarray, path: Path, batch_size: int = 64
) -> np.ndarray:
    """``bottom``'s float16 outputs for each photo and its mirror image, computed once and kept on disk.

    Written to a ``.partial`` file and renamed at the end, so an interrupted run never leaves a cache
    that looks complete.
    """
    if path.is_file():
        return np.load(path, mmap_mode="r")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npy")
    shape = (len(pixels), 2, *bottom.output.shape[1:])
    out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float16, shape=shape)
    for start in range(0, len(pixels), batch_size):
        batch = pixels[start : start + batch_size].astype(np.float32)
        both = np.concatenate([batch, batch[:, :, ::-1]])
        activations = keras.ops.convert_to_numpy(bottom(both, training=False)).astype(np.float16)
        out[start : start + len(batch), 0] = activations[: len(batch)]
        out[start : start + len(batch), 1] = activations[len(batch) :]
    out.flush()
    del out
    partial.replace(path)
    return np.load(path, mmap_mode="r")


def activation_cache(config: TransferConfig, part: str, split: Split) -> Path:
    """Where the activations of ``split``'s ``part`` at this size and cut live; the key covers each photo's
    path, size and modification time (a photo replaced in place is computed again)."""
    paths = [sample.path for sample in split.parts[part]]
    digest = hashlib.sha256()
    add_files(digest, split.root, paths)
    name = f"{efficientnet_lite0.NAME}-{config.input_size}px-cut{config.cut}-{part}-{len(paths)}-"
    name += f"{digest.hexdigest()[:16]}.npy"
    return Path(config.cache_dir) / name


def train_transfer(split: Split, config: TransferConfig, *, log=print) -> TransferResult:
    """Frozen phase, then fine-tuning; see the module docstring. Accuracies are on cached activations."""
    keras.utils.set_random_seed(config.seed)
    bottom, top = efficientnet_lite0.build_split(config.input_size, config.cut)
    seconds, activations, labels, caches = {}, {}, {}, {}
    started = time.perf_counter()
    arrays = load_arrays(split, config.input_size, config.cache_dir)
    for part, (pixels, y) in arrays.items():
        caches[part] = activation_cache(config, part, split)
        activations[part] = cached_activations(bottom, pixels, caches[part], config.batch_size)
        labels[part] = y
    del arrays
    seconds["cache"] = time.perf_counter() - started

    started = time.perf_counter()
    pooled = {
        part: _pooled(top, values, caches[part].with_suffix(".pooled.npy"), config.batch_size)
        for part, values in activations.items()
    }
    head = _head(pooled["train"].shape[-1], len(split.labels), config.dropout)
    head.compile(
        keras.optimizers.Adam(config.head_lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    frozen_history = head.fit(
        pooled["train"].reshape(-1, pooled["train"].shape[-1]),
        np.repeat(labels["train"], 2),
        batch_size=config.batch_size,
        epochs=config.head_epochs,
        validation_data=(pooled["val"][:, 0], labels["val"]),
        callbacks=[keras.callbacks.EarlyStopping(patience=config.patience, restore_best_weights=True)],
        verbose=2,
    ).history
    seconds["frozen"] = time.perf_counter() - started
    metrics = {
        f"frozen_{part}_accuracy": accuracy(head.predict(pooled[part][:, 0], verbose=0), labels[part])
        for part in ("val", "test")
    }
    log(f"frozen: {metrics}")
    # A snapshot, as fine-tuning changes top and head: the frozen top is the ImageNet one, built anew.
    frozen_head = _head(pooled["train"].shape[-1], len(split.labels), config.dropout)
    frozen_head.set_weights(head.get_weights())
    _, imagenet_top = efficientnet_lite0.build_split(config.input_size, config.cut)
    frozen_model = _assemble(bottom, imagenet_top, frozen_head, f"{efficientnet_lite0.NAME}_frozen")

    history = {"frozen": frozen_history}
    if config.fine_epochs:
        started = time.perf_counter()
        history["fine_tune"] = _fine_tune(top, head, activations, labels, config)
        seconds["fine_tune"] = time.perf_counter() - started
        tuned = keras.Model(top.input, head(top.output))
        for part in ("val", "test"):
            probabilities = tuned.predict(
                activations[part][:, 0].astype(np.float32), batch_size=64, verbose=0
            )
            metrics[f"fine_tuned_{part}_accuracy"] = accuracy(probabilities, labels[part])
        log(f"fine-tuned: {metrics}")
    # Named as in the model registry, so that the model card records the registered backbone.
    model = _assemble(bottom, top, head, efficientnet_lite0.NAME)
    return TransferResult(model, frozen_model, history, metrics, seconds)


def save_run(result: TransferResult, config: TransferConfig, out_dir: str | os.PathLike) -> Path:
    """The models and a ``history.json`` whose settings (not the per-epoch history) go into the card."""
    from training.train import save_curves

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.model.save(out / "model.keras")
    result.frozen_model.save(out / "frozen.keras")
    history = {
        phase: {k: [float(v) for v in values] for k, values in h.items()}
        for phase, h in result.history.items()
    }
    summary = {
        "config": {"model": efficientnet_lite0.NAME, "recipe": "training.transfer", **asdict(config)},
        "keras_accuracy_on_cached_activations": result.metrics,
        "seconds": {phase: round(value, 1) for phase, value in result.seconds.items()},
        "history": history,
    }
    (out / "history.json").write_text(json.dumps(summary, indent=1) + "\n")
    for phase, values in history.items():
        best = int(np.argmin(values["val_loss"]))
        save_curves(
            {
                "config": {"model": f"{efficientnet_lite0.NAME} {phase}"},
                "history": values,
                "best_epoch": best + 1,
                "best_val_accuracy": values["val_accuracy"][best],
            },
            out / f"curves-{phase}.png",
        )
    return out


def pooled_features(top: keras.Model, activations: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """``top``'s pooled features ``(n, views, d)`` of cached activations ``(n, views, h, w, c)``."""
    n, views = activations.shape[:2]
    out = np.empty((n, views, top.output.shape[-1]), dtype=np.float32)
    for start in range(0, n, batch_size):
        chunk = np.asarray(activations[start : start + batch_size], dtype=np.float32)
        features = keras.ops.convert_to_numpy(top(chunk.reshape(-1, *chunk.shape[2:]), training=False))
        out[start : start + len(chunk)] = features.reshape(len(chunk), views, -1)
    return out


def _pooled(top: keras.Model, activations: np.ndarray, path: Path, batch_size: int) -> np.ndarray:
    """The ImageNet top's pooled features for every photo and its mirror image, cached in ``path``."""
    if path.is_file():
        return np.load(path)
    out = pooled_features(top, activations, batch_size)
    np.save(path, out)
    return out


def _head(features: int, num_classes: int, dropout: float) -> keras.Model:
    inputs = keras.Input((features,), name="features")
    x = keras.layers.Dropout(dropout, name="head_dropout")(inputs) if dropout else inputs
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="classifier")


class _MirroredBatches(keras.utils.PyDataset):
    """Cached activations in a new order each epoch, each photo as itself or its mirror at random."""

    def __init__(self, activations: np.ndarray, labels: np.ndarray, batch_size: int, seed: int):
        super().__init__()
        self.activations, self.labels, self.batch_size = activations, labels, batch_size
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.labels))
        self.views = self.rng.integers(0, 2, len(self.labels))

    def __getitem__(self, index: int):
        rows = np.sort(self.order[index * self.batch_size : (index + 1) * self.batch_size])
        x = np.asarray(self.activations[rows], dtype=np.float32)[np.arange(len(rows)), self.views[rows]]
        return x, self.labels[rows]


def _fine_tune(top, head, activations, labels, config: TransferConfig) -> dict:
    for layer in top.layers:  # batch norm keeps its ImageNet statistics: small batches would spoil them
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    model = keras.Model(top.input, head(top.output))
    batches = _MirroredBatches(activations["train"], labels["train"], config.batch_size, config.seed)
    schedule = keras.optimizers.schedules.CosineDecay(config.fine_lr, config.fine_epochs * len(batches))
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    model.compile(optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model.fit(
        batches,
        epochs=config.fine_epochs,
        validation_data=(activations["val"][:, 0].astype(np.float32), labels["val"]),
        callbacks=[keras.callbacks.EarlyStopping(patience=config.patience, restore_best_weights=True)],
        verbose=2,
    ).history


def _assemble(bottom: keras.Model, top: keras.Model, head: keras.Model, name: str) -> keras.Model:
    pixels = keras.Input(bottom.input.shape[1:], name="pixels")
    return keras.Model(pixels, head(top(bottom(pixels))), name=name)


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The share of argmax answers equal to ``labels``, to five decimals as the run files record it."""
    return round(float(np.mean(np.argmax(probabilities, axis=1) == labels)), 5)
