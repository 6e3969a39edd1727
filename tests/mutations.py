"""Seeded mutations of real sample files in every accepted format, for the fuzz tests.

``seed_files`` encodes fixture photos as each accepted format (and the modes and options a camera,
an editor or a scanner writes); ``mutants`` yields damaged copies of them: bit flips, overwritten
bytes, truncations, duplicated and deleted chunks. The same seed gives the same files every run, and
each mutant says how it was made, so a failure is reproducible from its description alone.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

#: Every error code a label can carry for a bad image (the rest are about S3, not the bytes).
IMAGE_ERROR_CODES = {"invalid_image", "empty", "too_many_pixels", "too_large"}
#: Small on purpose: a mutant whose header claims more pixels is refused before it is decoded.
FUZZ_MAX_PIXELS = 1_000_000


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def seed_files(photos: list[Path]) -> dict[str, bytes]:
    """Name -> bytes: a real photo as it is, and small re-encodings in every accepted format and mode."""
    first, second, third = (Image.open(p).convert("RGB").resize((64, 48)) for p in photos[:3])
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Phone"
    rgba = first.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(first.size))
    grey16 = Image.fromarray(np.asarray(first.convert("L"), dtype=np.uint16) * 250)
    grey_float = Image.fromarray(np.asarray(first.convert("L"), dtype=np.float32) / 255)
    paletted = first.quantize(32)
    paletted.info["transparency"] = 0
    return {
        "photo.jpg": photos[0].read_bytes(),
        "exif.jpg": _encode(first, "JPEG", exif=exif),
        "progressive.jpg": _encode(first, "JPEG", progressive=True),
        "cmyk.jpg": _encode(first.convert("CMYK"), "JPEG"),
        "mpo.jpg": _encode(first, "MPO", save_all=True, append_images=[second]),
        "rgb.png": _encode(first, "PNG"),
        "rgba.png": _encode(rgba, "PNG"),
        "palette.png": _encode(paletted, "PNG"),
        "grey16.png": _encode(grey16, "PNG"),
        "animated.gif": _encode(first, "GIF", save_all=True, append_images=[second, third]),
        "lossy.webp": _encode(first, "WEBP", quality=60),
        "lossless.webp": _encode(rgba, "WEBP", lossless=True),
        "animated.webp": _encode(first, "WEBP", save_all=True, append_images=[second]),
        "rgb.bmp": _encode(first, "BMP"),
        "palette.bmp": _encode(first.quantize(16), "BMP"),
        "raw.tif": _encode(first, "TIFF"),
        "deflate.tif": _encode(rgba, "TIFF", compression="tiff_adobe_deflate"),
        "float.tif": _encode(grey_float, "TIFF"),
        "grey16-lzw.tif": _encode(grey16, "TIFF", compression="tiff_lzw"),
        "jpeg.tif": _encode(first, "TIFF", compression="jpeg"),
    }


@dataclass(frozen=True)
class Mutant:
    seed: str
    how: str
    data: bytes


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One damaged copy of ``data`` and how it was made."""
    size = len(data)
    # Headers and chunk tables are where a decoder trusts numbers; hit them half the time.
    where = (lambda: rng.randrange(min(size, 96))) if rng.random() < 0.5 else (lambda: rng.randrange(size))
    kind = rng.choice(["flip", "flip", "overwrite", "truncate", "duplicate", "delete"])
    mutated = bytearray(data)
    if kind == "flip":
        positions = [(where(), rng.randrange(8)) for _ in range(rng.randint(1, 8))]
        for position, bit in positions:
            mutated[position] ^= 1 << bit
        return f"flip bits {positions}", bytes(mutated)
    if kind == "overwrite":
        writes = [(where(), rng.choice([0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)])) for _ in range(4)]
        for position, value in writes:
            mutated[position] = value
        return f"overwrite {writes}", bytes(mutated)
    if kind == "truncate":
        cut = rng.randrange(1, size)
        return f"truncate at {cut}", data[:cut]
    start = where()
    length = rng.randint(1, max(1, min(size - start, 512)))
    if kind == "duplicate":
        at = rng.randrange(size)
        return f"duplicate [{start}:{start + length}] at {at}", data[:at] + data[
            start : start + length
        ] + data[at:]
    return f"delete [{start}:{start + length}]", data[:start] + data[start + length :]


def mutants(seeds: dict[str, bytes], count: int, seed: int) -> Iterator[Mutant]:
    """``count`` mutants spread evenly over the seed files, reproducible from ``seed``."""
    rng = random.Random(seed)
    names = sorted(seeds)
    for i in range(count):
        name = names[i % len(names)]
        how, data = mutate(seeds[name], rng)
        yield Mutant(name, how, data)


def known_crashers(seeds: dict[str, bytes]) -> list[Mutant]:
    """Mutants that crashed release 1.3.0's decoding, so a fuzz run always includes them: an EXIF tag
    that Pillow cannot write back (struct.error) and an animated GIF cut mid-frame (IndexError)."""
    exif = seeds["exif.jpg"]
    assert exif.count(b"\x01\x0f\x00\x02") == 1  # tag 0x010F (Make), type ASCII, big-endian EXIF
    bad_tag = exif.replace(b"\x01\x0f\x00\x02", b"\x01\x52\x00\x02")  # now 0x0152, a number tag
    return [
        Mutant("exif.jpg", "EXIF tag 0x0152 holding text", bad_tag),
        Mutant("animated.gif", "truncate at 5013", seeds["animated.gif"][:5013]),
    ]
