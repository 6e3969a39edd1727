"""Photos -> trained Keras model -> int8 and float TFLite -> catdog.Classifier, on real photos."""

import json
import shutil

import numpy as np
import pytest
from conftest import photo_folders

from catdog import Classifier, load_image, preprocess
from catdog.card import sha256_file

pytestmark = pytest.mark.slow
SIZE = 48


@pytest.fixture(scope="module")
def run(tmp_path_factory, cat_photos, dog_photos):
    """A real, if tiny, training run: 40 photos, 30 epochs, 48 px, exported and evaluated. Fewer epochs
    left some runs with answers all near 0.5 (spread 0.05-0.08), where int8's output steps dominate."""
    import keras

    from training.config import TrainConfig
    from training.data import load_arrays, make_split, scan
    from training.export import release
    from training.models import build
    from training.train import fit

    out = tmp_path_factory.mktemp("run")
    data = photo_folders(out / "data", cat_photos, dog_photos, names=("Cat", "Dog"))
    (data / "Dgo").mkdir()  # a misspelt class folder: ignored, and the card says so
    shutil.copy(dog_photos[0], data / "Dgo")
    split = make_split(scan(data), seed=0)
    arrays = load_arrays(split, SIZE, out / "cache")
    keras.utils.set_random_seed(0)  # the initial weights, whatever other tests drew from the generators
    config = TrainConfig(epochs=30, batch_size=4, learning_rate=3e-3, augment=0.2, input_size=SIZE)
    model = build("cnn", SIZE, stem_filters=8, filters=(16, 32), dense_units=16, dropout=0.0, bn_momentum=0.8)
    model = fit(model, arrays["train"], arrays["val"], out / "train", config)
    report = release(
        model,
        out / "release",
        split=split,
        arrays=arrays,
        name="tiny-cnn",
        version="0.0.1",
        float_dir=out / "float",
        training={"config": config.as_dict()},
    )
    return {"out": out, "model": model, "report": report}


def test_given_photos_when_trained_and_released_then_the_classifier_serves_the_card(run, cat_photos):
    release = run["out"] / "release"
    card = json.loads((release / "model.json").read_text())
    evaluation = json.loads((release / "evaluation" / "evaluation.json").read_text())

    prediction = Classifier(release).classify(cat_photos[0])

    assert prediction.label in ("cat", "dog")
    assert card["labels"] == ["cat", "dog"]
    assert card["sha256"] == sha256_file(release / "model.tflite")
    assert card["input"] | {"pixels": None} == {
        "size": SIZE,
        "shape": [1, SIZE, SIZE, 3],
        "dtype": "uint8",
        "scale": 1.0,
        "zero_point": 0,
        "pixels": None,
    }
    assert card["backbone"] == "from-scratch CNN"
    assert card["dataset"]["split_sizes"]["test"] == {"cat": 2, "dog": 2, "total": 4}
    assert card["dataset"]["ignored_folders"] == ["Dgo"]
    assert card["metrics"]["int8"]["accuracy"] == evaluation["models"]["tflite-int8"]["accuracy"]
    assert card["training"]["config"]["epochs"] == 30
    assert json.loads((run["out"] / "float" / "model.json").read_text())["input"]["dtype"] == "float32"
    assert sorted(p.name for p in (release / "evaluation").glob("*.png")) == [
        "confusion-keras.png",
        "confusion-tflite-float.png",
        "confusion-tflite-int8.png",
    ]
    assert {"best.keras", "history.json", "curves.png"} <= {p.name for p in (run["out"] / "train").iterdir()}


def test_given_the_same_photos_when_keras_float_and_int8_classify_then_they_agree(
    run, cat_photos, dog_photos
):
    from training.evaluate import predict_keras

    pixels = np.concatenate([preprocess(load_image(p), SIZE) for p in cat_photos + dog_photos])
    keras_p = predict_keras(run["model"], pixels)
    float_p = Classifier(run["out"] / "float").predict(pixels)
    int8_p = Classifier(run["out"] / "release").predict(pixels)

    assert np.abs(float_p - keras_p).max() < 1e-4
    assert np.array_equal(float_p.argmax(axis=1), keras_p.argmax(axis=1))
    # Neither the tiny model nor its int8 error is reproducible across runs and hosts: the answers' spread
    # was 0.05-0.84 and the largest int8 error 0.002-0.08 (one photo outside the calibration photos'
    # ranges), so fixed bounds flaked. Both checks are relative to how much the photos' answers differ:
    # over 44 runs (1 or 2 threads, oneDNN on or off) 0.01-0.06 and r >= 0.993; an input read as BGR or
    # at half scale gives 0.46-2.1 (r <= 0.91), two photos swapped r = 0.91-1.0.
    answers = keras_p[:, 1]
    assert np.abs(int8_p[:, 1] - answers).mean() < answers.std() / 4
    assert np.corrcoef(int8_p[:, 1], answers)[0, 1] > 0.98
