"""Fit a registry model on the training split, keeping the best validation checkpoint.

Public API:
    fit(model, train, val, out_dir, config) -> keras.Model   ``config``: a ``training.config.TrainConfig``
        ``train`` and ``val`` are ``(uint8 pixels, int labels)``; writes ``best.keras`` (best
        validation loss), ``history.json`` and ``curves.png`` (both rewritten every epoch) into
        ``out_dir`` and returns the best model.
    save_curves(history, path) -> Path

The pixels stay uint8 in memory and are gathered per batch, so 12,000 photos at 128 px cost 590 MB,
not four times that as float32.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from training import figures
from training.augment import augmenter
from training.config import SCHEDULES, TrainConfig


def dataset(
    pixels: np.ndarray, labels: np.ndarray, batch_size: int, *, augment=None, seed=None
) -> tf.data.Dataset:
    """Batches of float pixels 0..255; shuffled and augmented when ``augment`` is given.

    ``pixels`` ``(n, size, size, 3)``, or ``(n, views, size, size, 3)`` (``training.uploads.cached_views``,
    possibly memory-mapped): then each batch takes one view of each photo, drawn at random (seeded).
    """
    targets = tf.constant(labels)
    indices = tf.data.Dataset.range(len(pixels))
    if augment is not None:
        indices = indices.shuffle(len(pixels), seed=seed, reshuffle_each_iteration=True)
    if pixels.ndim == 5:
        draw = tf.random.Generator.from_seed(0 if seed is None else seed)
        shape = (None, *pixels.shape[2:])

        def images_of(batch):
            chosen = draw.uniform(tf.shape(batch), 0, pixels.shape[1], dtype=tf.int64)
            x = tf.numpy_function(lambda b, v: pixels[b, v], [batch, chosen], tf.uint8, stateful=True)
            return tf.ensure_shape(x, shape)
    else:
        images = tf.constant(pixels)

        def images_of(batch):
            return tf.gather(images, batch)

    def gather(batch):
        x = tf.cast(images_of(batch), tf.float32)
        if augment is not None:
            x = augment(x, training=True)
        return x, tf.gather(targets, batch)

    return (
        indices.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    )


class _Record(keras.callbacks.Callback):
    """Adds learning rate and wall time to each epoch, and rewrites ``history.json`` and ``curves.png``
    after every epoch: a long run can be watched, and a stopped one still has its record."""

    def __init__(self, out: Path, config: TrainConfig):
        super().__init__()
        self.out, self.config, self.history = out, config, {}

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        logs["seconds"] = round(time.monotonic() - self._start, 1)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        best = int(np.argmin(self.history["val_loss"]))
        summary = {
            "config": self.config.as_dict(),
            "epochs_run": len(self.history["val_loss"]),
            "best_epoch": best + 1,
            "best_val_loss": self.history["val_loss"][best],
            "best_val_accuracy": self.history["val_accuracy"][best],
            "train_seconds": round(sum(self.history["seconds"]), 1),
            "history": self.history,
        }
        (self.out / "history.json").write_text(json.dumps(summary, indent=1) + "\n")
        save_curves(summary, self.out / "curves.png")


def fit(
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    out_dir: str | os.PathLike,
    config: TrainConfig,
) -> keras.Model:
    if config.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {config.schedule!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    steps = -(-len(train[0]) // config.batch_size)
    if config.schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(config.learning_rate, config.epochs * steps)
    else:
        learning_rate = config.learning_rate
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    checkpoint = out / "best.keras"
    callbacks = [
        _Record(out, config),
        keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_loss", save_best_only=True),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience),
    ]
    if config.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=3))
    augment = augmenter(config.augment, seed=config.seed)
    model.fit(
        dataset(*train, config.batch_size, augment=augment, seed=config.seed),
        validation_data=dataset(*val, config.batch_size),
        epochs=config.epochs,
        shuffle=False,  # the dataset shuffles itself, per epoch
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,  # a live bar on a terminal, one line an epoch in a log
    )
    return keras.models.load_model(checkpoint)


def save_curves(summary: dict, path: str | os.PathLike) -> Path:
    """Loss and accuracy per epoch, training vs validation, with the kept checkpoint marked."""
    plt = figures.pyplot()

    history = summary["history"]
    epochs = np.arange(1, len(history["loss"]) + 1)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in zip(axes, ("loss", "accuracy"), strict=True):
        axis.plot(epochs, history[metric], label="train")
        axis.plot(epochs, history[f"val_{metric}"], label="validation")
        axis.axvline(summary["best_epoch"], color="grey", linestyle=":", label="kept checkpoint")
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(f"{summary['config']['model']}: best val accuracy {summary['best_val_accuracy']:.4f}")
    return figures.save(figure, path, dpi=90)
