"""``python -m training``: what a user sees for good and bad input."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import photo_folders

from training.__main__ import _parser, main, train_config, transfer_config
from training.config import TrainConfig, TransferConfig
from training.model_names import MODEL_NAMES

REPO = Path(__file__).parents[2]
RECIPES, CANDIDATES = REPO / "training" / "recipes", REPO / "docs" / "evaluation" / "candidates"


def training(
    argv: list[str], cwd: Path | None = None, tensorflow: bool = True
) -> subprocess.CompletedProcess:
    """``python -m training ARGV`` in a new process importing this checkout; without ``tensorflow``, in a
    Python where keras and TensorFlow cannot be imported (as in the venv scripts/setup.sh makes alone)."""
    script = "" if tensorflow else "import sys; sys.modules.update(keras=None, tensorflow=None); "
    script += f"import sys; from training.__main__ import main; sys.exit(main({argv!r}))"
    env = os.environ | {"PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_given_a_photo_folder_when_prepared_then_the_split_and_the_skipped_files_are_reported(
    tmp_path, cat_photos, dog_photos, capsys
):
    photo_folders(tmp_path / "data", cat_photos[:10], dog_photos[:10], names=("cat", "DOG"))
    (tmp_path / "data" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff")

    status = main(["prepare", str(tmp_path / "data"), "--split", str(tmp_path / "split.json"), "--seed", "3"])

    output = capsys.readouterr().out
    assert status == 0
    assert json.loads(output.splitlines()[0])["counts"] == {"cat": 10, "dog": 10}
    assert "skipped cat/broken.jpg: invalid_image" in output
    saved = json.loads((tmp_path / "split.json").read_text())
    assert saved["seed"] == 3 and saved["sizes"]["train"]["total"] == 16


def test_given_a_split_a_run_trained_on_when_prepare_writes_another_there_then_refused_and_kept(
    tmp_path, cat_photos, dog_photos, capsys
):
    data = photo_folders(tmp_path / "data", cat_photos[:10], dog_photos[:10])
    split = tmp_path / "run" / "split.json"
    split.parent.mkdir()
    argv = ["prepare", str(data), "--split", str(split)]
    assert main([*argv, "--seed", "3"]) == 0
    made = split.read_text()

    # the same again is fine; another seed would have put trained-on photos in the test part, silently
    assert main([*argv, "--seed", "3"]) == 0
    assert main([*argv, "--seed", "5"]) == 1

    assert f"{split} holds another split, which a run may have trained on" in capsys.readouterr().err
    assert split.read_text() == made


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["train", "--epochs", "0"], 2, "argument --epochs: must be a positive integer, got 0"),
        (["prepare"], 2, "the following arguments are required"),
        # in the command's name: it said "python -m training: error: …", the program's
        (
            ["prepare", "d", "--split", "s.json", "--bogus"],
            2,
            "python -m training prepare: error: unrecognized arguments: --bogus (see python -m training",
        ),
        (["evaluate", "m", "--split", "s.json", "--out", "o", "--part", "all"], 2, "invalid choice: 'all'"),
        (["prepare", "no-such-folder", "--split", "s.json"], 1, "data folder not found: no-such-folder"),
        (["train", "--split", "no-such-split.json"], 1, "no split file at no-such-split.json"),
        (["train", "--data", "d", "--data", "d"], 1, "the same folder is given twice"),
        (["train", "--data", "a", "--data", "b"], 1, "data folder not found"),
        (["train", "--views", "0,x"], 2, "argument --views: must be view indices like 0,2,3, got 0,x"),
        (["release", "no-such-recipe.toml", "--out", "o"], 2, "cannot read the recipe no-such-recipe.toml"),
        (["release", "bad.toml", "--out", "o"], 2, "unknown [train] settings: ['fine_epoch']"),
        (["release", "broken.toml", "--out", "o"], 2, "broken.toml is not valid TOML"),
        (["release", "bad.toml", "--out", "o", "--set", "train.epochs"], 2, "--set wants KEY=VALUE"),
        (["report", "m", "--recipe", "bad.toml", "--out", "o"], 2, "unknown [train] settings"),
        (["train", "--epochs", "2.5"], 2, "argument --epochs: must be a positive integer, got 2.5"),
        (
            ["transfer", "--fine-epochs", "-1"],
            2,
            "argument --fine-epochs: must be a whole number >= 0, got -1",
        ),
        (["release", "bad.toml", "--out", "plain.md"], 2, "argument --out: plain.md is a file, not a folder"),
        (
            ["report", "m", "--recipe", "bad.toml", "--out", "o", "--run-dir", "plain.md"],
            2,
            "--run-dir: plain.md",
        ),
        (["prepare", "d", "--split", "s.json", "--seed", "-1"], 2, "must be a whole number >= 0, got -1"),
        (["prepare", "d", "--split", "s.json", "--fractions", ".9", ".9", ".9"], 2, "must sum to 1"),
        (
            [
                "candidates",
                str(CANDIDATES / "2.1.0.json"),
                "--against",
                str(RECIPES / "2.1.0.toml"),
                "--docs",
                "plain.md",
            ],
            1,
            "plain.md has no <!-- report:candidates --> block to fill",
        ),
        (["candidates", "no-such-card.json", "--against", "bad.toml"], 2, "unknown [train] settings"),
        (
            ["release", "student.toml", "--out", "o", "--run-dir", "run"],
            1,
            "the run folder run holds the teacher, which this run would overwrite",
        ),
        (
            ["release", "pair.toml", "--out", "o"],
            1,
            "[members] names 1 recipe(s); serving together needs two",
        ),
        (["release", "missing.toml", "--out", "o"], 2, "cannot read the recipe no-such-member.toml"),
        (
            ["release", "missing.toml", "--out", "o", "--ablations", "ablations.json"],
            2,
            "--ablations varies one network's training; a [members] recipe trains none of its own",
        ),
        (
            ["release", "student.toml", "--out", "o", "--set", "model.frozen_copy=maybe"],
            2,
            "model.frozen_copy must be true or false, got 'maybe'",
        ),
        (
            ["train", "--data", "d", "--model", "resnet"],
            2,
            "argument --model: invalid choice: 'resnet' (choose from 'cnn', 'efficientnet_lite0', "
            "'inception_v3', 'resnet50', 'vgg16')",
        ),
        (
            ["transfer", "--data", "d", "--cut", "16"],
            2,
            "argument --cut: must be a block index between 1 and 15, got 16",
        ),
        (
            ["analyse", "--model", "m", "--split", "s", "--out", "o", "--low-confidence", "5"],
            2,
            "argument --low-confidence: must be a confidence above 0 and at most 1, got 5",
        ),
        (
            ["report", "no-such-model", "--recipe", "pair.toml", "--out", "o"],
            1,
            "no model.tflite + model.json",
        ),
        (
            ["evaluate", "m", "--keras", "no.keras", "--split", "s", "--out", "o"],
            1,
            "no Keras model at no.keras",
        ),
        # session 18: trained a frozen random backbone (only the head learned), and carded it as ResNet50
        (
            ["train", "--data", "d", "--model", "resnet50"],
            1,
            "--model resnet50 has no pretrained weights here",
        ),
        # session 18: found after every photo was scanned, or after the training and the int8 export
        (["prepare", "d", "--split", "."], 2, "argument --split: . is a folder: name a split file"),
        (["prepare", "d", "--split", "plain.md/split.json"], 2, "is under "),
        (
            ["export", "m.keras", "--split", "s", "--out", "o", "--float-out", "plain.md"],
            2,
            "argument --float-out: plain.md is a file, not a folder",
        ),
        # session 20, an ML engineer's walkthrough: Keras's paragraph on TFSMLayer, exit 1, after the photos
        (
            ["evaluate", "m", "--keras", "some/model.tflite", "--split", "s", "--out", "o"],
            2,
            "python -m training evaluate: error: argument --keras: takes a .keras (or .h5) file, got "
            "some/model.tflite: model folders (model.tflite + model.json) are positional arguments",
        ),
        (
            ["evaluate", "m", "--keras", "models/catdog", "--split", "s", "--out", "o"],
            2,
            "takes a .keras (or .h5) file",
        ),
        (
            ["prepare", "d", "--split", "s.json", "--fractions", ".9", ".9", ".9"],
            2,
            "python -m training prepare: error: argument --fractions",
        ),
        # session 21, an ML engineer's walkthrough: "[Errno 20] Not a directory" once every photo was answered
        (
            ["evaluate", "m", "--split", "s", "--out", "plain.md/eval"],
            2,
            "python -m training evaluate: error: argument --out: plain.md/eval is under ",
        ),
        (
            ["report", "m", "--recipe", "bad.toml", "--out", "plain.md/report"],
            2,
            "argument --out: plain.md/report is under ",
        ),
        (["analyse", "--out", "plain.md/analysis"], 2, "argument --out: plain.md/analysis is under "),
    ],
)
def test_given_bad_input_when_run_then_one_line_on_stderr_and_no_traceback(tmp_path, argv, status, message):
    (tmp_path / "plain.md").write_text("a doc without generated blocks\n")
    (tmp_path / "bad.toml").write_text('[[data]]\nfolder = "x"\n[train]\nfine_epoch = 3\n')
    (tmp_path / "broken.toml").write_text('[[data]\nfolder = "x"\n')
    (tmp_path / "student.toml").write_text('[[data]]\nfolder = "x"\n[distill]\nteacher = "run/model.keras"\n')
    (tmp_path / "pair.toml").write_text('[[data]]\nfolder = "x"\n[members]\nrecipes = ["student.toml"]\n')
    (tmp_path / "missing.toml").write_text(
        '[[data]]\nfolder = "x"\n[members]\nrecipes = ["student.toml", "no-such-member.toml"]\n'
    )
    result = training(argv, cwd=tmp_path)
    assert result.returncode == status
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_given_a_model_folder_that_is_not_there_when_evaluate_is_run_then_it_says_so_before_reading_a_photo(
    tmp_path, cat_photos, dog_photos, capsys, monkeypatch
):
    # GIVEN a real photo folder, which evaluate scans (decodes every photo) before scoring
    data = photo_folders(tmp_path / "data", cat_photos[:3], dog_photos[:3])
    scanned = []
    monkeypatch.setattr("training.__main__.folder_split", lambda *a, **k: scanned.append(a))

    # WHEN the model folder named is mistyped
    status = main(["evaluate", str(tmp_path / "modles"), "--data", str(data), "--out", str(tmp_path / "o")])

    # THEN one line names it, before the folder is scanned (it came after every photo was decoded)
    assert status == 1 and scanned == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"no model at {tmp_path / 'modles'}" in err


def test_given_an_unknown_model_name_when_train_is_run_then_it_stops_before_reading_a_photo(
    tmp_path, cat_photos, dog_photos
):
    # GIVEN a real photo folder, which a train run would scan and split first
    data = photo_folders(tmp_path / "data", cat_photos[:5], dog_photos[:5])
    out = tmp_path / "run"

    # WHEN the model named is not a registered one
    result = training(["train", "--data", str(data), "--out", str(out), "--model", "cnn2"])

    # THEN one argparse line naming the known models, exit 2, and no split made (no photo read, no
    # TensorFlow start-up lines)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "argument --model: invalid choice: 'cnn2'" in result.stderr
    assert all(repr(name) in result.stderr for name in MODEL_NAMES)
    assert not out.exists()


def test_given_the_model_registry_when_loaded_then_it_has_exactly_the_names_the_cli_accepts():
    from training import models
    from training.backbones.applications import APPLICATIONS
    from training.model_names import APPLICATION_NAMES

    assert sorted(models.MODELS) == sorted(MODEL_NAMES)
    assert sorted(APPLICATIONS) == sorted(APPLICATION_NAMES)
    with pytest.raises(ValueError, match=r"not in training\.model_names\.MODEL_NAMES"):
        models.register("unlisted", default_size=32)


def test_given_help_when_asked_for_each_command_then_it_is_documented(capsys):
    for command in ("prepare", "preview", "train", "export", "evaluate", "release", "report", "candidates"):
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        shown = " ".join(capsys.readouterr().out.split())  # as one line, however argparse wraps it
        assert "usage: python -m training " + command in shown
        if command in ("train", "export", "evaluate"):  # a folder it writes into unless told otherwise
            assert "--cache CACHE pixel cache folder (default runs/cache)" in shown


def test_given_no_training_options_when_parsed_then_the_run_gets_the_config_dataclasses_defaults():
    # GIVEN the train and transfer commands with no setting of their own
    parser = _parser()

    # WHEN their options become a run's config
    train = train_config(parser.parse_args(["train", "--data", "photos"]))
    transfer = transfer_config(parser.parse_args(["transfer", "--data", "photos"]))

    # THEN the defaults are the dataclasses' (one place), and an option still reaches its field
    assert train == TrainConfig()
    assert transfer == TransferConfig()
    assert train_config(parser.parse_args(["train", "--lr", "0.01", "--views", "0,2"])).learning_rate == 0.01
    assert transfer_config(parser.parse_args(["transfer", "--lr", "0.01"])).fine_lr == 0.01


def test_given_cards_and_other_json_when_tabulated_then_each_card_is_its_change_and_the_rest_is_named(
    tmp_path, capsys
):
    doc = tmp_path / "doc.md"
    doc.write_text("before\n<!-- report:candidates -->\nold\n<!-- /report:candidates -->\nafter\n")
    names = ("2.1.0.json", "2.1.0-recipe-280px.json", "soup-3-runs.json", "pair-224-two-recipes.json")
    cards = [CANDIDATES / name for name in names]
    edited = json.loads(cards[0].read_text())  # a card edited by hand, without its int8 figures
    del edited["metrics"]["int8"]
    cards.append(tmp_path / "edited.json")
    cards[-1].write_text(json.dumps(edited))
    cards.append(tmp_path / "notes.txt")  # a file a glob caught that is no JSON at all: it stopped the table
    cards[-1].write_text("not JSON\n")
    assert (
        main(["candidates", *map(str, cards), "--against", str(RECIPES / "2.1.0.toml"), "--docs", str(doc)])
        == 0
    )
    out, err = capsys.readouterr()
    rows = [line for line in doc.read_text().splitlines() if line.startswith("| 2.1.0")]
    assert rows == [
        "| 2.1.0 | nothing | **31** (11 / 13 / 3 / 4) | 98.80 % | 99.07 % | 10.80 MB | 1.62 x |",
        "| 2.1.0-recipe-280px | `model.size = 280` | **33** (10 / 14 / 4 / 5) | 98.93 % | 99.29 % "
        "| 10.80 MB | 1.74 x |",
    ]
    assert rows[1] in out and "old" not in doc.read_text() and doc.read_text().endswith("after\n")
    assert err == "".join(
        f"{cards[i]}: not a model card with a recipe and int8 figures, left out\n" for i in (2, 4, 5)
    )
    (pair,) = [line for line in out.splitlines() if line.startswith("| pair-224-two-recipes |")]
    changed = pair.split(" | ")[1]  # a graph of members: its own sections only, the rest is each member's
    assert changed.startswith("`members.recipes = [") and changed.count("`") == 2 and "**33**" in pair


def test_given_two_release_folders_of_one_version_when_tabulated_then_each_card_has_its_row(tmp_path, capsys):
    # GIVEN the release and a candidate built from its recipe with one --set: both cards say 2.1.0
    release, candidate = tmp_path / "models" / "catdog", tmp_path / "runs" / "candidate-280px"
    for folder, source in ((release, "2.1.0.json"), (candidate, "2.1.0-recipe-280px.json")):
        folder.mkdir(parents=True)
        card = json.loads((CANDIDATES / source).read_text())
        (folder / "model.json").write_text(json.dumps(card | {"version": "2.1.0"}))

    # WHEN their model.json files are tabulated, the release named again as a glob would name it
    cards = [
        str(release / "model.json"),
        str(candidate / "model.json"),
        str(release / ".." / "catdog/model.json"),
    ]
    assert main(["candidates", *cards, "--against", str(RECIPES / "2.1.0.toml")]) == 0

    # THEN both are rows (the second used to replace the first, silently), told apart by their folder;
    # one file named twice is one row
    rows = [line.split(" | ")[:2] for line in capsys.readouterr().out.splitlines()[2:]]
    assert rows == [["| 2.1.0", "nothing"], ["| 2.1.0 (candidate-280px)", "`model.size = 280`"]]


def test_given_a_card_built_without_an_asirra_test_when_tabulated_then_its_row_has_empty_cells(
    tmp_path, capsys
):
    # GIVEN a card whose recipe's data had no Asirra test part (a tiny release of a user's own photos):
    # no Asirra figures among its int8 ones, and no latency measured
    card = json.loads((CANDIDATES / "2.1.0.json").read_text())
    int8 = card["metrics"]["int8"]
    card["metrics"]["int8"] = {k: v for k, v in int8.items() if not k.startswith("asirra_test")}
    del card["latency"]
    (tmp_path / "model.json").write_text(json.dumps(card))

    # WHEN it is tabulated (a KeyError traceback: 'asirra_test_accuracy')
    status = main(["candidates", str(tmp_path / "model.json"), "--against", str(RECIPES / "2.1.0.toml")])

    # THEN its row, with empty cells for the figures it lacks
    out = capsys.readouterr().out
    assert status == 0
    assert "| 2.1.0 | nothing | **31** (11 / 13 / 3 / 4) |  |  | 10.80 MB |  |" in out.splitlines()


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda card: card.pop("version"),  # a KeyError traceback: 'version'
        lambda card: card["metrics"].update(int8=2),  # 'int' object has no attribute 'get'
        lambda card: card["metrics"].update(per_kind=[]),  # 'list' object has no attribute 'items'
        lambda card: card["metrics"]["per_kind"].update({"asirra-val/cat": 0.99}),
    ],
    ids=["no-version", "int8-a-number", "per-kind-a-list", "kind-figures-a-number"],
)
def test_given_a_card_edited_badly_when_tabulated_then_it_is_named_and_left_out_and_the_rest_tabulated(
    tmp_path, capsys, corrupt
):
    # GIVEN a real card, and a copy edited by hand that passes as a card at a glance
    card = json.loads((CANDIDATES / "2.1.0.json").read_text())
    corrupt(card)
    edited = tmp_path / "run" / "model.json"
    edited.parent.mkdir()
    edited.write_text(json.dumps(card))

    # WHEN both are tabulated
    status = main(
        ["candidates", str(CANDIDATES / "2.1.0.json"), str(edited), "--against", str(RECIPES / "2.1.0.toml")]
    )

    # THEN the edited one is named and left out, as the command says it does, and the real one is its row
    out, err = capsys.readouterr()
    assert status == 0
    assert err == f"{edited}: not a model card with a recipe and int8 figures, left out\n"
    assert [line.split(" | ")[0] for line in out.splitlines()[2:]] == ["| 2.1.0"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# Notes\n", "has no <!-- report:candidates --> block to fill"),
        (
            "<!-- /report:candidates -->\nold\n<!-- report:candidates -->\n",
            "<!-- /report:candidates --> comes before <!-- report:candidates -->",
        ),
    ],
    ids=["no-block", "markers-misordered"],
)
def test_given_a_doc_that_cannot_be_filled_after_one_that_can_when_tabulated_then_neither_is_written(
    tmp_path, capsys, text, message
):
    # GIVEN a doc with a block to fill, then one without a block or with its markers the wrong way round
    good, bad = tmp_path / "good.md", tmp_path / "bad.md"
    good.write_text("<!-- report:candidates -->\nold\n<!-- /report:candidates -->\n")
    bad.write_text(text)

    # WHEN the table is asked to fill both
    argv = ["candidates", str(CANDIDATES / "2.1.0.json"), "--against", str(RECIPES / "2.1.0.toml")]
    status = main([*argv, "--docs", str(good), str(bad)])

    # THEN one line names the bad doc, and the good one is as it was (it was rewritten first)
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1
    assert err.startswith(f"python -m training candidates: error: {bad}") and message in err
    assert good.read_text() == "<!-- report:candidates -->\nold\n<!-- /report:candidates -->\n"
    assert bad.read_text() == text


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["preview", "--split", "missing.json"], 1, "cannot read split file missing.json: [Errno 2]"),
        (
            ["export", "missing.keras", "--split", "split.json", "--out", "o"],
            1,
            "no Keras model at missing.keras",
        ),
        (
            ["export", "model.keras", "--split", "missing.json", "--out", "o"],
            1,
            "cannot read split file missing",
        ),
        (
            ["export", "recipe.toml", "--split", "split.json", "--out", "o"],
            2,
            "argument keras_model: takes a .keras (or .h5) file, got recipe.toml",
        ),
    ],
)
def test_given_a_missing_split_or_model_when_preview_or_export_runs_then_one_line_before_tensorflow_loads(
    tmp_path, argv, status, message
):
    # GIVEN a Python where importing keras or TensorFlow would fail (loading them took 5 s and printed
    # their log lines before the error), a split file and a model file
    (tmp_path / "split.json").write_text("{}")
    (tmp_path / "model.keras").write_bytes(b"a trained model")

    # WHEN a command that loads them is given a split file or a model that is not there, or no model
    run = training(argv, cwd=tmp_path, tensorflow=False)

    # THEN one line says what is wrong (not "needs keras"), and the release folder is not made
    assert run.returncode == status
    assert run.stderr.count("\n") == 1 and message in run.stderr, run.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("classes", "labels"), [(3, ("cat", "dog")), (2, ("cat", "dog", "neither"))])
def test_given_a_model_and_a_split_of_other_labels_when_exported_then_one_line_names_both_before_converting(
    tmp_path, cat_photos, dog_photos, capsys, classes, labels
):
    from training import models
    from training.data import make_split, scan

    # GIVEN a model of one class count and a split of another
    data = photo_folders(tmp_path / "data", cat_photos[:10], dog_photos[:10])
    if "neither" in labels:
        (data / "neither").mkdir()
        for photo in sorted((REPO / "tests" / "fixtures" / "not-pets").glob("*.jpg"))[:10]:
            (data / "neither" / photo.name).write_bytes(photo.read_bytes())
    split = tmp_path / "split.json"
    make_split(scan(data, labels), (0.6, 0.2, 0.2), 0).save(split)
    keras_file = tmp_path / "run" / "model.keras"
    keras_file.parent.mkdir()
    models.build("cnn", 32, classes, filters=[8], stem_filters=4).save(keras_file)
    capsys.readouterr()

    # WHEN it is exported with that split (it failed after the int8 conversion: "not enough values to
    # unpack (expected 1, got 0)")
    status = main(["export", str(keras_file), "--split", str(split), "--out", str(tmp_path / "out")])

    # THEN one line naming both, before any conversion: no release folder, no float export
    assert status == 1
    assert capsys.readouterr().err == (
        f"python -m training export: error: {keras_file} answers {classes} classes, the split {split} has "
        f"{len(labels)} labels ({', '.join(labels)}): export it with a split of its own labels\n"
    )
    assert not (tmp_path / "out").exists() and not (keras_file.parent / "float").exists()


@pytest.fixture
def saved_split(tmp_path, cat_photos, dog_photos):
    """A run folder whose split.json was made from one photo folder with seed 0 and 60/20/20."""
    from training.__main__ import _prepared

    data = photo_folders(tmp_path / "data", cat_photos[:10], dog_photos[:10])
    return data, _prepared(tmp_path / "run" / "split.json", data, 0, (0.6, 0.2, 0.2))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seed": 1}, "was made with --seed 0, not 1"),
        ({"fractions": (0.8, 0.1, 0.1)}, "was made with --fractions 0.6 0.2 0.2, not 0.8 0.1 0.1"),
        ({"other_photos": True}, "was made from other photos"),
        ({"two_folders": True}, "was made from one folder"),
    ],
)
def test_given_a_saved_split_when_other_options_are_given_then_it_is_refused_not_silently_used(
    saved_split, tmp_path, cat_photos, dog_photos, options, message
):
    from training.__main__ import _prepared
    from training.data import DataError

    data, _ = saved_split
    folders: Path | list[Path] = data
    if options.pop("other_photos", False):
        folders = photo_folders(tmp_path / "other", cat_photos[10:20], dog_photos[10:20])
    if options.pop("two_folders", False):
        folders = [data, photo_folders(tmp_path / "more", cat_photos[10:12], dog_photos[10:12])]
    with pytest.raises(DataError, match=message):
        _prepared(tmp_path / "run" / "split.json", folders, options.get("seed"), options.get("fractions"))


def test_given_a_saved_split_when_the_same_or_no_options_are_given_then_it_is_used(saved_split, tmp_path):
    from training.__main__ import _prepared

    data, made = saved_split
    for seed, fractions in ((None, None), (0, (0.6, 0.2, 0.2))):
        split = _prepared(tmp_path / "run" / "split.json", data, seed, fractions)
        assert split.parts == made.parts


def test_given_a_stale_split_when_train_is_run_then_one_line_and_the_split_is_kept(
    saved_split, tmp_path, capsys
):
    data, _ = saved_split
    split_file = tmp_path / "run" / "split.json"
    before = split_file.read_text()

    argv = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--seed", "2", "--epochs", "1"]
    status = main(argv)

    err = capsys.readouterr().err
    assert status == 1
    assert err == (
        f"python -m training train: error: {split_file} was made with --seed 0, not 2: delete it for a new "
        "split, or write to another --out\n"
    )
    assert split_file.read_text() == before


@pytest.mark.parametrize(
    ("options", "hint"),
    [
        (["--seed", "3"], "with --seed 0, not 3: drop --seed/--fractions to use it"),
        (["--fractions", "0.8", "0.1", "0.1"], "not 0.8 0.1 0.1: drop --seed/--fractions to use it"),
        (
            ["--other-data"],
            "20 of its photos are not there): give the --data it was made from to use it",
        ),
        # its own folder with one photo more: giving that --data again is what the user did
        (["--added-photo"], "1 there is not in it): its folders' photos changed since:"),
    ],
)
def test_given_a_split_named_by_split_when_other_options_contradict_it_then_the_hint_is_for_split(
    saved_split, tmp_path, cat_photos, dog_photos, capsys, options, hint
):
    # GIVEN an earlier run's split, named with --split by a run into another folder
    data, _ = saved_split
    split_file = tmp_path / "run" / "split.json"
    if options == ["--other-data"]:
        options = []
        data = photo_folders(tmp_path / "other", cat_photos[10:20], dog_photos[10:20])
    if options == ["--added-photo"]:
        options = []
        shutil.copy(cat_photos[10], data / "cat")

    # WHEN the run's options contradict it (the hint said "or write to another --out", which changes
    # nothing when the split is named)
    argv = [
        "train",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "t4"),
        "--split",
        str(split_file),
        "--epochs",
        "1",
    ]
    status = main([*argv, *options])

    # THEN the hint is to drop what contradicts it or to name another split file
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1
    assert err.startswith(f"python -m training train: error: {split_file} was made ")
    assert err.endswith(
        f"{hint} give another --split path for a new split\n"
        if hint.endswith(":")
        else f"{hint}, or give another --split path for a new split\n"
    )
    assert "--out" not in err


def test_given_folders_with_bad_files_when_train_makes_its_split_then_what_is_left_out_is_printed(
    tmp_path, cat_photos, dog_photos, capsys
):
    from training.__main__ import _prepared

    one = photo_folders(tmp_path / "one", cat_photos[:6], dog_photos[:6])
    (one / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff")
    (one / "notes").mkdir()
    two = photo_folders(tmp_path / "two", cat_photos[:1] + cat_photos[6:9], dog_photos[6:9])

    _prepared(tmp_path / "single.json", one, None, None, parts=("train",))
    _prepared(tmp_path / "sources.json", [one, two], None, None, parts=("train",))

    lines = capsys.readouterr().out.splitlines()
    assert "ignored folder notes" in lines
    assert any(line.startswith("skipped cat/broken.jpg:") for line in lines)
    assert any(line.startswith("skipped one/cat/broken.jpg:") for line in lines)
    assert f"duplicate two/cat/{cat_photos[0].name} of one/cat/{cat_photos[0].name}" in lines


@pytest.mark.parametrize(
    ("argv", "option", "default"),
    [
        (["analyse"], "out", "runs/analysis"),
        (["neither", "m.keras", "--split", "s.json", "--out", "o"], "docs", "runs/neither"),
        (["experiment", "--grid", "g.toml", "--split", "s.json"], "out", "runs/experiments"),
    ],
)
def test_given_no_output_folder_when_parsed_then_the_command_writes_under_runs_not_into_tracked_docs(
    argv, option, default
):
    assert getattr(_parser().parse_args(argv), option) == Path(default)


def test_given_too_few_photos_for_a_val_part_when_train_makes_its_split_then_refused_and_not_saved(
    tmp_path, cat_photos, dog_photos, capsys
):
    data = photo_folders(tmp_path / "data", cat_photos[:3], dog_photos[:3])
    out = tmp_path / "run"

    status = main(["train", "--data", str(data), "--out", str(out), "--fractions", "0.9", "0.05", "0.05"])

    assert status == 1
    assert capsys.readouterr().err == (
        "python -m training train: error: the val part has no cat or dog photo (cat: 0, dog: 0): "
        "add photos or give the val part a larger fraction\n"
    )
    assert not (out / "split.json").exists()  # a rerun with other fractions is not refused as stale


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # was exit 1, where docs/training.md says bad arguments are 2
        (["--size", "32"], "input size 32 is too small for cnn"),
        # mistyped: was Python's "got an unexpected keyword argument 'filtres'", exit 1
        (
            ["--option", "filtres=[8,16]"],
            "model 'cnn' has no option 'filtres': its options are stem_filters, stem_stride, filters, "
            "convs_per_block, batch_norm, bn_momentum, block_dropout, dense_units, dropout, weight_decay\n",
        ),
    ],
)
def test_given_a_size_or_option_the_cnn_cannot_take_when_train_is_run_then_exit_2_before_any_photo_is_scanned(
    tmp_path, cat_photos, dog_photos, capsys, options, message
):
    # GIVEN a photo folder
    data = photo_folders(tmp_path / "data", cat_photos[:10], dog_photos[:10])
    out = tmp_path / "run"

    # WHEN the CNN is given a size or an option it cannot take
    status = main(["train", "--data", str(data), "--out", str(out), *options])

    # THEN one line naming it, exit 2, before any photo is scanned
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith(f"python -m training train: error: {message}")
    assert err.count("\n") == 1 and "\x1b" not in err
    assert not out.exists()


def test_given_the_serving_venv_without_tensorflow_when_a_training_command_runs_then_one_line_says_so(
    saved_split, tmp_path
):
    # GIVEN a Python where keras and TensorFlow cannot be imported (the venv scripts/setup.sh makes alone)
    split = tmp_path / "run" / "split.json"
    assert saved_split and split.is_file()

    # WHEN a command that needs them runs
    run = training(["preview", "--split", str(split), "--out", str(tmp_path / "p.png")], tensorflow=False)

    # THEN one line names what is missing and the setup that adds it (it was a ModuleNotFoundError traceback)
    assert run.returncode == 2, run.stderr
    assert run.stderr == (
        "python -m training preview: error: needs keras, not installed here: scripts/setup.sh --train\n"
    )


@pytest.mark.parametrize("mistake", ["model", "not_pets"])
def test_given_a_mistyped_path_when_neither_runs_then_one_line_before_the_release_folder_is_touched(
    saved_split, tmp_path, capsys, mistake
):
    # GIVEN a release folder, and a model file or a --not-pets folder that is not there
    release = tmp_path / "release"
    release.mkdir()
    (release / "model.json").write_text('{"version": "2.4.0"}')
    model = tmp_path / "run" / "model.keras"
    model.write_bytes(b"a trained model")
    argv = ["neither", str(model), "--split", str(tmp_path / "run" / "split.json"), "--out", str(release)]
    argv += ["--not-pets", str(tmp_path / ("not-pets" if mistake == "not_pets" else "."))]
    if mistake == "model":
        argv[1] = str(tmp_path / "run" / "modle.keras")

    # WHEN it runs
    code = main(argv)

    # THEN one line says which, and the release is as it was (it had held the new model and threshold 0)
    message = {"model": "no Keras model at", "not_pets": "no folder"}[mistake]
    assert code == 1 and message in capsys.readouterr().err
    assert [path.name for path in release.iterdir()] == ["model.json"]
    assert (release / "model.json").read_text() == '{"version": "2.4.0"}'
    assert saved_split


def test_given_ctrl_c_during_a_command_when_it_stops_then_one_line_and_exit_130(
    tmp_path, cat_photos, dog_photos, monkeypatch, capsys
):
    import training.__main__ as cli

    # GIVEN a command that Ctrl+C stops midway (as a long training run is)
    def cmd_prepare(args):
        """Stopped midway."""
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_prepare", cmd_prepare)
    data = photo_folders(tmp_path / "data", cat_photos[:2], dog_photos[:2])

    # WHEN it stops
    code = cli.main(["prepare", str(data), "--split", str(tmp_path / "split.json")])

    # THEN one line says so, with the shell's code for SIGINT (it was a 110-line traceback)
    assert code == 130
    assert capsys.readouterr().err == "python -m training prepare: interrupted\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[[eval]]\nfolder = "{tmp}/other-sources-typo"\n',
            "[[eval]] {tmp}/other-sources-typo: no such folder",
        ),
        ('[[eval]]\nfolder = "{data}"\n', "the folder {data} is given twice"),
        (
            '[distill]\nteacher = "{tmp}/teacher/model.keras"\n',
            "distill.teacher: no trained model at {tmp}/teacher/model.keras",
        ),
        ('[distill]\nensemble = ["{tmp}"]\n', "distill.ensemble: no model.tflite + model.json in {tmp}"),
    ],
)
def test_given_a_recipe_naming_a_path_that_is_not_there_when_released_then_one_line_before_any_work(
    tmp_path, cat_photos, dog_photos, capsys, extra, message
):
    # GIVEN a recipe whose [[data]] folder is there, and an [[eval]] folder or a teacher that is not
    data = photo_folders(tmp_path / "data", cat_photos[:4], dog_photos[:4])
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'[[data]]\nfolder = "{data}"\n' + extra.format(tmp=tmp_path, data=data))

    # WHEN it is released
    code = main(["release", str(recipe), "--out", str(tmp_path / "out"), "--run-dir", str(tmp_path / "run")])

    # THEN one line names it, before the split or the cache (they were found after the split, or the
    # cache: hours on the full data); nothing is written
    assert code == 2
    assert (
        capsys.readouterr().err
        == f"python -m training release: error: {message.format(tmp=tmp_path, data=data)}\n"
    )
    assert not (tmp_path / "out").exists() and not (tmp_path / "run").exists()


def test_given_a_recipe_whose_teacher_is_gone_when_only_its_photos_are_read_then_it_is_not_refused(
    tmp_path, cat_photos, dog_photos
):
    from training.recipe import RecipeError, check_paths, parse_recipe

    # GIVEN a distilled release's recipe whose teacher was deleted since
    data = photo_folders(tmp_path / "data", cat_photos[:2], dog_photos[:2])
    recipe = parse_recipe(
        {"data": [{"folder": str(data)}], "distill": {"teacher": str(tmp_path / "gone.keras")}}
    )

    # WHEN `report` or a study script checks it (they measure releases on its photos), THEN it passes; a
    # release, which trains with the teacher, is refused
    check_paths(recipe, teachers=False)
    with pytest.raises(RecipeError, match=r"distill\.teacher: no trained model at"):
        check_paths(recipe)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{}", "lacks a field serving needs (KeyError('labels'))"),
        ('{"name": 1', "cannot read the model card"),
    ],
)
def test_given_a_card_edited_by_hand_badly_when_its_page_is_written_then_one_line_names_the_file(
    tmp_path, capsys, document, message
):
    (tmp_path / "model.json").write_text(document)

    code = main(["card", str(tmp_path)])

    # a KeyError traceback, or a JSON error that did not name the file
    (line,) = capsys.readouterr().err.splitlines()
    assert code == 1 and str(tmp_path / "model.json") in line and message in line
    assert not (tmp_path / "README.md").exists()


@pytest.fixture
def deployed(tmp_path):
    """A release folder as a deployment reads it, with a file of the user's that no release writes."""
    folder = tmp_path / "models" / "catdog"
    (folder / "evaluation").mkdir(parents=True)
    files = {
        "model.tflite": b"the deployed model",
        "model.json": b'{"version": "2.4.0"}',
        "NOTES.md": b"ours",
    }
    files["evaluation/report.md"] = b"the deployed model's report"
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder, files


def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("stop", [KeyboardInterrupt, OSError])
def test_given_a_release_that_stops_midway_when_staged_then_the_deployed_folder_is_as_it_was(deployed, stop):
    from training.staged import staged_folder

    folder, files = deployed
    # GIVEN a release that has written its new model, and not yet its card, when it stops
    with pytest.raises(stop), staged_folder(folder) as stage:
        (stage / "model.tflite").write_bytes(b"a new model")
        raise stop

    # THEN the folder is byte for byte the deployed release, and nothing is left beside it
    assert _contents(folder) == files
    assert sorted(p.name for p in folder.parent.iterdir()) == ["catdog"]


def test_given_a_release_that_finishes_when_staged_then_it_replaces_the_folder_and_keeps_the_users_files(
    deployed,
):
    from training.staged import staged_folder

    folder, files = deployed
    # GIVEN a release that writes its model and card and clears its evaluation folder
    with staged_folder(folder) as stage:
        assert stage.parent == folder.parent and _contents(stage) == files  # begun as a copy
        (stage / "model.tflite").write_bytes(b"a new model")
        (stage / "model.json").write_bytes(b'{"version": "2.5.0"}')
        (stage / "evaluation" / "report.md").unlink()

    # THEN the folder is the new release, with the file no release writes, and nothing beside it
    assert _contents(folder) == {"model.tflite": b"a new model", "model.json": b'{"version": "2.5.0"}'} | {
        "NOTES.md": b"ours"
    }
    assert sorted(p.name for p in folder.parent.iterdir()) == ["catdog"]


def test_given_a_run_stopped_between_the_renames_when_staged_again_then_the_replaced_release_comes_back(
    deployed,
):
    from training.staged import staged_folder

    folder, files = deployed
    # GIVEN the old release renamed aside and the new one not yet in its place (a power cut)
    folder.rename(folder.with_name(".catdog.replaced"))
    (folder.parent / ".catdog.staging").mkdir()

    # WHEN the next release starts and stops
    with pytest.raises(KeyboardInterrupt), staged_folder(folder):
        raise KeyboardInterrupt

    # THEN the release is back where a deployment reads it
    assert _contents(folder) == files
    assert sorted(p.name for p in folder.parent.iterdir()) == ["catdog"]


@pytest.mark.slow
def test_given_ctrl_c_while_an_export_is_evaluated_when_it_stops_then_the_release_folder_is_as_it_was(
    saved_split, deployed, tmp_path, monkeypatch, capsys
):
    import keras

    import training.export
    from catdog import Classifier
    from training.models import build

    folder, files = deployed
    data, _ = saved_split
    model_file = tmp_path / "run" / "model.keras"
    build("cnn", 32, stem_filters=4, filters=(8,), dense_units=8).save(model_file)
    argv = ["export", str(model_file), "--split", str(tmp_path / "run" / "split.json"), "--data", str(data)]
    argv += ["--out", str(folder)]

    # GIVEN an export stopped by Ctrl+C after it wrote the int8 model, while it is evaluated
    def evaluate_models(*args, **kwargs):
        assert (folder.with_name(".catdog.staging") / "model.tflite").read_bytes() != files["model.tflite"]
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(training.export, "evaluate_models", evaluate_models)
        code = main(argv)

    # THEN it says so and the deployed release is untouched
    assert code == 130 and capsys.readouterr().err == "python -m training export: interrupted\n"
    assert _contents(folder) == files

    # WHEN it runs to the end, THEN the folder serves the new model, evaluated, with the user's file kept
    assert main(argv) == 0
    assert Classifier(folder).card.input_size == 32 and keras.models.load_model(model_file)
    assert (folder / "evaluation" / "evaluation.json").is_file()
    assert (folder / "NOTES.md").read_bytes() == b"ours"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["catdog"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "--out", "{release}", "--release", "{release}"],
            "argument --out: {release} is within the release folder",
        ),
        (
            ["release", "r.toml", "--out", "{release}", "--run-dir", "{release}/run"],
            "--run-dir: {release}/run",
        ),
        (["export", "{release}/best.keras", "--split", "s.json", "--out", "{release}"], "the Keras model: "),
    ],
)
def test_given_a_run_folder_inside_the_release_folder_when_run_then_refused_before_any_work(
    tmp_path, capsys, argv, message
):
    # GIVEN a folder the command writes into that the staged release would replace
    release = tmp_path / "models"
    argv = [arg.format(release=release) for arg in argv]

    # WHEN it runs, THEN one line says so, as the command's other argument errors are (it was said as
    # "python -m training: error:", naming no command), and nothing was written
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert message.format(release=release) in err
    assert err.startswith(f"python -m training {argv[0]}: error: ")
    assert not release.exists()
