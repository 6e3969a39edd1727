"""Decoding and resizing of photos: the one path every consumer of the model goes through.

Training, evaluation, the CLI and every Lambda handler call ``load_image`` and ``preprocess``, so a
photo reaches the model as the same pixels whichever side it comes from. The model takes raw RGB
0..255; normalization lives inside the model, not here.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from catdog.imagetypes import PILLOW_FORMATS, TYPE_NAMES
from catdog.settings import DEFAULT_MAX_PIXELS

#: The resampling filter of the one resize. Bilinear (with Pillow's antialiasing when shrinking).
RESAMPLE = Image.Resampling.BILINEAR


class InvalidImage(ValueError):
    """The input is not a decodable image (empty, truncated, text, unsupported format)."""

    code = "invalid_image"


class EmptyImage(InvalidImage):
    """The file or object has no bytes at all."""

    code = "empty"


class ImageTooLarge(InvalidImage):
    """The image has more pixels than the configured cap (a decompression-bomb guard)."""

    code = "too_many_pixels"


ImageSource = bytes | bytearray | memoryview | str | os.PathLike | Image.Image


def load_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode ``source`` into an upright RGB image.

    ``source`` is the file's bytes, a path, or an already opened image. EXIF orientation is applied
    (phone photos are stored sideways), any mode (CMYK, L, P, RGBA, I;16, ...) becomes RGB, and only
    the first frame of an animation is used. Raises ``InvalidImage`` for what cannot be decoded and
    ``ImageTooLarge`` for more than ``max_pixels`` pixels.
    """
    if isinstance(source, Image.Image):
        return _upright_rgb(source, max_pixels)
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise EmptyImage("the file is empty")
        stream = io.BytesIO(bytes(source))
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidImage(f"not a file: {path}")
        if path.stat().st_size == 0:
            raise EmptyImage("the file is empty")
        stream = path.open("rb")
    with stream:
        try:
            with warnings.catch_warnings():
                # Pillow only warns between MAX_IMAGE_PIXELS and twice that; make every excess an error.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(stream, formats=PILLOW_FORMATS)
                _check_pixels(image, max_pixels)
                image.load()
        except ImageTooLarge:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(str(exc)) from exc
        except UnidentifiedImageError as exc:
            raise InvalidImage(f"the file is not a {TYPE_NAMES} image") from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InvalidImage(f"the file cannot be decoded: {exc}") from exc
        return _upright_rgb(image, max_pixels)


def _check_pixels(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"image is {width}x{height} = {width * height:,} pixels, above the cap of {max_pixels:,}"
        )


def _upright_rgb(image: Image.Image, max_pixels: int) -> Image.Image:
    _check_pixels(image, max_pixels)
    if getattr(image, "is_animated", False):
        image.seek(0)
    try:
        image = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImage(f"cannot apply EXIF orientation: {exc}") from exc
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels become white, as a browser shows them, not whatever colour they hide.
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        # 16-bit and float greyscale: scale the real range to 0..255 instead of clipping it.
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) * (255.0 / (high - low)) if high > low else np.zeros_like(array)
        return Image.fromarray(scaled.astype(np.uint8), "L").convert("RGB")
    return image.convert("RGB")


def preprocess(image: Image.Image, size: int) -> np.ndarray:
    """Resize an RGB image to ``size`` x ``size`` and return it as a uint8 batch ``(1, size, size, 3)``.

    The whole frame is resized (no crop), as the training photos were: a subject near the edge of a
    wide photo is never cut away.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), RESAMPLE)
    return np.asarray(image, dtype=np.uint8)[np.newaxis]
