"""keras.applications backbones: built offline from a local weights file, with their own preprocessing."""

from __future__ import annotations

import numpy as np
import pytest

from catdog import load_image, preprocess

keras = pytest.importorskip("keras")
from training import models  # noqa: E402
from training.backbones import applications, classifiers  # noqa: E402, F401  # classifiers registers them

SMALL_SIZES = {"vgg16": 32, "resnet50": 32, "inception_v3": 75}  # each network's minimum input


def _photos(cat_photos, dog_photos, size):
    paths = cat_photos[:2] + dog_photos[:2]
    return np.concatenate([preprocess(load_image(p), size) for p in paths]), np.array([0, 0, 1, 1])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL_SIZES))
def test_given_random_weights_when_training_one_step_then_only_the_head_learns(name, cat_photos, dog_photos):
    keras.utils.set_random_seed(0)
    size = SMALL_SIZES[name]
    model = models.build(name, size, weights=None)
    pixels, labels = _photos(cat_photos, dog_photos, size)
    backbone, head = model.get_layer(name), model.get_layer("probabilities")
    backbone_before = [w.copy() for w in backbone.get_weights()]
    head_before = head.get_weights()[0].copy()
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    history = model.fit(pixels.astype(np.float32), labels, batch_size=4, epochs=1, verbose=0)

    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(head.get_weights()[0], head_before)
    assert all(np.array_equal(a, b) for a, b in zip(backbone.get_weights(), backbone_before, strict=True))
    probabilities = model.predict(pixels.astype(np.float32), verbose=0)
    assert probabilities.shape == (4, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def test_given_a_local_weights_file_when_building_then_the_backbone_uses_it(tmp_path, cat_photos, dog_photos):
    keras.utils.set_random_seed(1)
    trained = applications.build("vgg16", 32)
    path = tmp_path / "vgg16_notop.weights.h5"
    trained.get_layer("vgg16").save_weights(path)
    keras.utils.set_random_seed(2)
    loaded = applications.build("vgg16", 32, weights=path)
    fresh = applications.build("vgg16", 32)
    pixels = _photos(cat_photos, dog_photos, 32)[0].astype(np.float32)

    np.testing.assert_allclose(
        loaded.predict(pixels, verbose=0), trained.predict(pixels, verbose=0), rtol=1e-5
    )
    assert not np.allclose(fresh.predict(pixels, verbose=0), trained.predict(pixels, verbose=0))


def test_given_a_missing_weights_file_when_building_then_the_error_names_the_file_to_download(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"resnet50_weights_tf_dim_ordering_tf_kernels_notop\.h5"):
        applications.build("resnet50", 32, weights=tmp_path / "nope.h5")


def test_given_an_unknown_backbone_or_tiny_input_when_building_then_value_error():
    with pytest.raises(ValueError, match="unknown backbone"):
        applications.build("alexnet")
    with pytest.raises(ValueError, match="at least 75 px"):
        applications.build("inception_v3", 32)


@pytest.mark.parametrize(("name", "module"), [("vgg16", "vgg16"), ("inception_v3", "inception_v3")])
def test_given_raw_pixels_when_the_model_preprocesses_them_then_it_matches_keras_own_function(
    name, module, cat_photos
):
    pixels = preprocess(load_image(cat_photos[0]), 75).astype(np.float32)
    layer = applications.ImagenetPreprocessing(applications.APPLICATIONS[name].preprocessing)
    expected = getattr(keras.applications, module).preprocess_input(pixels.copy())
    np.testing.assert_allclose(np.asarray(layer(pixels)), expected, rtol=1e-5, atol=1e-4)
