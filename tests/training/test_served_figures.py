"""scripts/served_figures.py: a release's figures as catdog serves it, blank-image rule included."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

pytest.importorskip("keras")
pytestmark = pytest.mark.slow


def test_given_a_blank_photo_among_the_evaluated_when_served_then_its_answer_alone_differs_and_is_counted(
    tiny_recipe, release_run, tmp_path, write_recipe, release_script
):
    # GIVEN a tiny release whose network never reaches its threshold (so never answers "neither"), and its
    # recipe with an evaluation folder holding a blank white "cat" beside the dev photos (as petimages-180
    # holds cat/835.jpg)
    _, _, out, run_dir = release_run
    model = shutil.copytree(out, tmp_path / "model")
    card = json.loads((model / "model.json").read_text())
    card["neither"]["threshold"] = 1.000001
    (model / "model.json").write_text(json.dumps(card))
    dev = shutil.copytree(tiny_recipe["eval"][0]["folder"], tmp_path / "dev")
    Image.new("RGB", (180, 180), "white").save(dev / "cat" / "blank.jpg")
    recipe = write_recipe(tmp_path / "tiny.toml", tiny_recipe | {"eval": [{"folder": str(dev)}]})

    # WHEN the script answers every photo through catdog.Classifier again
    result = release_script("served_figures.py", recipe, model, run_dir)

    # THEN the blank photo alone is answered unlike the network: "neither", counted in the served figures
    # that the card records beside the network's and its page shows
    assert result.returncode == 0, result.stderr
    served = json.loads((model / "model.json").read_text())["metrics"]["served"]
    assert served["measured_by"].startswith("scripts/served_figures.py: ")
    (unlike,) = served["unlike_the_network"]
    assert unlike["path"].endswith("cat/blank.jpg") and unlike["network"] in ("cat", "dog")
    assert unlike | {"path": "", "network": ""} == {
        "set": "dev",
        "path": "",
        "label": "cat",
        "served": "neither",
        "network": "",
        "blank": True,
    }
    # dev's cats: the blank one, and one of the two copies of asirra photos (the other, a train or val
    # photo, is left out)
    assert served["per_kind"]["dev/cat"]["pets_answered_neither"] == pytest.approx(1 / 2, abs=1e-6)
    assert served["headline"]["asirra_test_pets_answered_neither"] == 0
    assert json.loads((model / "evaluation" / "served.json").read_text())["headline"] == served["headline"]
    assert "| figure | as served | int8 network | float network |" in (model / "README.md").read_text()
