"""Several networks served as one graph (training/members.py): a tiny release whose recipe names two
member recipes, one already built (reused) and one built by the release itself."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from training import build  # noqa: E402
from training.evaluate import predict_litert  # noqa: E402
from training.members import load_members  # noqa: E402
from training.recipe import parse_recipe  # noqa: E402

pytestmark = pytest.mark.slow


def _served(tiny: dict, members: list[str]) -> dict:
    """A recipe with members: it states its data, names and "neither" rule, the members the rest."""
    keep = ("data", "eval", "neither", "cache_dir")
    return {k: tiny[k] for k in keep} | {
        "release": {"name": "tiny-pair", "version": "9.9.10"},
        "members": {"recipes": members},
    }


@pytest.fixture(scope="module")
def combined_run(tiny_recipe, release_run, tmp_path_factory, write_recipe):
    _, _, built_out, built_run = release_run
    root = tmp_path_factory.mktemp("members")
    first = write_recipe(root / "first.toml", tiny_recipe)  # the recipe release_run built
    other = tiny_recipe | {
        "release": {"name": "tiny-second", "version": "9.9.9"},
        "model": {"size": 64, "cut": 13},
        "train": tiny_recipe["train"] | {"fine_epochs": 0},
    }
    second = write_recipe(root / "second.toml", other)
    run_dir = root / "run"
    shutil.copytree(built_run, run_dir / "first")
    shutil.copytree(built_out, run_dir / "first" / "int8")
    modified = (run_dir / "first" / "model.keras").stat().st_mtime_ns
    logs = []
    card = build.build_release(
        parse_recipe(_served(tiny_recipe, [first, second])), root / "model", run_dir, log=logs.append
    )
    return card, root / "model", run_dir, logs, modified


def test_given_a_member_already_built_when_released_then_it_is_reused_and_the_other_is_built(combined_run):
    _, _, run_dir, logs, modified = combined_run
    assert any(line.startswith("member") and "first.toml: reusing" in line for line in logs)
    assert any("second.toml: building" in line for line in logs)
    assert (run_dir / "first" / "model.keras").stat().st_mtime_ns == modified
    assert (run_dir / "second" / "model.keras").is_file()
    assert (run_dir / "second" / "int8" / "model.tflite").is_file()  # the member's own release


def test_given_two_members_when_served_as_one_graph_then_it_answers_the_mean_of_theirs(
    combined_run, cat_photos, dog_photos
):
    from catdog import load_image, preprocess

    _, out, run_dir, _, _ = combined_run
    photos = cat_photos[:3] + dog_photos[:3]
    pixels = np.concatenate([preprocess(load_image(p), 64) for p in photos])
    members = [
        predict_litert(run_dir / name / "float" / "model.tflite", pixels) for name in ("first", "second")
    ]
    assert not np.allclose(members[0], members[1], atol=0.01)  # two networks that answer differently
    np.testing.assert_allclose(
        predict_litert(run_dir / "float" / "model.tflite", pixels), np.mean(members, 0), atol=1e-4
    )
    int8 = predict_litert(out / "model.tflite", pixels)
    assert int8.shape == (6, 3)
    np.testing.assert_allclose(int8, np.mean(members, 0), atol=0.1)


def test_given_two_members_when_released_then_the_card_names_both_and_their_own_figures(combined_run):
    card, _, _, _, _ = combined_run
    assert card["labels"] == ["cat", "dog", "neither"] and card["version"] == "9.9.10"
    assert card["backbone"].count("EfficientNet-Lite0") == 2 and " + " in card["backbone"]
    first, second = card["training"]["members"]
    assert first["recipe_file"].endswith("first.toml") and second["recipe"]["model"]["cut"] == 13
    assert "asirra_test_accuracy" in first["int8"] and "asirra_test_accuracy" in second["int8"]
    assert "model" not in card["training"]["recipe"]  # the members' own, not a default that says nothing
    assert card["training"]["recipe"]["members"]["recipes"] == [first["recipe_file"], second["recipe_file"]]
    assert 0 < card["neither"]["threshold"] <= 1.000001  # just above 1: "neither" for no val pet at p = 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d | {"model": {"size": 96}}, "different input sizes"),
        (lambda d: d | {"data": d["data"][:1], "views": {"train_views": 3}}, r"other \[\[data\]\]"),
    ],
)
def test_given_members_that_cannot_share_a_graph_when_loaded_then_the_recipe_is_refused(
    tiny_recipe, tmp_path, change, message, write_recipe
):
    first = write_recipe(tmp_path / "a.toml", tiny_recipe)
    second = write_recipe(tmp_path / "b.toml", change(tiny_recipe))
    with pytest.raises(ValueError, match=message):
        load_members(parse_recipe(_served(tiny_recipe, [first, second])))
    with pytest.raises(ValueError, match="needs two or more"):
        load_members(parse_recipe(_served(tiny_recipe, [first])))


def test_given_a_member_trained_on_another_split_when_reused_then_the_release_stops_before_exporting(
    tiny_recipe, combined_run, tmp_path
):
    _, _, built, _, _ = combined_run
    for name in ("first", "second"):
        shutil.copytree(built / name, tmp_path / "run" / name)
    split_file = tmp_path / "run" / "second" / "split.json"
    split = json.loads(split_file.read_text())
    split["splits"]["val"].append(split["splits"]["train"].pop())  # one training photo moved into val
    split_file.write_text(json.dumps(split))
    recipes = [str(built.parent / "first.toml"), str(built.parent / "second.toml")]

    with pytest.raises(ValueError, match="trained on another split"):
        build.build_release(
            parse_recipe(_served(tiny_recipe, recipes)), tmp_path / "model", tmp_path / "run", log=print
        )
    assert not (tmp_path / "model").exists()
