"""The transfer recipe on real photos: cached activations, frozen head, fine-tuning, one raw-pixel model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from catdog import load_image, preprocess

keras = pytest.importorskip("keras")
from training import transfer  # noqa: E402
from training.backbones import efficientnet_lite0  # noqa: E402

pytestmark = pytest.mark.slow
SIZE, CUT = 64, 12


def test_given_a_run_when_it_ends_then_one_model_takes_raw_pixels_and_returns_probabilities(
    transfer_run, cat_photos
):
    _, _, result, _ = transfer_run
    pixels = preprocess(load_image(cat_photos[0]), SIZE).astype(np.float32)
    for model in (result.model, result.frozen_model):
        assert model.input_shape == (None, SIZE, SIZE, 3)
        probabilities = model.predict(pixels, verbose=0)
        assert probabilities.shape == (1, 2)
        np.testing.assert_allclose(probabilities.sum(), 1, rtol=1e-5)


def test_given_fine_tuning_when_it_ran_then_top_blocks_changed_but_batch_norm_statistics_did_not(
    transfer_run,
):
    _, _, result, _ = transfer_run
    tuned, frozen = result.model, result.frozen_model

    def top_layer(model, name):
        (top,) = [layer for layer in model.layers if layer.name.endswith("_top")]
        return top.get_layer(name)

    kernel = "block15_project_conv"
    assert not np.allclose(
        top_layer(tuned, kernel).get_weights()[0], top_layer(frozen, kernel).get_weights()[0]
    )
    for statistic in (2, 3):  # moving mean and variance: kept from ImageNet
        np.testing.assert_array_equal(
            top_layer(tuned, "head_bn").get_weights()[statistic],
            top_layer(frozen, "head_bn").get_weights()[statistic],
        )


def test_given_a_run_when_saved_then_history_and_models_are_written(transfer_run):
    _, _, result, folder = transfer_run
    summary = json.loads((folder / "history.json").read_text())
    assert summary["config"]["cut"] == CUT
    assert set(summary["history"]) == {"frozen", "fine_tune"}
    assert set(result.metrics) >= {"frozen_test_accuracy", "fine_tuned_test_accuracy"}
    assert (folder / "model.keras").is_file() and (folder / "curves-fine_tune.png").is_file()
    reloaded = keras.models.load_model(folder / "model.keras")
    assert reloaded.count_params() == result.model.count_params()


def test_given_cached_activations_when_asked_again_then_the_backbone_does_not_run(
    transfer_run, tmp_path, dog_photos
):
    bottom, _ = efficientnet_lite0.build_split(SIZE, CUT)
    pixels = np.concatenate([preprocess(load_image(p), SIZE) for p in dog_photos[:3]])
    path = tmp_path / "activations.npy"
    first = transfer.cached_activations(bottom, pixels, path)

    def must_not_run(*_args, **_kwargs):
        raise AssertionError("the backbone ran again")

    again = transfer.cached_activations(must_not_run, pixels, path)
    np.testing.assert_array_equal(first, again)
    mirrored = bottom.predict(pixels[:, :, ::-1].astype(np.float32), verbose=0)
    np.testing.assert_allclose(first[:, 1], mirrored, atol=0.05, rtol=0.01)  # float16 storage
    assert not list(tmp_path.glob("*.partial.npy"))


def test_given_a_photo_replaced_in_place_when_the_activation_cache_is_named_then_it_is_another(
    tmp_path, cat_photos, dog_photos
):
    import shutil

    from training.config import TransferConfig
    from training.data import make_split, scan

    # GIVEN a split of a folder, and a training photo then replaced in place by another under its name
    for label, photos in (("cat", cat_photos), ("dog", dog_photos)):
        (tmp_path / label).mkdir()
        for photo in photos:
            shutil.copy(photo, tmp_path / label / photo.name)
    split = make_split(scan(tmp_path), seed=0)
    config = TransferConfig(input_size=64, cut=12, cache_dir=str(tmp_path / "cache"))
    before = transfer.activation_cache(config, "train", split)
    replaced = tmp_path / split.parts["train"][0].path
    shutil.copy(dog_photos[-1] if replaced.parent.name == "cat" else cat_photos[-1], replaced)

    # THEN its activations are computed again: the key held the paths alone, so the old photo's were used
    assert transfer.activation_cache(config, "train", split) != before
