"""The "neither" branch reads ImageNet from the ORIGINAL weights, whatever fine-tuning did above the cut."""

from __future__ import annotations

import numpy as np
import pytest

from catdog import load_image, preprocess

SIZE, CUT = 96, 11


def test_given_a_fine_tuned_transfer_model_when_the_branch_is_added_then_it_is_the_imagenet_classifier(
    cat_photos, dog_photos
):
    import keras

    from training.backbones import efficientnet_lite0
    from training.neither import with_neither
    from training.transfer import _assemble, _head

    bottom, top = efficientnet_lite0.build_split(SIZE, CUT)
    for layer in top.layers:  # what fine-tuning does: the blocks above the cut move away from ImageNet
        layer.set_weights([w + np.float32(0.05) for w in layer.get_weights()])
    model = _assemble(bottom, top, _head(1280, 2, 0.2), efficientnet_lite0.NAME)
    imagenet = efficientnet_lite0.build(SIZE, include_top=True)
    pixels = np.concatenate([preprocess(load_image(p), SIZE) for p in cat_photos[:2] + dog_photos[:2]])

    probabilities, logits = with_neither(model)(pixels.astype(np.float32))

    assert np.asarray(probabilities) == pytest.approx(np.asarray(model(pixels.astype(np.float32))), abs=1e-6)
    expected = np.asarray(imagenet(pixels.astype(np.float32)))
    assert np.asarray(keras.ops.softmax(logits)) == pytest.approx(expected, abs=1e-5)
