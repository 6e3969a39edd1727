"""Make a small, centred Asirra photo look like a user's upload: the views cached for training.

The Asirra photos are 180 x 180, squashed, JPEG'd once and framed by the people who posted them; uploads
are cropped differently, off-centre, of other aspect ratios, of other colours, blurred by phones and
re-compressed by messaging apps. Each *view* of a photo is one seeded draw of:

- a random resized crop: ``scale`` of the area (0.35..1), aspect ratio 3/4..4/3, anywhere in the frame;
- a horizontal flip (half of the views);
- colour jitter: brightness, contrast, saturation (x0.65..1.35 each, in random order);
- a Gaussian blur (radius 0.4..1.6) for a quarter of the views;
- a JPEG re-compression (quality 25..85) for half of the views;

then ``catdog.preprocess`` to the model's size, exactly as serving does. PIL and numpy only, so the views
are made in the caching process's threads and the tests stay light.

Public API:
    UploadAugment(...)                   the settings (a recipe's ``[augment]`` section)
    view(image, size, index, seed, augment) -> uint8 (size, size, 3)
        view 0 is the photo itself, view 1 its mirror image, views 2.. upload-style draws seeded by
        ``seed`` (a photo's own seed) and ``index``
    photo_seed(path) -> int              a photo's own seed, from its relative path
    photo_views(root, path, size, indices, augment, decode_size=None) -> uint8 (views, size, size, 3)
    cached_views(root, paths, size, indices, augment, cache_dir, workers=2) -> uint8 (n, views, size, size, 3)
        the pixels of views ``indices`` of every photo (``photo_views`` with the decode serving uses),
        made once into a memory-mapped ``.npy`` under ``cache_dir`` (keyed like ``data.load_pixels``,
        plus the views and the settings) and read back memory-mapped
"""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from catdog import preprocess


@dataclass(frozen=True)
class UploadAugment:
    min_scale: float = 0.35
    max_aspect: float = 4 / 3
    jitter: float = 0.35
    blur_probability: float = 0.25
    blur_radius: tuple[float, float] = (0.4, 1.6)
    jpeg_probability: float = 0.5
    jpeg_quality: tuple[int, int] = (25, 85)


def view(image: Image.Image, size: int, index: int, seed: int, augment: UploadAugment) -> np.ndarray:
    """View ``index`` of ``image`` (RGB) as the model's uint8 input; see the module docstring."""
    if index == 0:
        return preprocess(image, size)[0]
    if index == 1:
        return preprocess(ImageOps.mirror(image), size)[0]
    return preprocess(upload_like(image, np.random.default_rng([seed, index]), augment), size)[0]


def photo_seed(path: str) -> int:
    """A photo's own seed: its views are the same whichever split or order it is cached in."""
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:4], "little")


def photo_views(
    root: str | os.PathLike,
    path: str,
    size: int,
    indices: tuple[int, ...],
    augment: UploadAugment,
    decode_size: int | None = None,
) -> np.ndarray:
    """Views ``indices`` of the photo at ``root / path``, seeded by ``path``. ``decode_size`` lets the
    decoder shrink a large photo as serving does (``catdog.load_image(size=...)``); without it the photo is
    decoded whole (the release caches, keyed as they were made)."""
    from catdog import load_image

    image = load_image(Path(root) / path, size=decode_size)
    return np.stack([view(image, size, i, photo_seed(path), augment) for i in indices])


def cached_views(
    root: str | os.PathLike,
    paths: list[str],
    size: int,
    indices: tuple[int, ...],
    augment: UploadAugment,
    cache_dir: str | os.PathLike,
    workers: int = 2,
) -> np.ndarray:
    """Views ``indices`` of each photo as uint8 pixels, cached; see the module docstring."""
    root, indices = Path(root), tuple(int(i) for i in indices)
    key = hashlib.sha256(f"{size}|{indices}|{asdict(augment)}\n".encode())
    for relative in paths:
        stat = (root / relative).stat()
        key.update(f"{relative}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    named = "-".join(map(str, indices))
    cache = Path(cache_dir) / f"views-{size}px-{named}-{len(paths)}-{key.hexdigest()[:20]}.npy"
    if not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".partial.npy")
        pixels = np.lib.format.open_memmap(partial, "w+", np.uint8, (len(paths), len(indices), size, size, 3))

        def decode(relative: str) -> np.ndarray:  # as serving decodes it: view 0 is the served pixels
            return photo_views(root, relative, size, indices, augment, decode_size=size)

        with ThreadPoolExecutor(max_workers=workers) as pool:  # Pillow releases the GIL
            for position, views in enumerate(pool.map(decode, paths)):
                pixels[position] = views
        pixels.flush()
        del pixels
        partial.replace(cache)  # never leave a half-written cache behind a crash
    return np.load(cache, mmap_mode="r")


def upload_like(image: Image.Image, rng: np.random.Generator, augment: UploadAugment) -> Image.Image:
    """One random draw of the transformations in the module docstring."""
    width, height = image.size
    for _ in range(10):
        area = width * height * rng.uniform(augment.min_scale, 1.0)
        aspect = np.exp(rng.uniform(-np.log(augment.max_aspect), np.log(augment.max_aspect)))
        w, h = round(np.sqrt(area * aspect)), round(np.sqrt(area / aspect))
        if 0 < w <= width and 0 < h <= height:
            left, top = rng.integers(0, width - w + 1), rng.integers(0, height - h + 1)
            image = image.crop((left, top, left + w, top + h))
            break
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    enhancers = [ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color]
    for position in rng.permutation(len(enhancers)):
        factor = rng.uniform(1 - augment.jitter, 1 + augment.jitter)
        image = enhancers[position](image).enhance(factor)
    if rng.random() < augment.blur_probability:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*augment.blur_radius)))
    if rng.random() < augment.jpeg_probability:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=int(rng.integers(*augment.jpeg_quality, endpoint=True)))
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return image
