"""What the data a command is given must hold before anything is trained on it, and what it is told of
what it leaves out: a class no folder holds, ignored folders and skipped files, a saved split the photos
no longer give, a split too small to train on, a data folder that is not there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, photo_folders

from training.__main__ import _prepared, main
from training.data import DataError, Split
from training.recipe import RecipeError, parse_recipe
from training.sources import Source, dataset_card, make_source_split

NOT_PETS = sorted((FIXTURES / "not-pets").glob("*.jpg"))


def _copy(photos, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
    return folder


def _release_data(root: Path, cat_photos, dog_photos, neither: str) -> dict:
    """A tiny recipe: asirra (cat, dog) and breeds (cat, dog and ``neither`` as the folder name, a
    truncated JPEG among its cats)."""
    _copy(cat_photos[:6], root / "asirra" / "cat")
    _copy(dog_photos[:6], root / "asirra" / "dog")
    _copy(cat_photos[6:10], root / "breeds" / "cat")
    _copy(dog_photos[6:10], root / "breeds" / "dog")
    _copy(NOT_PETS[:6], root / "breeds" / neither)
    (root / "breeds" / "cat" / "trunc.jpg").write_bytes(b"\xff\xd8\xff")
    return {
        "release": {"name": "tiny", "version": "9.9.9"},
        "data": [
            {"folder": str(root / "asirra"), "fractions": [0.5, 0.25, 0.25]},
            {"folder": str(root / "breeds"), "fractions": [0.5, 0.5, 0.0]},
        ],
        "model": {"size": 64, "cut": 14},
        "cache_dir": str(root / "cache"),
    }


# Finding 2: a misspelt neither/ folder gave a cat/dog/neither release trained on no "neither" photo


def test_given_no_neither_photo_in_any_data_folder_when_a_release_is_prepared_then_refused_naming_the_rest(
    tmp_path, cat_photos, dog_photos
):
    from training import build

    recipe = parse_recipe(_release_data(tmp_path / "data", cat_photos, dog_photos, neither="nether"))
    run_dir = tmp_path / "run"

    with pytest.raises(RecipeError) as refused:
        build.prepare(recipe, run_dir, log=lambda message: None)

    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("the train part has no neither photo (cat: 5, dog: 5, neither: 0)")
    assert (
        ", and no data folder has any: they hold cat: 10, dog: 10 (ignored folders: breeds/nether;" in message
    )
    assert not (run_dir / "split.json").exists()  # a fixed folder is split afresh


def test_given_no_neither_photo_when_released_from_the_command_line_then_one_line_and_exit_2(
    tmp_path, cat_photos, dog_photos, capsys, write_recipe
):
    document = _release_data(tmp_path / "data", cat_photos, dog_photos, neither="nether")
    recipe = tmp_path / "recipe.toml"
    write_recipe(recipe, document)

    status = main(
        ["release", str(recipe), "--out", str(tmp_path / "model"), "--run-dir", str(tmp_path / "run")]
    )

    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert err.startswith("python -m training release: error: the train part has no neither photo")
    assert "(ignored folders: breeds/nether;" in err
    assert not (tmp_path / "model").exists()


# Finding 3: release and several --data folders never listed ignored folders (nor, for release, skipped files)


def test_given_an_ignored_folder_and_a_bad_file_when_a_release_is_prepared_then_both_are_listed_and_carded(
    tmp_path, cat_photos, dog_photos
):
    from training import build

    document = _release_data(tmp_path / "data", cat_photos, dog_photos, neither="neither")
    _copy(dog_photos[10:12], tmp_path / "data" / "breeds" / "dgo")
    lines: list[str] = []

    prepared = build.prepare(parse_recipe(document), tmp_path / "run", log=lines.append)

    assert "ignored folder breeds/dgo" in lines
    assert any(line.startswith("skipped breeds/cat/trunc.jpg: ") for line in lines)
    card = dataset_card(prepared.split)["sources"]["breeds"]
    assert card["ignored_folders"] == ["dgo"] and card["skipped_files"] == 1
    assert dataset_card(prepared.split)["sources"]["asirra"]["ignored_folders"] == []


def test_given_several_data_folders_one_with_a_misspelt_class_folder_when_train_splits_them_then_it_is_listed(
    tmp_path, cat_photos, dog_photos, capsys
):
    one = photo_folders(tmp_path / "one", cat_photos[:6], dog_photos[:6])
    three = photo_folders(tmp_path / "three", cat_photos[6:12], dog_photos[6:12], names=("cat", "dgo"))

    _prepared(tmp_path / "split.json", [one, three], None, None, parts=("train",))

    assert "ignored folder three/dgo" in capsys.readouterr().out.splitlines()


def test_given_a_split_saved_before_ignored_folders_were_recorded_when_carded_then_none_are_named(
    tmp_path, cat_photos, dog_photos
):
    one = photo_folders(tmp_path / "one", cat_photos[:6], dog_photos[:6])
    split = make_source_split([Source(str(one))], ("cat", "dog"))
    for source in split.report["sources"].values():
        del source["ignored_folders"]

    assert dataset_card(split)["sources"]["one"]["ignored_folders"] == []


# Finding 2 for train: several --data folders none of which holds a class


def test_given_several_data_folders_none_with_dogs_when_train_splits_them_then_refused(
    tmp_path, cat_photos, dog_photos
):
    one = photo_folders(tmp_path / "one", cat_photos[:6], dog_photos[:6], names=("cat", "dgo"))
    two = photo_folders(tmp_path / "two", cat_photos[6:12], dog_photos[6:12], names=("cat", "dogs"))

    with pytest.raises(
        DataError,
        match=r"the train part has no dog photo \(cat: 10, dog: 0\), .*ignored folders: one/dgo, two/dogs;",
    ):
        _prepared(tmp_path / "split.json", [one, two], None, None, parts=("train", "val"))
    assert not (tmp_path / "split.json").exists()


# Finding 5: train reused a saved split whatever its --data folder holds now


@pytest.fixture
def trained_split(tmp_path, cat_photos, dog_photos):
    """A run folder whose split.json was made from 10 cats and 10 dogs."""
    data = photo_folders(tmp_path / "data", cat_photos[:10], dog_photos[:10])
    split_file = tmp_path / "run" / "split.json"
    assert main(["prepare", str(data), "--split", str(split_file), "--fractions", "0.6", "0.2", "0.2"]) == 0
    return data, split_file


def test_given_new_photos_in_the_data_folder_when_train_reuses_its_split_then_refused_naming_the_way_out(
    trained_split, cat_photos, dog_photos, capsys
):
    data, split_file = trained_split
    _copy(cat_photos[10:14], data / "cat")
    _copy(dog_photos[10:14], data / "dog")
    before = split_file.read_text()
    capsys.readouterr()

    status = main(["train", "--data", str(data), "--out", str(split_file.parent), "--epochs", "1"])

    err = capsys.readouterr().err
    assert status == 1
    assert err == (
        f"python -m training train: error: {split_file} was made from other photos than {data} holds now "
        "(8 there are not in it): delete it for a new split, or write to another --out\n"
    )
    assert split_file.read_text() == before


def test_given_another_folder_holding_the_split_photos_and_more_when_train_reuses_the_split_then_refused(
    trained_split, tmp_path, cat_photos, dog_photos
):
    data, split_file = trained_split
    other = shutil.copytree(data, tmp_path / "other")
    _copy(cat_photos[14:20], other / "cat")

    with pytest.raises(DataError, match=r"was made from other photos than .*other holds now \(6 there"):
        _prepared(split_file, other, None, None)


def test_given_photos_gone_from_the_data_folder_when_train_reuses_its_split_then_refused(trained_split):
    data, split_file = trained_split
    for photo in sorted((data / "dog").iterdir())[:3]:
        photo.unlink()

    with pytest.raises(DataError, match=r"holds now \(3 of its photos are not there\)"):
        _prepared(split_file, data, None, None)


def test_given_the_split_photos_moved_elsewhere_when_train_reuses_the_split_then_it_is_used(
    trained_split, tmp_path
):
    data, split_file = trained_split
    moved = shutil.move(data, tmp_path / "moved")

    split = _prepared(split_file, Path(moved), None, None)

    assert split.root == Path(moved) and split.parts == Split.load(split_file).parts


def test_given_several_folders_and_a_new_photo_in_one_when_train_reuses_their_split_then_refused(
    tmp_path, cat_photos, dog_photos
):
    one = photo_folders(tmp_path / "one", cat_photos[:6], dog_photos[:6])
    two = photo_folders(tmp_path / "two", cat_photos[6:12], dog_photos[6:12])
    split_file = tmp_path / "run" / "split.json"
    made = _prepared(split_file, [one, two], None, None, parts=("train",))
    assert _prepared(split_file, [one, two], None, None, parts=("train",)).parts == made.parts
    _copy(cat_photos[12:13], two / "cat")

    with pytest.raises(DataError, match=r"was made from other photos than .* hold now \(1 there"):
        _prepared(split_file, [one, two], None, None, parts=("train",))


# Finding 11: prepare saved a split that train then refused


def test_given_too_few_photos_for_a_val_part_when_prepared_then_refused_and_no_split_written(
    tmp_path, cat_photos, dog_photos, capsys
):
    data = photo_folders(tmp_path / "data", cat_photos[:3], dog_photos[:3])
    split_file = tmp_path / "split.json"

    status = main(["prepare", str(data), "--split", str(split_file)])

    assert status == 1
    assert capsys.readouterr().err == (
        "python -m training prepare: error: the val part has no cat or dog photo (cat: 0, dog: 0): "
        "add photos or give the val part a larger fraction\n"
    )
    assert not split_file.exists()


# Finding 12: a --data folder that is not there was an [Errno 2] on the first photo


def test_given_a_data_folder_that_is_not_there_when_a_saved_split_is_loaded_then_one_line_says_so(
    trained_split, tmp_path
):
    _, split_file = trained_split

    with pytest.raises(DataError, match=f"^data folder not found: {tmp_path / 'nope'}$"):
        Split.load(split_file, root=tmp_path / "nope")


def test_given_a_data_folder_that_is_not_there_when_evaluated_then_one_line_as_train_says_it(
    trained_split, tmp_path, tiny_model_dir, capsys
):
    _, split_file = trained_split
    capsys.readouterr()
    argv = ["evaluate", str(tiny_model_dir), "--split", str(split_file), "--data", "nope"]

    status = main([*argv, "--out", str(tmp_path / "eval")])

    assert status == 1
    assert capsys.readouterr().err == "python -m training evaluate: error: data folder not found: nope\n"


def test_given_an_eval_folder_holding_copies_of_training_photos_when_prepared_then_they_are_left_out_and_said(
    tmp_path, cat_photos, dog_photos
):
    from training import build

    # GIVEN a recipe whose [[eval]] folder holds copies of photos of its [[data]] folders, and others
    document = _release_data(tmp_path / "data", cat_photos, dog_photos, neither="neither")
    _copy(cat_photos[:6], tmp_path / "data" / "dev" / "cat")  # every asirra cat: in train, val or test
    _copy(dog_photos[15:18], tmp_path / "data" / "dev" / "dog")  # in no [[data]] folder
    document["eval"] = [{"folder": str(tmp_path / "data" / "dev")}]
    lines: list[str] = []

    # WHEN it is prepared
    prepared = build.prepare(parse_recipe(document), tmp_path / "run", log=lines.append)

    # THEN the copies of train and val photos are no measure of photos never trained on: each is left out,
    # in a line (they were scored with the rest as "never trained on"); test photos and the rest stay
    split = prepared.split
    seen = {(split.root / s.path).name for part in ("train", "val") for s in split.parts[part]}
    copies = sorted(photo.name for photo in cat_photos[:6] if photo.name in seen)
    kept = sorted(Path(path).name for path, _, _ in prepared.evals["dev"])
    assert copies and kept == sorted({p.name for p in [*cat_photos[:6], *dog_photos[15:18]]} - set(copies))
    left_out = [line for line in lines if "left out: the same photo as" in line]
    assert len(left_out) == len(copies) and f"eval dev: {len(kept)} photos" in lines


def test_given_an_empty_eval_folder_when_a_release_is_prepared_then_refused_before_the_data_is_split(
    tmp_path, cat_photos, dog_photos
):
    from training import build

    document = _release_data(tmp_path / "data", cat_photos, dog_photos, neither="neither")
    (tmp_path / "data" / "dev").mkdir()
    document["eval"] = [{"folder": str(tmp_path / "data" / "dev")}]

    with pytest.raises(DataError, match="found neither class folders"):
        build.prepare(parse_recipe(document), tmp_path / "run", log=lambda _: None)

    # it was refused after every photo was scanned and the split saved into the run folder
    assert not (tmp_path / "run" / "split.json").exists()
