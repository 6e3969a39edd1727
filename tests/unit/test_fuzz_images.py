"""A seeded, bounded fuzz of ``load_image``: thousands of damaged copies of real sample files in every
accepted format. Every one must end as an RGB image or an ``InvalidImage`` with a known code and a
message in words; nothing else may escape (release 1.3.0 let IndexError, struct.error and others out)."""

from __future__ import annotations

import io
import re

import pytest
from mutations import FUZZ_MAX_PIXELS, IMAGE_ERROR_CODES, known_crashers, mutants, seed_files
from PIL import Image

from catdog import InvalidImage, load_image

# Pillow warns about every damaged EXIF or TIFF tag it skips; thousands of them say nothing here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MUTANTS = 4000
SEED = 13


def test_given_thousands_of_damaged_sample_files_when_loaded_then_each_is_an_image_or_invalid_image(
    cat_photos, dog_photos
):
    seeds = seed_files([cat_photos[0], dog_photos[0], cat_photos[1]])
    assert {Image.open(io.BytesIO(data)).format for data in seeds.values()} >= {
        "JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF"
    }  # fmt: skip
    escaped, outcomes = [], {"image": 0, **dict.fromkeys(IMAGE_ERROR_CODES, 0)}

    for i, mutant in enumerate([*known_crashers(seeds), *mutants(seeds, MUTANTS, SEED)]):
        try:
            image = load_image(mutant.data, max_pixels=FUZZ_MAX_PIXELS, size=None if i % 2 else 32)
            assert image.mode == "RGB" and min(image.size) > 0
            outcomes["image"] += 1
        except InvalidImage as exc:
            message = str(exc)
            if exc.code not in IMAGE_ERROR_CODES or re.search(r"0x[0-9a-f]{6}|<_io", message):
                escaped.append(f"{mutant.seed} {mutant.how}: {exc.code} {message!r}")
            outcomes[exc.code] += 1
        except Exception as exc:
            escaped.append(f"{mutant.seed} {mutant.how}: {type(exc).__name__}: {exc}")

    assert escaped == [], f"{len(escaped)} of {MUTANTS} escaped; first: {escaped[:5]}"
    assert outcomes["image"] > MUTANTS // 10 and outcomes["invalid_image"] > MUTANTS // 10
