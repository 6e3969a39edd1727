"""The "neither" branch reads ImageNet from the ORIGINAL weights, whatever fine-tuning did, from the block
where it leaves the network."""

from __future__ import annotations

import numpy as np
import pytest

from catdog import load_image, preprocess

SIZE, CUT = 96, 11


@pytest.fixture(scope="module")
def fine_tuned(cat_photos, dog_photos):
    """A transfer model whose blocks above the cut moved away from ImageNet, as fine-tuning moves them,
    and four real photos."""
    import keras

    from training.backbones import efficientnet_lite0
    from training.transfer import _assemble, _head

    bottom, top = efficientnet_lite0.build_split(SIZE, CUT)
    for layer in top.layers:
        layer.set_weights([w + np.float32(0.05) for w in layer.get_weights()])
    model = _assemble(bottom, top, _head(1280, 2, 0.2), efficientnet_lite0.NAME)
    pixels = np.concatenate([preprocess(load_image(p), SIZE) for p in cat_photos[:2] + dog_photos[:2]])
    return model, keras.ops.convert_to_numpy(pixels.astype(np.float32))


def test_given_a_fine_tuned_model_when_the_branch_leaves_at_the_cut_then_it_is_the_imagenet_classifier(
    fine_tuned,
):
    import keras

    from training.backbones import efficientnet_lite0
    from training.neither import with_neither

    model, pixels = fine_tuned
    imagenet = efficientnet_lite0.build(SIZE, include_top=True)

    probabilities, logits = with_neither(model, branch=CUT)(pixels)

    assert np.asarray(probabilities) == pytest.approx(np.asarray(model(pixels)), abs=1e-6)
    assert np.asarray(keras.ops.softmax(logits)) == pytest.approx(np.asarray(imagenet(pixels)), abs=1e-5)


def test_given_a_fine_tuned_model_when_the_branch_leaves_at_block_15_then_original_block_15_reads_tuned_14(
    fine_tuned,
):
    import keras

    from training.backbones import efficientnet_lite0
    from training.neither import imagenet_branch, with_neither

    model, pixels = fine_tuned
    bottom = model.get_layer(f"{efficientnet_lite0.NAME}_blocks_0_{CUT - 1}")
    top = model.get_layer(f"{efficientnet_lite0.NAME}_blocks_{CUT}_top")
    tuned_14 = keras.Model(top.input, top.get_layer("block14_add").output)
    _, original_top = efficientnet_lite0.build_split(SIZE, CUT)
    original_14 = keras.Model(original_top.input, original_top.get_layer("block14_add").output)

    combined = with_neither(model)
    probabilities, logits = combined(pixels)

    assert np.asarray(probabilities) == pytest.approx(np.asarray(model(pixels)), abs=1e-6)
    expected = np.asarray(imagenet_branch(SIZE, 15)(tuned_14(bottom(pixels))))
    assert np.asarray(logits) == pytest.approx(expected, abs=1e-4)
    # the branch adds block 15, the head and the classifier once, not a second copy of blocks 11-14
    unshifted = np.asarray(imagenet_branch(SIZE, 15)(original_14(bottom(pixels))))
    assert np.abs(np.asarray(logits) - unshifted).max() > 1e-2
    assert combined.count_params() - model.count_params() < 2.4e6


def test_given_a_branch_below_the_cut_when_added_then_a_clear_error(fine_tuned):
    from training.neither import with_neither

    with pytest.raises(ValueError, match="from the cut"):
        with_neither(fine_tuned[0], branch=CUT - 1)
