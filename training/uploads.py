"""Make a small, centred Asirra photo look like a user's upload: the views cached for training.

The Asirra photos are 180 x 180, squashed, JPEG'd once and framed by the people who posted them; uploads
are cropped differently, off-centre, of other aspect ratios, of other colours, blurred by phones and
re-compressed by messaging apps. Each *view* of a photo is one seeded draw of:

- a random resized crop: ``scale`` of the area (0.35..1), aspect ratio 3/4..4/3, anywhere in the frame;
- optionally a zoom-out: the crop shrunk into a frame up to ``max_zoom_out`` times its side, anywhere in
  it, over a blurred enlargement of itself (the letterbox of shared photos): the pet gets smaller;
- a horizontal flip (half of the views);
- colour jitter: brightness, contrast, saturation (x0.65..1.35 each, in random order);
- optionally an occlusion: a rectangle of one random colour over 2..20 % of the frame (a post, a bar);
- a Gaussian blur (radius 0.4..1.6) for a quarter of the views;
- a JPEG re-compression (quality 25..85) for half of the views;

then ``catdog.preprocess`` to the model's size, exactly as serving does. PIL and numpy only, so the views
are made in the caching process's threads and the tests stay light.

Public API:
    UploadAugment(...)                   the settings (a recipe's ``[augment]`` section)
    UploadAugment.key() -> str           the settings as cache keys name them
    view(image, size, index, seed, augment) -> uint8 (size, size, 3)
        view 0 is the photo itself, view 1 its mirror image, views 2.. upload-style draws seeded by
        ``seed`` (a photo's own seed) and ``index``
    photo_seed(path) -> int              a photo's own seed, from its relative path
    zoom_out(image, factor, rng), occlude(image, area, rng) -> Image   the two optional steps
    photo_views(root, path, size, indices, augment) -> uint8 (views, size, size, 3)
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
from training.data import add_files

#: the optional steps' switch (a probability) and setting, left out of cache keys while the switch is 0
OPTIONAL_STEPS = (("zoom_out_probability", "max_zoom_out"), ("occlusion_probability", "occlusion_area"))


@dataclass(frozen=True)
class UploadAugment:
    min_scale: float = 0.35
    max_aspect: float = 4 / 3
    jitter: float = 0.35
    blur_probability: float = 0.25
    blur_radius: tuple[float, float] = (0.4, 1.6)
    jpeg_probability: float = 0.5
    jpeg_quality: tuple[int, int] = (25, 85)
    zoom_out_probability: float = 0.0
    max_zoom_out: float = 2.0
    occlusion_probability: float = 0.0
    occlusion_area: tuple[float, float] = (0.02, 0.2)

    def key(self) -> str:
        """The settings for cache keys. The zoom-out and occlusion settings appear only when they are on,
        so the caches made before they existed keep their keys (and a rebuild of 2.1.0 its caches)."""
        settings = asdict(self)
        for switch, detail in OPTIONAL_STEPS:
            if not settings[switch]:
                del settings[switch], settings[detail]
        return str(settings)


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
) -> np.ndarray:
    """Views ``indices`` of the photo at ``root / path``, seeded by ``path``. The decoder may shrink a large
    photo as serving's does (``catdog.load_image(size=...)``), so view 0 is the pixels the model is served."""
    from catdog import load_image

    image = load_image(Path(root) / path, size=size)
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
    key = hashlib.sha256(f"{size}|{indices}|{augment.key()}\n".encode())
    add_files(key, root, paths)
    named = "-".join(map(str, indices))
    cache = Path(cache_dir) / f"views-{size}px-{named}-{len(paths)}-{key.hexdigest()[:20]}.npy"
    if not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".partial.npy")
        pixels = np.lib.format.open_memmap(partial, "w+", np.uint8, (len(paths), len(indices), size, size, 3))

        def decode(relative: str) -> np.ndarray:  # as serving decodes it: view 0 is the served pixels
            return photo_views(root, relative, size, indices, augment)

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
    # an optional step that is off draws nothing: the views of recipes without it stay as they were cached
    if augment.zoom_out_probability and rng.random() < augment.zoom_out_probability:
        image = zoom_out(image, rng.uniform(1.0, augment.max_zoom_out), rng)
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    enhancers = [ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color]
    for position in rng.permutation(len(enhancers)):
        factor = rng.uniform(1 - augment.jitter, 1 + augment.jitter)
        image = enhancers[position](image).enhance(factor)
    if augment.occlusion_probability and rng.random() < augment.occlusion_probability:
        image = occlude(image, rng.uniform(*augment.occlusion_area), rng)
    if rng.random() < augment.blur_probability:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*augment.blur_radius)))
    if rng.random() < augment.jpeg_probability:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=int(rng.integers(*augment.jpeg_quality, endpoint=True)))
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return image


def zoom_out(image: Image.Image, factor: float, rng: np.random.Generator) -> Image.Image:
    """``image`` at its size, anywhere in a frame ``factor`` times its side, over a blurred enlargement."""
    width, height = image.size
    frame = (max(width, round(width * factor)), max(height, round(height * factor)))
    canvas = image.resize(frame, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(max(frame) / 20))
    left, top = int(rng.integers(0, frame[0] - width + 1)), int(rng.integers(0, frame[1] - height + 1))
    canvas.paste(image, (left, top))
    return canvas


def occlude(image: Image.Image, area: float, rng: np.random.Generator) -> Image.Image:
    """A rectangle of one random colour over ``area`` of ``image``, of aspect ratio 1/3..3, anywhere."""
    width, height = image.size
    aspect = np.exp(rng.uniform(-np.log(3), np.log(3)))
    w = min(width, max(1, round(np.sqrt(width * height * area * aspect))))
    h = min(height, max(1, round(np.sqrt(width * height * area / aspect))))
    left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
    image = image.copy()
    image.paste(tuple(int(c) for c in rng.integers(0, 256, 3)), (left, top, left + w, top + h))
    return image
