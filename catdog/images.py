"""Decoding and resizing of photos: the one path every consumer of the model goes through.

Training, evaluation, the CLI and every Lambda handler call ``load_image`` and ``preprocess``, so a
photo reaches the model as the same pixels whichever side it comes from. The model takes raw RGB
0..255; normalization lives inside the model, not here.

Memory is bounded by what the model needs: given the input ``size``, a JPEG is decoded at 1/2, 1/4 or
1/8 scale (libjpeg's DCT scaling) and any other image is shrunk by a whole factor, band by band, right
after decoding, so beyond the decoder's own buffers (the decoded image; a progressive JPEG's
coefficients; WebP's canvases, hence its lower cap) only one band of rows is ever copied. Both stop at
twice the input size on each side (Pillow's ``reducing_gap``), so the final resize sees enough pixels to
be close to resizing the full image (labels unchanged on photos enlarged to 12 MP); a photo under twice
the input size is decoded exactly as without ``size``, which is how training decodes.
"""

from __future__ import annotations

import io
import math
import os
import re
import threading
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, TiffImagePlugin, UnidentifiedImageError

from catdog.imagetypes import PILLOW_FORMATS, TYPE_NAMES
from catdog.settings import DEFAULT_MAX_PIXELS

#: Names what ``model_input`` does to a photo's pixels; with Pillow's version it is part of the key of
#: every cache of decoded photos in training, so a change to decoding or resizing that moves a pixel, or
#: another Pillow, decodes the photos again instead of training or scoring on stale pixels. Change it
#: with any such change here.
DECODER = "served decode"
#: The resampling filter of the one resize. Bilinear (with Pillow's antialiasing when shrinking).
RESAMPLE = Image.Resampling.BILINEAR
#: A decode keeps at least this many times the model's input on each side before the final resize.
REDUCING_GAP = 2
#: Source rows converted at a time: every copy made while converting a large image is one band.
BAND_ROWS = 512
#: Decodes whose buffers are estimated above this run one at a time in a process, so the threads of
#: ``catdog classify --workers N`` cannot hold N of the largest images at once.
LARGE_DECODE_BYTES = 64 * 1024 * 1024
_large_decode = threading.Lock()
#: Formats whose decoder holds more copies of the image get this fraction of ``max_pixels``. Pillow
#: decodes every WebP through libwebp's animation decoder, which allocates a canvas and the previous
#: canvas as soon as the file is opened; then the frame is copied and decoded into the image: four
#: RGBA copies, 16 bytes a pixel, where every other format needs at most 8 (bench_memory.py).
PIXEL_CAP_SHARE = {"WEBP": 2}
#: Rows an image may have. Pillow keeps an 8-byte pointer per row besides the pixels, so a 243 kB PNG
#: of 1 x 50,000,000 RGBA pixels peaked at 679 MB in the classify process (a 50 MP photo: 334 MB).
#: No photo comes near: JPEG and GIF stop at 65,535 rows, WebP at 16,383; 1,000,000 rows cost 8 MB.
MAX_ROWS = 1_000_000
# Pillow decodes an uncompressed TIFF itself with one Python tile per strip, all made when the file is
# opened, before any check: a 20 MB TIFF of 2.9 million one-row strips took 1.1 GB and 33 s. libtiff,
# which already decodes every compressed TIFF, reads it as one tile (0.5 s, 140 MB).
TiffImagePlugin.READ_LIBTIFF = True
# Pillow only warns between its MAX_IMAGE_PIXELS and twice that; every excess is an error here, as
# Pillow's docs advise for untrusted images. Set once for the process: ``warnings.catch_warnings`` swaps
# the process's one filter list, and threads that entered and left it at once lost the filter midway
# (a warning printed between a bulk run's progress lines) or left it set for good.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
#: raising Pillow's cap is a check and a write; two threads with different caps must not interleave them
_pillow_cap = threading.Lock()

#: EXIF orientation -> the transpose that makes the stored pixels upright.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_HIGH_BIT_DEPTH = ("I", "F")
_TRANSPARENT = ("RGBA", "LA", "PA", "RGBa", "La")
_OBJECT_REPR = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")
_BOMB_SIZE = re.compile(r"Image size \((\d+) pixels\)")


class InvalidImage(ValueError):
    """The input is not a decodable image (empty, truncated, text, unsupported format)."""

    code = "invalid_image"


class EmptyImage(InvalidImage):
    """The file or object has no bytes at all."""

    code = "empty"


class MissingImage(InvalidImage):
    """The path names no file: the code the CLI's rows and the functions' labels give a missing object."""

    code = "not_found"


class ImageTooLarge(InvalidImage):
    """The image has more pixels than the configured cap (a decompression-bomb guard)."""

    code = "too_many_pixels"


ImageSource = bytes | bytearray | memoryview | str | os.PathLike | BinaryIO | Image.Image


def load_image(
    source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, size: int | None = None
) -> Image.Image:
    """Decode ``source`` into an upright RGB image.

    ``source`` is the file's bytes, a path, an open binary file (read to its end: an upload's stream) or
    an image opened with ``Image.open`` (its first frame is used, and it is left there). EXIF orientation
    is applied (phone photos are stored sideways; a damaged EXIF block leaves the photo as stored), any mode
    (CMYK, L, P, RGBA, I;16, F, ...) becomes RGB, and only the first frame of an animation is used.
    With ``size`` (the model's input side) the image may come back smaller, never under twice ``size``
    on a side, so that decoding never needs much more memory than the file's own pixels.

    Raises ``InvalidImage`` for whatever cannot be decoded, whichever way the decoder fails, and
    ``ImageTooLarge`` for more than ``max_pixels`` pixels.
    """
    if isinstance(source, Image.Image):
        if source._im is None and getattr(source, "fp", None) is None:  # neither pixels nor a file: closed
            raise ValueError("the image was closed before its pixels were read: use it inside its `with`")
        return _decode(source, None, max_pixels, size)
    if hasattr(source, "read"):  # a file opened in binary, a web framework's upload
        source = source.read()
        if not isinstance(source, bytes):
            raise TypeError(f"a file read as {type(source).__name__}: open it in binary mode ('rb')")
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise EmptyImage("the file is empty")
        stream = io.BytesIO(source)
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise MissingImage(f"not a file: {path}")
        if path.stat().st_size == 0:
            raise EmptyImage("the file is empty")
        stream = path.open("rb")
    else:
        raise TypeError(
            f"cannot read an image from type {type(source).__name__}: pass bytes, a path, a binary file or "
            "a PIL image (pixels already decoded go to Classifier.classify_pixels, after catdog.model_input)"
        )
    with stream:
        return _decode(None, stream, max_pixels, size)


def _decode(image: Image.Image | None, stream, max_pixels: int, size: int | None) -> Image.Image:
    """Open (unless given), check, decode and convert; every decoder failure becomes ``InvalidImage``."""
    if max_pixels > (Image.MAX_IMAGE_PIXELS or max_pixels):  # once a process: no lock per image
        with _pillow_cap:
            # Pillow's own cap (89.5 MP) stays a second guard, but never below the configured one; only
            # ever raised, so threads with different limits cannot undercut each other
            if max_pixels > (Image.MAX_IMAGE_PIXELS or max_pixels):
                Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        if image is None:
            _check_webp_header(stream, max_pixels)  # before Image.open allocates its canvas
            image = Image.open(stream, formats=PILLOW_FORMATS)
        elif image.tell() != 0:
            image.seek(0)
        _check_pixels(image.size, max_pixels, image.format)
        if size and stream is not None and image.format in ("JPEG", "MPO"):
            image.draft(None, (REDUCING_GAP * size, REDUCING_GAP * size))
        with _large_decode if _decode_bytes(image) > LARGE_DECODE_BYTES else nullcontext():
            image.load()
            orientation = _orientation(image)
            rgb = _shrunk_rgb(image, _factor(image.size, size))
        transpose = _ORIENTATION.get(orientation)
        return rgb.transpose(transpose) if transpose is not None else rgb
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard speaks first for an image far above its cap: in the configured cap's words
        found = _BOMB_SIZE.search(str(exc))
        pixels = f"{int(found[1]):,} pixels" if found else "more pixels"
        raise ImageTooLarge(f"image has {pixels}, above the cap of {max_pixels:,}") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage(f"the file is not a {TYPE_NAMES} image") from exc
    except MemoryError:
        raise  # not a fact about the file: the same file may fit in more memory
    except Exception as exc:  # a decoder fails in many ways; each means a bad file
        kind = f"{image.format} " if image is not None and image.format else ""
        raise InvalidImage(f"the {kind}file is damaged or truncated: {_words(exc)}") from exc


def _words(exc: Exception) -> str:
    """The exception's message without object reprs (``<_io.BytesIO object at 0x...>``)."""
    text = _OBJECT_REPR.sub("the file", str(exc)).strip()
    return text or type(exc).__name__


def _check_pixels(size: tuple[int, int], max_pixels: int, fmt: str | None = None) -> None:
    width, height = size
    if height > MAX_ROWS:
        raise ImageTooLarge(f"image is {width}x{height}: more than {MAX_ROWS:,} rows")
    cap = max_pixels // PIXEL_CAP_SHARE.get(fmt, 1)
    if width * height > cap:
        of = " for a WebP image" if fmt == "WEBP" else ""
        raise ImageTooLarge(
            f"image is {width}x{height} = {width * height:,} pixels, above the cap of {cap:,}{of}"
        )


def _check_webp_header(stream, max_pixels: int) -> None:
    """Refuse a WebP whose header claims too many pixels before Pillow opens it (and libwebp allocates
    two canvases of that size)."""
    head = stream.read(30)
    stream.seek(0)
    if len(head) < 30 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return
    chunk = head[12:16]
    if chunk == b"VP8 ":  # lossy: 14-bit sizes after the key frame's start code
        size = int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF
    elif chunk == b"VP8L":  # lossless: 14 bits each, minus one, after the signature byte
        bits = int.from_bytes(head[21:25], "little")
        size = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b"VP8X":  # extended (alpha, animation, metadata): the canvas, 24 bits each, minus one
        size = int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    else:
        return
    _check_pixels(size, max_pixels, "WEBP")


def _decode_bytes(image: Image.Image) -> int:
    """Roughly what decoding ``image`` allocates: its pixels (Pillow keeps 1, 2 or 4 bytes each) and,
    for a progressive JPEG, libjpeg's coefficients of the whole image at full scale."""
    width, height = image.size
    pixels = width * height * (1 if image.mode in ("1", "L", "P") else 4)
    if image.format in ("JPEG", "MPO") and image.info.get("progressive"):
        scale = image.decoderconfig[0] if getattr(image, "decoderconfig", None) else 1
        pixels += width * height * scale * scale * 2 * len(image.getbands())
    return pixels


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation, 1 (as stored) when there is none or the EXIF block cannot be read."""
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # damaged metadata leaves the pixels usable
        return 1
    return value if isinstance(value, int) else 1


def _factor(image_size: tuple[int, int], size: int | None) -> tuple[int, int]:
    """The whole shrink factor per axis that keeps ``REDUCING_GAP * size`` pixels on each side."""
    if not size:
        return 1, 1
    keep = REDUCING_GAP * size
    return tuple(max(1, side // keep) for side in image_size)


def _shrunk_rgb(image: Image.Image, factor: tuple[int, int]) -> Image.Image:
    """``image`` as RGB, shrunk by ``factor`` (a box filter), converted ``BAND_ROWS`` rows at a time."""
    if image.mode == "RGB":
        return image if factor == (1, 1) else image.reduce(factor)
    width, height = image.size
    scale = _grey_scale(image) if image.mode.startswith(_HIGH_BIT_DEPTH) else None
    grey = scale is not None or image.mode in ("1", "L")  # shrunk as one channel, made RGB at the end
    result = Image.new("L" if grey else "RGB", (math.ceil(width / factor[0]), math.ceil(height / factor[1])))
    rows = max(1, BAND_ROWS // factor[1]) * factor[1]
    for top in range(0, height, rows):
        band = _band_8bit(image.crop((0, top, width, min(height, top + rows))), scale, grey)
        result.paste(band.reduce(factor) if factor != (1, 1) else band, (0, top // factor[1]))
    return result.convert("RGB") if grey else result


def _grey_scale(image: Image.Image) -> tuple[float, float]:
    """16-bit, 32-bit and float greyscale: the real range, which is scaled to 0..255, not clipped."""
    low, high = image.getextrema()
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return 0.0, 0.0
    return float(low), 255.0 / (float(high) - float(low))


def _band_8bit(band: Image.Image, scale: tuple[float, float] | None, grey: bool) -> Image.Image:
    """One band as 8-bit: L for greyscale sources, else RGB."""
    if scale is not None:
        low, factor = scale
        with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN pixels end as 0 or 255
            values = (np.asarray(band, dtype=np.float32) - low) * factor
        return Image.fromarray(np.clip(np.nan_to_num(values), 0, 255).astype(np.uint8), "L")
    if grey:
        return band.convert("L")
    if band.mode in _TRANSPARENT or (band.mode == "P" and "transparency" in band.info):
        # Transparent pixels become white, as a browser shows them, not whatever colour they hide.
        rgba = band.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return band.convert("RGB")


def preprocess(image: Image.Image, size: int) -> np.ndarray:
    """Resize an RGB image (as ``load_image`` returns it) to ``size`` x ``size`` and return it as a uint8
    batch ``(1, size, size, 3)``.

    The whole frame is resized (no crop), as the training photos were: a subject near the edge of a
    wide photo is never cut away. Another mode is refused, not converted: a 16-bit, float or transparent
    image needs ``load_image``'s conversion (Pillow's own made a 16-bit photo white, transparency black).
    """
    if image.mode != "RGB":
        raise ValueError(
            f"preprocess takes an RGB image, got mode {image.mode}: pass it through catdog.load_image "
            "first, or take catdog.model_input(image, size)"
        )
    if image.size != (size, size):
        image = image.resize((size, size), RESAMPLE)
    return np.asarray(image, dtype=np.uint8)[np.newaxis]


def decoder_key() -> str:
    """The decoding's part of a cache key: ``DECODER`` and the Pillow that decodes."""
    return f"{DECODER}|Pillow {Image.__version__}"


def model_input(source: ImageSource, size: int, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The uint8 pixels ``(size, size, 3)`` the model sees for a photo: ``load_image`` bounded by the
    model's size, then ``preprocess``. Serving, evaluation and training all call this, so a large photo
    reaches the model as the same pixels whoever decodes it."""
    return preprocess(load_image(source, max_pixels=max_pixels, size=size), size)[0]
