"""The EfficientNet-Lite1 and -Lite2 ports are right: real photos get the ImageNet classes they should.

The same proof as Lite0's (test_efficientnet_lite0.py): a wrong width or depth rule does not load at all
(every parameter of the file must be used, with its shape), a wrong layer order or padding loads but
classifies real photos near chance.
"""

from __future__ import annotations

import numpy as np
import pytest

from catdog import load_image, preprocess

keras = pytest.importorskip("keras")
from training.backbones import efficientnet_lite  # noqa: E402

pytestmark = pytest.mark.slow
IMAGENET_CATS = range(281, 286)
IMAGENET_DOGS = range(151, 269)


def _pixels(paths, size) -> np.ndarray:
    return np.concatenate([preprocess(load_image(path), size) for path in paths]).astype(np.float32)


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_given_real_photos_at_the_native_size_when_lite1_or_lite2_classifies_them_then_top1_is_a_cat_or_dog(
    name, cat_photos, dog_photos
):
    spec = efficientnet_lite.spec(name)
    model = efficientnet_lite.build(spec=spec, include_top=True)
    cats = model.predict(_pixels(cat_photos, spec.native_size), verbose=0).argmax(axis=1)
    dogs = model.predict(_pixels(dog_photos, spec.native_size), verbose=0).argmax(axis=1)
    # Measured: 15/20 cats and 20/20 dogs for both (Lite0: 16/20, 20/20); chance is 5/1000, 118/1000.
    assert np.isin(cats, IMAGENET_CATS).sum() >= 14, cats
    assert np.isin(dogs, IMAGENET_DOGS).sum() >= 19, dogs


def test_given_the_scaling_rules_when_applied_then_they_give_the_published_block_layouts():
    lite1, lite2 = efficientnet_lite.spec("efficientnet_lite1"), efficientnet_lite.spec("efficientnet_lite2")
    # first and last stage keep one block; the others are ceil(depth * blocks)
    assert [stage[-1] for stage in lite1.stages] == [1, 3, 3, 4, 4, 5, 1]
    assert [stage[-1] for stage in lite2.stages] == [1, 3, 3, 4, 4, 5, 1]
    assert [stage[3] for stage in lite1.stages] == [16, 24, 40, 80, 112, 192, 320]
    assert [stage[3] for stage in lite2.stages] == [16, 24, 48, 88, 120, 208, 352]
    assert (lite1.num_blocks, lite2.num_blocks, lite2.native_size) == (21, 21, 260)


def test_given_lite2_cut_in_two_when_composed_then_it_equals_the_whole_network(cat_photos):
    spec = efficientnet_lite.spec("efficientnet_lite2")
    whole = efficientnet_lite.build(128, spec=spec)
    bottom, top = efficientnet_lite.build_split(128, 15, spec=spec)
    pixels = _pixels(cat_photos[:2], 128)
    np.testing.assert_allclose(
        top.predict(bottom.predict(pixels, verbose=0), verbose=0), whole.predict(pixels, verbose=0), atol=1e-4
    )


def test_given_another_variants_weights_when_loaded_then_the_misfit_parameter_is_named_with_both_shapes():
    lite0 = efficientnet_lite.spec("efficientnet_lite0")
    # lite0's block 3 starts stage 3 (kernel 5), lite2's is still in stage 2 (kernel 3)
    with pytest.raises(
        ValueError,
        match=r"_blocks\.3\._depthwise_conv\.weight of shape \(144, 1, 3, 3\) does not fit "
        r"block3_dw_conv's kernel of shape \(5, 5, 144, 1\)",
    ):
        efficientnet_lite.build(
            64,
            spec=lite0,
            weights=efficientnet_lite.packaged_weights(efficientnet_lite.spec("efficientnet_lite2")),
        )


def test_given_weights_with_every_parameter_and_one_more_when_loaded_then_the_extra_one_is_named(monkeypatch):
    lite0 = efficientnet_lite.spec("efficientnet_lite0")
    state = efficientnet_lite.load_weights(lite0)
    extra = "_blocks.16._expand_conv.weight"  # as if from a deeper variant: lite0 has blocks 0..15
    monkeypatch.setattr(efficientnet_lite, "load_weights", lambda spec, weights: state)
    efficientnet_lite.build(64, spec=lite0)  # as packaged, every parameter fits and is used
    more = state | {extra: np.zeros((1920, 320, 1, 1), np.float32)}
    monkeypatch.setattr(efficientnet_lite, "load_weights", lambda spec, weights: more)

    with pytest.raises(ValueError, match=r"does not use: \['_blocks\.16\._expand_conv\.weight'\]"):
        efficientnet_lite.build(64, spec=lite0)


def test_given_an_unknown_variant_when_asked_then_the_known_ones_are_named():
    with pytest.raises(ValueError, match="efficientnet_lite2"):
        efficientnet_lite.spec("efficientnet_lite9")
