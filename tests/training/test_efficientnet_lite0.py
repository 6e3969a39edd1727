"""The EfficientNet-Lite0 port is right: real photos get the ImageNet classes they should.

A wrong transpose, padding, epsilon or normalization does not crash, it silently gives a worse network;
classifying real photos into ImageNet's 1000 classes is what catches it.
"""

from __future__ import annotations

import numpy as np
import pytest

from catdog import load_image, preprocess

keras = pytest.importorskip("keras")
from training.backbones import efficientnet_lite0, torch_legacy  # noqa: E402

IMAGENET_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
IMAGENET_DOGS = range(151, 269)  # Chihuahua .. Mexican hairless
SIZE = 224


def _pixels(paths, size=SIZE) -> np.ndarray:
    return np.concatenate([preprocess(load_image(path), size) for path in paths])


@pytest.fixture(scope="module")
def imagenet_model():
    return efficientnet_lite0.build(SIZE, include_top=True)


@pytest.fixture(scope="module")
def photos(cat_photos, dog_photos):
    return _pixels(cat_photos), _pixels(dog_photos)


def _top1(probabilities: np.ndarray) -> np.ndarray:
    return np.argmax(probabilities, axis=1)


def test_given_real_cat_and_dog_photos_when_the_port_classifies_them_then_top1_is_an_imagenet_cat_or_dog(
    imagenet_model, photos
):
    cats, dogs = photos
    cat_top1 = _top1(imagenet_model.predict(cats, verbose=0))
    dog_top1 = _top1(imagenet_model.predict(dogs, verbose=0))
    # Measured: 16/20 cats (the rest: a quilt, a dishrag, a prison, a spaniel) and 20/20 dogs.
    # A miswired port scores near chance: 5/1000 and 118/1000 of the classes.
    assert np.isin(cat_top1, IMAGENET_CATS).sum() >= 15, cat_top1
    assert np.isin(dog_top1, IMAGENET_DOGS).sum() >= 19, dog_top1


def test_given_a_cut_when_the_split_halves_are_composed_then_they_equal_the_whole_network(photos):
    whole = efficientnet_lite0.build(SIZE)
    bottom, top = efficientnet_lite0.build_split(SIZE, 11)
    pixels = photos[0][:4].astype(np.float32)
    np.testing.assert_allclose(
        top.predict(bottom.predict(pixels, verbose=0), verbose=0), whole.predict(pixels, verbose=0), atol=1e-4
    )


def test_given_an_impossible_cut_when_splitting_then_a_clear_error():
    with pytest.raises(ValueError, match="cut must be a block index"):
        efficientnet_lite0.build_split(SIZE, 16)


def test_given_the_packaged_file_when_read_without_torch_then_tensors_have_their_logical_shapes():
    state = torch_legacy.load_state_dict(efficientnet_lite0.packaged_weights())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_fc.weight"].dtype == np.float32
    assert np.all(state["_bn0.running_var"] >= 0)


def test_given_a_truncated_weights_file_when_read_then_torch_file_error(tmp_path):
    data = efficientnet_lite0.packaged_weights().read_bytes()
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(torch_legacy.TorchFileError, match="truncated"):
        torch_legacy.load_state_dict(truncated)


def test_given_a_pickle_that_calls_a_function_when_read_then_it_is_refused_before_running(tmp_path):
    import os
    import pickle

    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pth"
    with path.open("wb") as stream:
        for header in (torch_legacy.MAGIC_NUMBER, torch_legacy.PROTOCOL_VERSION, {"little_endian": True}):
            pickle.dump(header, stream, protocol=2)
        pickle.dump({"weight": Exploit()}, stream, protocol=2)
    with pytest.raises(torch_legacy.TorchFileError, match="refusing to unpickle"):
        torch_legacy.load_state_dict(path)


def test_given_a_file_that_is_not_a_legacy_torch_file_when_read_then_torch_file_error(tmp_path, cat_photos):
    with pytest.raises(torch_legacy.TorchFileError):
        torch_legacy.load_state_dict(cat_photos[0])


@pytest.mark.slow
def test_given_the_port_when_exported_full_int8_then_litert_agrees_with_the_float_model(
    imagenet_model, photos, tmp_path
):
    pytest.importorskip("tensorflow")
    from catdog import Classifier
    from training import export

    cats, dogs = photos
    pixels = np.concatenate([cats, dogs])
    folder = export.export_model(
        imagenet_model, tmp_path / "int8", representative=pixels, labels=[str(i) for i in range(1000)]
    )
    int8 = Classifier(folder).predict(pixels)
    float32 = imagenet_model.predict(pixels, verbose=0)

    def group(top1):
        return np.where(np.isin(top1, IMAGENET_CATS), 0, np.where(np.isin(top1, IMAGENET_DOGS), 1, 2))

    # Among 1000 classes near-ties (tabby vs tiger cat) may flip; cat-vs-dog-vs-other must not.
    assert np.mean(_top1(int8) == _top1(float32)) >= 0.8
    assert np.mean(group(_top1(int8)) == group(_top1(float32))) >= 0.95
    assert np.abs(int8 - float32).max() < 0.25
