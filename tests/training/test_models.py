"""The model registry's own checks, made before Keras builds anything."""

from __future__ import annotations

import pytest

pytest.importorskip("keras")
from training import models


@pytest.mark.parametrize(
    ("options", "smallest", "why"),
    [
        ({}, 63, "stem stride 2, 5 pooling blocks"),
        ({"stem_stride": 1}, 32, "stem stride 1, 5 pooling blocks"),
        ({"filters": (32, 64, 128)}, 15, "stem stride 2, 3 pooling blocks"),
    ],
)
def test_given_a_cnn_size_below_what_its_stride_and_pools_allow_when_built_then_one_line_naming_the_minimum(
    options, smallest, why
):
    with pytest.raises(ValueError) as error:
        models.build("cnn", smallest - 1, **options)

    assert str(error.value) == (
        f"input size {smallest - 1} is too small for cnn with these options ({why}): at least {smallest} px"
    )
    assert models.build("cnn", smallest, **options).output_shape == (None, 2)
