"""Tiny release runs that several test modules read: a recipe of the fixture photos and its release."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures"


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
        "neither": {"max_pets_neither": 0.1},
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
    card = build.build_release(recipe, out, run_dir, log=lambda message: None)
    return recipe, card, out, run_dir
