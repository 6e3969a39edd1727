"""Shared fixtures: real photos from tests/fixtures, the released model and small, real TFLite models.

The tiny models in tests/fixtures/models/ are committed files made by scripts/make_tiny_models.py, so
the serving tests never need TensorFlow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
PHOTOS = FIXTURES / "photos"
TINY_MODELS = FIXTURES / "models"
REPO = Path(__file__).parent.parent
RELEASED_MODEL = REPO / "models" / "catdog"
EVENTS = REPO / "events"
#: A command prefix under which root obeys file modes as any user does (without the two capabilities
#: that let it read everything), so that tests of unreadable files and folders can fail when run as root.
AS_A_USER = (
    ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]
    if os.geteuid() == 0
    else []
)


def load_event(name: str) -> dict:
    """``events/<name>``, the file ``sam local invoke -e`` takes."""
    return json.loads((EVENTS / name).read_text())


def released_card() -> dict:
    return json.loads((RELEASED_MODEL / "model.json").read_text())


def photo_folders(root: Path, cats: list[Path], dogs: list[Path], names=("cat", "dog")) -> Path:
    """Copies of fixture photos in one folder a class, the layout ``training.data.scan`` reads."""
    for name, photos in zip(names, (cats, dogs), strict=True):
        (root / name).mkdir(parents=True)
        for photo in photos:
            shutil.copy(photo, root / name / photo.name)
    return root


def half_neither_model(three_class_model: Path, photos: list[Path], folder: Path) -> Path:
    """A copy of the tiny 3-class model whose threshold is the median p(neither) of ``photos``: its
    p(neither) never reaches 0.5, so half its answers are "neither" by the card's rule although
    "neither" is never its largest probability."""
    from catdog import Classifier

    model = shutil.copytree(three_class_model, folder)
    p_neither = [Classifier(model).classify(photo).probabilities["neither"] for photo in photos]
    card = json.loads((model / "model.json").read_text())
    card["neither"]["threshold"] = float(np.median(p_neither))
    (model / "model.json").write_text(json.dumps(card))
    return model


@pytest.fixture(scope="session")
def serving_model() -> Path:
    """The released model, as the functions serve it."""
    return RELEASED_MODEL


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
def tiny_model_dir() -> Path:
    """An untrained but real full-int8 TFLite model (32 px, cat/dog) and its card."""
    return TINY_MODELS / "tiny"


@pytest.fixture(scope="session")
def prototype_model_dir() -> Path:
    """The same with release 1.3.0's second output, the prototype similarity (threshold 0)."""
    return TINY_MODELS / "tiny-prototype"


@pytest.fixture(scope="session")
def three_class_model_dir() -> Path:
    """Cat/dog/neither probabilities, "neither" at p >= 0.5: the class-probability check."""
    return TINY_MODELS / "tiny-three-class"


@pytest.fixture(scope="session")
def transfer_run(tmp_path_factory, cat_photos):
    """A real, if tiny, run on the 40 fixture photos: 64 px, cut 12, 3 head epochs, 1 fine-tuning epoch.
    Returns (split, config, result, run folder)."""
    from training import transfer
    from training.config import TransferConfig
    from training.data import make_split, scan

    out = tmp_path_factory.mktemp("transfer")
    split = make_split(scan(cat_photos[0].parent.parent), seed=0)
    config = TransferConfig(
        input_size=64, cut=12, batch_size=8, head_epochs=3, fine_epochs=1, cache_dir=str(out / "cache")
    )
    result = transfer.train_transfer(split, config, log=lambda *_: None)
    return split, config, result, transfer.save_run(result, config, out / "run")


def _recipe_toml(document: dict) -> str:
    """The recipe shapes of these tests as TOML: top-level values, sections of values (tables inline),
    arrays of tables."""

    def value(v) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(v)

    lines = []
    for name, section in document.items():
        if isinstance(section, list):
            for table in section:
                lines += [f"[[{name}]]", *(f"{k} = {value(v)}" for k, v in table.items())]
        elif isinstance(section, dict):
            lines += [f"[{name}]", *(f"{k} = {value(v)}" for k, v in section.items())]
    top = [f"{name} = {value(v)}" for name, v in document.items() if not isinstance(v, list | dict)]
    return "\n".join(top + lines) + "\n"


@pytest.fixture(scope="session")
def write_recipe():
    """``write_recipe(path, document)``: a recipe document as these tests build it, written as the TOML
    file the training commands read; returns the path as text."""

    def write(path: Path, document: dict) -> str:
        path.write_text(_recipe_toml(document))
        return str(path)

    return write


# Tiny release runs that several training test modules read: a recipe of the fixture photos, its release.


def _copy(photos, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for photo in photos:
        shutil.copy(photo, folder / photo.name)


@pytest.fixture(scope="session")
def tiny_recipe(tmp_path_factory, cat_photos, dog_photos) -> dict:
    root = tmp_path_factory.mktemp("release")
    data = root / "data"
    _copy(cat_photos, data / "asirra" / "cat")
    _copy(dog_photos, data / "asirra" / "dog")
    not_pets = sorted((FIXTURES / "not-pets").glob("*.jpg"))
    _copy(sorted((FIXTURES / "other-pets" / "cat").glob("*.jpg")), data / "breeds" / "cat")
    _copy(sorted((FIXTURES / "other-pets" / "dog").glob("*.jpg")), data / "breeds" / "dog")
    _copy(not_pets[:30], data / "breeds" / "neither")
    _copy(cat_photos[:2], data / "dev" / "cat")
    _copy(dog_photos[:2], data / "dev" / "dog")
    _copy(not_pets[30:34], data / "dev" / "neither")
    _copy([p for p in not_pets if "raccoon" in p.name], data / "dev" / "neither-hard")
    document = {
        "release": {"name": "tiny", "version": "9.9.9"},
        "data": [
            {"folder": str(data / "asirra"), "fractions": [0.6, 0.2, 0.2]},
            {"folder": str(data / "breeds"), "fractions": [0.6, 0.4, 0.0]},
        ],
        "eval": [{"folder": str(data / "dev")}],
        "model": {"size": 64, "cut": 14},
        "views": {"train_views": 3, "source_views": {"breeds": 4}, "oversample": {"breeds": 2.0}},
        "train": {"head_epochs": 2, "fine_epochs": 1, "calibration_images": 8, "batch_size": 16},
        "neither": {"max_pets_neither": 0.1, "threshold_rule": "fewest-val-mistakes"},
        "cache_dir": str(root / "cache"),
    }
    return document


@pytest.fixture(scope="session")
def release_run(tiny_recipe, tmp_path_factory):
    from training import build
    from training.recipe import parse_recipe

    recipe = parse_recipe(tiny_recipe)
    root = tmp_path_factory.mktemp("release-run")
    out, run_dir = root / "model", root / "run"
    rebuild = {"recipe_file": "/home/me/tiny.toml", "out": "runs/tiny-release"}  # as `release` records it
    card = build.build_release(recipe, out, run_dir, log=lambda message: None, rebuild=rebuild)
    return recipe, card, out, run_dir


@pytest.fixture(scope="session")
def release_script():
    """``release_script(name, *args)``: ``scripts/NAME ARGS`` run from the checkout as a user runs it, its
    output captured."""

    def run(name: str, *args) -> subprocess.CompletedProcess:
        argv = [sys.executable, f"scripts/{name}", *map(str, args)]
        return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)

    return run
