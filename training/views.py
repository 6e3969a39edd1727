"""Cache, once, what a frozen network computes for each view of each photo.

Fine-tuning the top of EfficientNet-Lite on two CPU cores is affordable only when the frozen bottom never
runs twice. For every photo and each of its views (``training.uploads.view``: the photo, its mirror image,
upload-style draws) this module stores, in one pass of the bottom:

- ``act``: the bottom's activations below the cut (float16, ``(n, views, h, w, c)``), the input of the
  blocks that are fine-tuned;
- ``pooled`` and ``logits``: what the *frozen ImageNet* top makes of them, its pooled features and its
  1000 ImageNet-1k logits (float16, ``(n, views, d)``): the inputs of a frozen-feature head, and the
  ImageNet branch of the released model, which never changes.

Files are written as ``.partial`` and renamed at the end, so an interrupted run never leaves a cache that
looks complete; the name's key covers the backbone, size, cut, views, augmentation and every photo's path,
size and modification time.

Public API:
    ViewSet(root, paths, views)   photos (relative to root) and their views: a count n (views 0..n-1) or
                                  the view indices, e.g. (0, 2): the photo and one upload-style draw
    view_indices(views) -> tuple of view indices
    cache_key(backbone, size, cut, augment, views_set) -> str
    cache_views(extract, views_set, path_stem, augment, size, kinds, log=print) -> dict of arrays
    litert_extractor(bottom, imagenet_top, tflite_path, kinds) -> extract  (the frozen network on LiteRT)
    load_views(path_stem) -> {"act", "pooled", "logits"} memory-mapped, or None if not cached
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catdog.images import decoder_key
from training.data import add_files
from training.uploads import UploadAugment, photo_views

KINDS = ("act", "pooled", "logits")


@dataclass(frozen=True)
class ViewSet:
    root: Path
    paths: tuple[str, ...]
    views: int | tuple[int, ...]


def view_indices(views: int | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    return tuple(range(views)) if isinstance(views, int) else tuple(int(v) for v in views)


def cache_key(backbone: str, size: int, cut: int, augment: UploadAugment, photos: ViewSet) -> str:
    """The name of ``photos``' cached views: it covers the network, size, cut, views and augmentation,
    and each photo's path, byte size and modification time (a photo replaced in place is computed again)."""
    indices = view_indices(photos.views)
    # a count names all views; explicit indices are named one by one
    named = str(len(indices)) if indices == tuple(range(len(indices))) else "-".join(map(str, indices))
    digest = hashlib.sha256(f"{backbone}|{size}|{cut}|{named}|{augment.key()}|{decoder_key()}".encode())
    add_files(digest, photos.root, photos.paths)
    return f"{backbone}-{size}px-cut{cut}-{named}views-{len(photos.paths)}-{digest.hexdigest()[:16]}"


def load_views(stem: Path, kinds: tuple[str, ...] = KINDS) -> dict[str, np.ndarray] | None:
    files = {kind: Path(f"{stem}.{kind}.npy") for kind in kinds}
    if not all(f.is_file() for f in files.values()):
        return None
    return {kind: np.load(f, mmap_mode="r") for kind, f in files.items()}


def cache_views(
    extract: Callable[[np.ndarray], dict[str, np.ndarray]],
    photos: ViewSet,
    stem: Path,
    augment: UploadAugment,
    size: int,
    *,
    kinds: tuple[str, ...] = KINDS,
    batch_size: int = 16,
    log=print,
) -> dict[str, np.ndarray]:
    """Fill (or read) the cache at ``stem``; ``extract(float32 pixels) -> {kind: array}`` for ``kinds``
    (``litert_extractor``)."""
    cached = load_views(stem, kinds)
    if cached is not None:
        return cached
    stem.parent.mkdir(parents=True, exist_ok=True)
    indices = view_indices(photos.views)
    n, views = len(photos.paths), len(indices)
    out: dict[str, np.ndarray] = {}

    def decode(path: str) -> np.ndarray:
        return photo_views(photos.root, path, size, indices, augment)

    started, last = time.perf_counter(), 0.0

    def decode_chunk(start: int) -> np.ndarray:
        return np.stack([decode(p) for p in photos.paths[start : start + batch_size]])

    with ThreadPoolExecutor(max_workers=2) as pool:
        chunks = list(range(0, n, batch_size))
        pending = [pool.submit(decode_chunk, s) for s in chunks[:3]]  # a bounded read-ahead
        for position, start in enumerate(chunks):
            pixels = pending.pop(0).result()
            if position + 3 < len(chunks):
                pending.append(pool.submit(decode_chunk, chunks[position + 3]))
            flat = pixels.reshape(-1, size, size, 3).astype(np.float32)
            outputs = extract(flat)
            for kind in kinds:
                values = np.asarray(outputs[kind])
                if kind not in out:
                    out[kind] = np.lib.format.open_memmap(
                        f"{stem}.{kind}.partial.npy", "w+", np.float16, (n, views, *values.shape[1:])
                    )
                out[kind][start : start + len(pixels)] = values.reshape(len(pixels), views, *values.shape[1:])
            elapsed = time.perf_counter() - started
            if elapsed - last > 60:
                last = elapsed
                done = start + len(pixels)
                log(f"{stem.name}: {done}/{n} photos, {done * views / elapsed:.0f} views/s")
    for kind, array in out.items():
        array.flush()
        del array
        Path(f"{stem}.{kind}.partial.npy").replace(f"{stem}.{kind}.npy")
    return load_views(stem, kinds)


def litert_extractor(bottom, imagenet_top, path: Path, kinds: tuple[str, ...] = KINDS, threads: int = 2):
    """The frozen network (pixels -> the ``kinds`` asked for: activations at the cut, pooled features,
    logits) as a float TFLite file run by LiteRT: the same numbers as Keras (float32, within rounding) at
    about ten times the speed on a CPU (measured: 3 views/s through Keras for Lite2 at 260 px)."""
    import keras

    from catdog.classifier import Interpreter
    from training.export import convert

    if not path.is_file():
        pixels = keras.Input(bottom.input.shape[1:], name="pixels")
        act = bottom(pixels)
        pooled, logits = imagenet_top(act)
        named = {"act": act, "pooled": pooled, "logits": logits}
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(convert(keras.Model(pixels, [named[kind] for kind in kinds])))
        partial.replace(path)
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    (tensor_in,) = interpreter.get_input_details()
    indices = {_kind_of(o["shape"]): o["index"] for o in interpreter.get_output_details()}
    if set(indices) != set(kinds):
        raise ValueError(f"{path} gives {sorted(indices)}, not {sorted(kinds)}: delete it to rebuild it")

    def extract(pixels: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, list] = {kind: [] for kind in kinds}
        for image in pixels:
            interpreter.set_tensor(tensor_in["index"], image[np.newaxis].astype(np.float32))
            interpreter.invoke()
            for kind in kinds:
                out[kind].append(interpreter.get_tensor(indices[kind])[0].copy())
        return {kind: np.stack(values) for kind, values in out.items()}

    return extract


def _kind_of(shape) -> str:
    """An output of the frozen network by its shape: a feature map, 1000 logits, or pooled features."""
    if len(shape) == 4:
        return "act"
    return "logits" if int(shape[-1]) == 1000 else "pooled"
