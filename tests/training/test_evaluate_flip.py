"""scripts/evaluate_flip.py: a release served on each photo and its mirror, measured as a release is."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("keras")
pytestmark = pytest.mark.slow


def test_given_a_release_when_its_mirror_is_evaluated_then_the_photo_alone_gives_the_card_figures(
    tiny_recipe, release_run, tmp_path, write_recipe, release_script
):
    # GIVEN a tiny release, its recipe file and its run folder (the split it was built on)
    _, card, out, run_dir = release_run
    recipe = write_recipe(tmp_path / "tiny.toml", tiny_recipe)

    # WHEN the script measures the photo, the mean with its mirror and the cascades
    result = release_script("evaluate_flip.py", recipe, out, run_dir, "--out", tmp_path / "f.json")

    # THEN the photo alone is what the release measured, the mean passes every photo twice, and a cascade
    # passes more photos twice the higher its confidence bound
    assert result.returncode == 0, result.stderr
    variants = json.loads((tmp_path / "f.json").read_text())["variants"]
    released = variants["photo (as released)"]
    assert released["headline"] == card["metrics"]["int8"]
    assert released["threshold"] == pytest.approx(card["neither"]["threshold"], abs=1e-3)
    assert variants["mean of photo and mirror"]["val_photos_given_a_second_pass"] == 1.0
    shares = [v["val_photos_given_a_second_pass"] for k, v in variants.items() if k.startswith("mirror too")]
    assert shares == sorted(shares) and shares[0] >= 0 and shares[-1] <= 1
