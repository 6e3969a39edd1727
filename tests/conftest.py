"""Shared fixtures: real photos from tests/fixtures and small, real TFLite models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
PHOTOS = FIXTURES / "photos"
REPO = Path(__file__).parent.parent
RELEASED_MODEL = REPO / "models" / "catdog"


def released_card() -> dict:
    """The released model's card, or {} before there is one (for skipif on what the card enables)."""
    path = RELEASED_MODEL / "model.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def photo_folders(root: Path, cats: list[Path], dogs: list[Path], names=("cat", "dog")) -> Path:
    """Copies of fixture photos in one folder a class, the layout ``training.data.scan`` reads."""
    for name, photos in zip(names, (cats, dogs), strict=True):
        (root / name).mkdir(parents=True)
        for photo in photos:
            shutil.copy(photo, root / name / photo.name)
    return root


#: For tests whose assertion is the right label: meaningless with the untrained tiny model.
needs_released_model = pytest.mark.skipif(
    not (RELEASED_MODEL / "model.tflite").is_file(), reason="models/catdog is not released yet"
)


@pytest.fixture(scope="session")
def serving_model(request) -> Path:
    """The released model once it is in the repository; until then the tiny real int8 model."""
    if (RELEASED_MODEL / "model.tflite").is_file():
        return RELEASED_MODEL
    return request.getfixturevalue("tiny_model_dir")


@pytest.fixture(scope="module")
def moto_endpoint():
    """A moto server on a free local port: every AWS call is real HTTP, as against a deployed endpoint."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def cat_photos() -> list[Path]:
    return sorted((PHOTOS / "cat").glob("*.jpg"))


@pytest.fixture(scope="session")
def dog_photos() -> list[Path]:
    return sorted((PHOTOS / "dog").glob("*.jpg"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, cat_photos, dog_photos) -> Path:
    """An untrained but real full-int8 TFLite model (32 px) and its card, made by the training export."""
    import keras
    import numpy as np

    from catdog import load_image, preprocess
    from training.export import export_model
    from training.models import build

    keras.utils.set_random_seed(0)
    model = build("cnn", 32, stem_filters=4, filters=(8,), dense_units=0, dropout=0)
    calibration = np.concatenate(
        [preprocess(load_image(path), 32) for path in cat_photos[:4] + dog_photos[:4]]
    )
    folder = tmp_path_factory.mktemp("tiny-model")
    return export_model(model, folder, representative=calibration, card={"name": "tiny", "version": "0.0.0"})


@pytest.fixture(scope="session")
def transfer_run(tmp_path_factory, cat_photos):
    """A real, if tiny, run on the 40 fixture photos: 64 px, cut 12, 3 head epochs, 1 fine-tuning epoch.
    Returns (split, config, result, run folder)."""
    from training import transfer
    from training.data import make_split, scan

    out = tmp_path_factory.mktemp("transfer")
    split = make_split(scan(cat_photos[0].parent.parent), seed=0)
    config = transfer.TransferConfig(
        input_size=64, cut=12, batch_size=8, head_epochs=3, fine_epochs=1, cache_dir=str(out / "cache")
    )
    result = transfer.train_transfer(split, config, log=lambda *_: None)
    return split, config, result, transfer.save_run(result, config, out / "run")
