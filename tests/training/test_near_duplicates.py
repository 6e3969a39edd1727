"""Near copies of training photos among held-out photos (training/near_duplicates.py), on real photos
and the real ImageNet EfficientNet-Lite0."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("keras")

from catdog import model_input
from training.near_duplicates import SIZE, embedder, features, figures_without, nearest_either_way


def _copy_of(photo: Path) -> bytes:
    """The photo as the web reposts it: mirrored, its edges cropped, re-encoded at a lower quality."""
    image = Image.open(photo).convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    width, height = image.size
    image = image.crop((width // 20, height // 20, width - width // 20, height - height // 20))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=60)
    return buffer.getvalue()


def test_given_a_reposted_copy_of_a_training_photo_when_held_out_then_it_is_found_and_others_are_not(
    cat_photos, dog_photos
):
    # GIVEN training photos, and held out: a mirrored, cropped, re-encoded copy of one of them and
    # photos of other cats and dogs
    train, copied = cat_photos[:8] + dog_photos[:8], dog_photos[3]
    held_out = [_copy_of(copied), *cat_photos[8:12], *dog_photos[8:12]]

    def pixels_of(sources):
        return np.stack([model_input(source, SIZE) for source in sources])

    # WHEN each held-out photo and its mirror is compared with the training photos
    embed = embedder()
    (pool,) = features(embed, pixels_of, train, chunk=5)  # chunks that do not divide the photos
    plain, mirrored = features(embed, pixels_of, held_out, mirrors=True)
    index, similarity, mirror = nearest_either_way(plain, mirrored, pool)

    # THEN the copy's nearest training photo is the one it was made from, through its mirror image, at
    # 0.90 or more (0.92 measured); no photo of another animal comes within 0.85 of a training photo
    assert train[index[0]] == copied and mirror[0] and similarity[0] >= 0.90
    assert similarity[1:].max() < 0.85
    assert plain.shape == mirrored.shape == (9, 1280)
    assert np.allclose(np.linalg.norm(pool, axis=1), 1, atol=1e-5)


def test_given_answers_and_similarities_when_counted_again_then_the_figure_without_the_close_photos():
    # GIVEN six photos, two of them right and at 0.97 and 0.91 from a training photo
    right = np.array([True, True, False, True, True, False])
    similarity = np.array([0.97, 0.91, 0.5, 0.6, 0.84, 0.7])

    # WHEN the figure is counted without the photos above each similarity
    figures = figures_without(right, similarity)

    # THEN 4 of 6 are right; without the 0.95 copy 3 of 5, without both close ones 2 of 4
    assert (figures["photos"], figures["right"], figures["share_right"]) == (
        6,
        4,
        pytest.approx(4 / 6, abs=1e-6),
    )
    assert figures["0.95"] == {"photos": 1, "right": 1, "share_right_without_them": 0.6}
    assert figures["0.90"] == {"photos": 2, "right": 2, "share_right_without_them": 0.5}
    assert figures["0.85"] == figures["0.90"]
