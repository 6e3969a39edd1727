"""Recipe, ``--set`` and ``--option`` mistakes: one line that names the setting as the user wrote it and
says what it takes, exit status 2, never a traceback or Python's own words."""

from __future__ import annotations

import re
import shutil

import pytest
from conftest import FIXTURES, photo_folders

from training.__main__ import main
from training.recipe import RecipeError, key_value, load_recipe, parse_recipe

DATA = {"data": [{"folder": "pets"}]}


@pytest.mark.parametrize(
    ("document", "overrides", "message"),
    [
        # finding 8: a TypeError traceback from Path(3)
        (DATA | {"eval": [{"folder": 3}]}, [], "[[eval]] folder must be text, got 3"),
        (DATA | {"eval": [{"folder": ""}]}, [], "[[eval]] folder must name a folder, got ''"),
        # finding 9: the string was iterated, ['f', 'o', 'u', 'r']
        (
            {"data": [{"folder": "breeds"}], "views": {"source_views": {"breeds": "four"}}},
            [],
            "views.source_views.breeds must be a view count or a list of view indices, got 'four'",
        ),
        (
            {"data": [{"folder": "breeds"}], "views": {"source_views": {"breeds": True}}},
            [],
            "views.source_views.breeds must be a view count or a list of view indices, got True",
        ),
        # finding 9: "unknown Source settings", a name the user never wrote
        (
            {"data": [{"folder": "pets", "fraction": [1, 0, 0]}]},
            [],
            "unknown [[data]] settings: ['fraction']",
        ),
        ({"data": [{"folder": ["pets"]}]}, [], "[[data]] folder must be text, got ['pets']"),
        (DATA | {"train": {"fine_epoch": 3}}, [], "unknown [train] settings: ['fine_epoch']"),
        # finding 9: a version typed as --set takes it is JSON, a number
        (
            DATA,
            ["release.version=1.0"],
            "release.version must be text, got 1.0: --set reads VALUE as JSON, so write text in quotes: "
            "--set 'release.version=\"1.0\"'",
        ),
        # finding 10: invalid JSON was kept as text and failed later in other words
        (DATA, ["train.head_epochs=[8"], "--set train.head_epochs=[8: not valid JSON"),
    ],
)
def test_given_a_recipe_mistake_when_read_then_one_line_names_the_setting_as_written(
    document, overrides, message
):
    with pytest.raises(RecipeError) as refused:
        parse_recipe(document, overrides)

    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_given_a_recipe_that_is_not_utf8_when_read_then_one_line_names_the_file(tmp_path):
    # GIVEN a recipe saved in another encoding (UTF-16 starts with the bytes ff fe)
    recipe = tmp_path / "2.7.0.toml"
    recipe.write_text('[[data]]\nfolder = "pets"\n', encoding="utf-16")

    # WHEN it is read (Python's "'utf-8' codec can't decode byte 0xff in position 0", naming no file)
    with pytest.raises(RecipeError) as refused:
        load_recipe(recipe)

    # THEN the error names the file and what is wrong with it
    assert (
        str(refused.value)
        == f"cannot read the recipe {recipe}: not UTF-8 text (invalid start byte at byte 0)"
    )


def test_given_a_version_in_quotes_when_set_then_it_is_the_text():
    assert parse_recipe(DATA, ['release.version="1.0"']).release.version == "1.0"
    assert parse_recipe(DATA, ["release.version=2.5.0"]).release.version == "2.5.0"


def test_given_release_help_when_read_then_set_says_how_to_write_text(capsys):
    with pytest.raises(SystemExit):
        main(["release", "--help"])

    help_text = " ".join(capsys.readouterr().out.split())
    assert "--set 'release.version=\"1.0\"'" in help_text


@pytest.mark.parametrize(
    ("pair", "parsed"),
    [
        ("filters=[8, 16]", ("filters", [8, 16])),
        ("weights=/models/resnet50_notop.h5", ("weights", "/models/resnet50_notop.h5")),
        ("freeze=false", ("freeze", False)),
        ('name="x"', ("name", "x")),
    ],
)
def test_given_an_option_when_read_then_json_or_plain_text(pair, parsed):
    assert key_value(pair, "--option") == parsed


@pytest.mark.parametrize("text", ["[8", "{'a': 1}", '"open'])
def test_given_an_option_that_starts_as_json_but_is_not_when_read_then_refused_naming_it(text):
    with pytest.raises(RecipeError, match=re.escape(f"--option filters={text}: not valid JSON")):
        key_value(f"filters={text}", "--option")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # finding 10: "object of type 'int' has no len()"
        ({"filters": 32}, "bad options for model 'cnn': filters must be a list, each a whole number, got 32"),
        ({"filters": [8, "a"]}, "bad options for model 'cnn': filters must be a list, each a whole number"),
        ({"dropout": "high"}, "bad options for model 'cnn': dropout must be a number, got 'high'"),
        ({"batch_norm": 1}, "bad options for model 'cnn': batch_norm must be true or false, got 1"),
    ],
)
def test_given_a_model_option_of_the_wrong_type_when_built_then_one_line_names_it(options, message):
    from training import models

    with pytest.raises(ValueError, match=re.escape(message)):
        models.build("cnn", 32, 2, **options)


def test_given_model_options_of_the_right_types_when_built_then_lists_and_whole_numbers_are_taken():
    from training import models

    model = models.build("cnn", 32, 2, filters=[8], stem_filters=4, dropout=0, convs_per_block=[1])

    assert model.output_shape == (None, 2)


def test_given_an_option_that_is_not_json_when_train_is_run_then_one_line_and_exit_2(tmp_path, capsys):
    status = main(
        ["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--option", "filters=[8"]
    )

    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("python -m training train: error: --option filters=[8: not valid JSON")
    assert err.count("\n") == 1


def test_given_a_cut_at_the_backbones_block_count_when_released_then_exit_2_before_the_split_is_made(
    tmp_path, cat_photos, dog_photos, capsys
):
    # GIVEN a recipe on a real cat/dog/neither photo folder, and efficientnet_lite0's 16 blocks (0 to 15)
    data = photo_folders(tmp_path / "pets", cat_photos[:5], dog_photos[:5])
    (data / "neither").mkdir()
    for photo in sorted((FIXTURES / "not-pets").glob("*.jpg"))[:5]:
        shutil.copy(photo, data / "neither" / photo.name)
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(
        f'[[data]]\nfolder = "{data.as_posix()}"\nfractions = [0.6, 0.2, 0.2]\n'
        '[model]\nbackbone = "efficientnet_lite0"\n'
    )
    run_dir = tmp_path / "run"

    # WHEN it is released cut before block 16, one past the last (the recipe check let it through, the
    # network refused it once the split was scanned and written: exit 1)
    argv = ["release", str(recipe), "--out", str(tmp_path / "out"), "--run-dir", str(run_dir)]
    status = main([*argv, "--set", "model.cut=16"])

    # THEN the backbone's own rule, as a recipe mistake: one line, exit 2, no split written
    err = capsys.readouterr().err
    assert status == 2
    assert err == (
        "python -m training release: error: model.cut must be a block index between 1 and 15, got 16 "
        "(efficientnet_lite0 has blocks 0 to 15)\n"
    )
    assert not (run_dir / "split.json").exists() and not run_dir.exists()
