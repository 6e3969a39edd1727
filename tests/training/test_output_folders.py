"""What the training commands leave in the folders they write: nothing of an earlier run's lost, nothing
stale left beside the new files, no empty folder after a failure."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import pytest
from conftest import photo_folders

from training.__main__ import _run, checkout, main

REPOSITORY = Path(__file__).resolve().parents[2]


def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def recipe(tmp_path, cat_photos, dog_photos, monkeypatch):
    """A recipe of a few photos in a fresh working folder, release 0.0.3 (default run folder
    runs/release-0.0.3, cache runs/cache); the build itself is recorded, not run."""
    import training.build

    monkeypatch.chdir(tmp_path)
    data = photo_folders(tmp_path / "data", cat_photos[:4], dog_photos[:4])
    file = tmp_path / "recipe.toml"
    file.write_text(f'[release]\nversion = "0.0.3"\n\n[[data]]\nfolder = "{data}"\n')
    built = []
    monkeypatch.setattr(training.build, "build_release", lambda *args, **kwargs: built.append(args))
    return file, built


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--out", "runs/release-0.0.3"],
            "the default run folder (--run-dir): runs/release-0.0.3 is within the release folder "
            "runs/release-0.0.3",
        ),
        (["--out", "runs"], "the default run folder (--run-dir): runs/release-0.0.3 is within the release"),
        (
            ["--out", "runs/release-0.0.4", "--set", 'release.version="0.0.4"'],
            "the default run folder (--run-dir): runs/release-0.0.4 is within",
        ),
        (["--out", "runs", "--run-dir", "elsewhere"], "the recipe's cache_dir: runs/cache is within"),
        (
            ["--out", "models/x", "--ablations", "models/x/ablations.json"],
            "argument --ablations: models/x/ablations.json is within the release folder models/x",
        ),
    ],
)
def test_given_a_release_folder_holding_the_default_run_folder_or_cache_when_released_then_refused(
    recipe, capsys, options, message
):
    file, built = recipe
    # GIVEN a run folder, cache or ablations file the release folder holds, given or a default
    (Path("runs") / "release-0.0.3").mkdir(parents=True)
    (Path("runs") / "release-0.0.3" / "model.keras").write_bytes(b"an earlier run's model")

    # WHEN it is released, THEN one line says so, exit 2, before the build, as the release command's
    # other argument errors are said (it was "python -m training: error: … (see python -m training --help)")
    with pytest.raises(SystemExit) as done:
        main(["release", str(file), *options])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "which a release replaces whole" in err
    assert err.startswith("python -m training release: error: ")
    assert err.endswith("(see python -m training release --help)\n")
    assert built == []
    # and nothing was staged or lost
    assert _contents(Path("runs")) == {"release-0.0.3/model.keras": b"an earlier run's model"}
    assert sorted(p.name for p in Path().iterdir()) == ["data", "recipe.toml", "runs"]


def test_given_a_release_folder_apart_from_the_run_folder_and_cache_when_released_then_it_is_built(recipe):
    file, built = recipe
    assert main(["release", str(file), "--out", "models/x"]) == 0
    assert len(built) == 1 and built[0][2] == Path("runs/release-0.0.3")


def test_given_a_release_when_built_then_the_card_is_told_the_recipe_file_and_out_given(
    recipe, monkeypatch, tmp_path
):
    import training.build

    # GIVEN a recipe outside the repository (tiny.toml's release was carded as training/recipes/0.0.3.toml)
    file, _ = recipe
    given = []
    monkeypatch.setattr(training.build, "build_release", lambda *args, **kwargs: given.append(kwargs))

    # WHEN it is released into models/x with a --set
    assert main(["release", str(file), "--out", "models/x", "--set", "train.head_epochs=1"]) == 0

    # THEN the build is told the file, the --out given (the build writes into a staging folder), the run
    # folder, the --set and the code's commit, for the card's rebuild command; paths outside the
    # repository absolute
    assert given[0]["rebuild"] == {
        "recipe_file": str(file.resolve()),
        "out": str((tmp_path / "models" / "x").resolve()),
        "run_dir": str((tmp_path / "runs" / "release-0.0.3").resolve()),
        "set": ["train.head_epochs=1"],
    } | checkout(REPOSITORY)


def test_given_paths_inside_the_repository_when_recorded_then_they_are_relative_to_it(monkeypatch):
    from training.__main__ import rebuild_record

    # GIVEN a committed recipe, a release folder and a run folder in the checkout, named from a subfolder
    monkeypatch.chdir(REPOSITORY / "docs")

    # WHEN recorded, THEN as paths from the repository's root, which the card's rebuild command runs from
    recipe, out, run_dir = (
        Path("../training/recipes/2.0.0-lite0.toml"),
        Path("../models/catdog"),
        Path("../runs/x"),
    )
    assert rebuild_record(recipe, out, [], run_dir) == {
        "recipe_file": "training/recipes/2.0.0-lite0.toml",
        "out": "models/catdog",
        "run_dir": "runs/x",
    } | checkout(REPOSITORY)


def test_given_a_git_checkout_when_its_commit_is_recorded_then_files_not_committed_are_said(tmp_path):
    # GIVEN a repository with one commit, and a folder beside it that is none
    repository, elsewhere = tmp_path / "repository", tmp_path / "elsewhere"
    elsewhere.mkdir()

    def git(*command) -> str:
        done = subprocess.run(
            ["git", "-C", str(repository), *command], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    repository.mkdir()
    git("init", "-q")
    (repository / "recipe.toml").write_text("[release]\n")
    git("add", "recipe.toml")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "recipe")
    head = git("rev-parse", "HEAD")

    # WHEN recorded as it is, after a new file, and for the folder beside it
    # THEN the commit; the commit and that it does not hold everything built from; nothing
    assert checkout(repository) == {"commit": head}
    (repository / "new.toml").write_text("[release]\n")
    assert checkout(repository) == {"commit": head, "uncommitted_changes": True}
    assert checkout(elsewhere) == {}


def test_given_an_earlier_release_in_the_folder_when_exported_again_then_only_the_users_files_are_kept(
    tmp_path,
):
    # GIVEN a release folder with an earlier release (3-class, with a report) and the user's own file
    folder = tmp_path / "models" / "rel"
    (folder / "evaluation").mkdir(parents=True)
    earlier = {
        "model.tflite": b"the earlier model",
        "model.json": b'{"name": "tiny", "version": "0.0.1"}',
        "README.md": b"# tiny 0.0.1",
        "evaluation/report.md": b"the earlier model's report",
        "evaluation/report.json": b"{}",
        "evaluation/worst-errors-int8.csv": b"path,label",
        "NOTES.md": b"ours",
        "notes/evaluation/mine.md": b"ours too",
    }
    (folder / "notes" / "evaluation").mkdir(parents=True)
    for name, content in earlier.items():
        (folder / name).write_bytes(content)

    # WHEN an export writes another model there (its model, card, page and evaluation, as
    # training.export.release does)
    def export(args):
        (args.out / "evaluation").mkdir(exist_ok=True)
        for name in ("model.tflite", "model.json", "README.md", "evaluation/evaluation.json"):
            (args.out / name).write_bytes(b"new")

    assert _run(argparse.Namespace(command="export", out=folder, run=export)) == 0

    # THEN the folder holds the new release and the user's file; no earlier report beside the new model
    new = {name: b"new" for name in ("model.tflite", "model.json", "README.md", "evaluation/evaluation.json")}
    assert _contents(folder) == new | {"NOTES.md": b"ours", "notes/evaluation/mine.md": b"ours too"}
    assert sorted(p.name for p in folder.parent.iterdir()) == ["rel"]


@pytest.mark.parametrize("earlier", [["best.keras"], ["best.keras", "float"], ["float"]])
def test_given_a_run_folder_with_a_trained_model_when_train_writes_there_then_refused_and_kept(
    tmp_path, cat_photos, dog_photos, capsys, earlier
):
    from training.__main__ import _prepared

    # GIVEN a run folder with its split and an earlier run's model and/or float export
    data = photo_folders(tmp_path / "data", cat_photos[:10], dog_photos[:10])
    run = tmp_path / "run"
    _prepared(run / "split.json", data, 0, (0.6, 0.2, 0.2))
    if "best.keras" in earlier:
        (run / "best.keras").write_bytes(b"the earlier model")
    if "float" in earlier:
        (run / "float").mkdir()
        (run / "float" / "model.json").write_text(json.dumps({"input": {"size": 32}}))
    before = _contents(run)

    # WHEN train writes into it again (another input size)
    tiny = ["--size", "40", "--option", "filters=[8]", "--option", "stem_filters=4", "--epochs", "1"]
    status = main(["train", "--data", str(data), "--out", str(run), *tiny])

    # THEN one line names what is there and the way out; the folder is as it was
    shown = " and ".join({"best.keras": "best.keras", "float": "float/"}[name] for name in earlier)
    them = "it" if len(earlier) == 1 else "them"
    assert status == 1
    assert capsys.readouterr().err == (
        f"python -m training train: error: {run} holds an earlier run's {shown}: give another --out (with "
        f"--split {run / 'split.json'} for the same split), or delete {them} to train there again\n"
    )
    assert _contents(run) == before


def test_given_an_earlier_evaluation_in_the_folder_when_evaluated_again_then_only_its_files_are_replaced(
    tiny_model_dir, cat_photos, dog_photos, tmp_path
):
    from training.data import make_split, scan

    data = photo_folders(tmp_path / "data", cat_photos[:6], dog_photos[:6])
    split_file = make_split(scan(data), (0.4, 0.1, 0.5), seed=0).save(tmp_path / "split.json")
    # GIVEN a folder an evaluation of other models wrote, and the user's own files
    out = tmp_path / "cmp"
    out.mkdir()
    for name in ("evaluation.json", "confusion-keras.png", "confusion-models-a.png", "notes.md", "plot.png"):
        (out / name).write_bytes(b"earlier")

    # WHEN another model is evaluated into it
    argv = ["evaluate", str(tiny_model_dir), "--split", str(split_file), "--out", str(out)]
    assert main([*argv, "--cache", str(tmp_path / "cache")]) == 0

    # THEN it holds this evaluation's files and the user's, none of the earlier evaluation's
    report = json.loads((out / "evaluation.json").read_text())
    assert list(report["models"]) == [str(tiny_model_dir)]
    pngs = sorted(p.name for p in out.glob("confusion-*.png"))
    assert len(pngs) == 1 and pngs[0].endswith("tiny.png")
    assert (out / "notes.md").read_bytes() == (out / "plot.png").read_bytes() == b"earlier"
    assert sorted(p.name for p in out.iterdir()) == sorted(["evaluation.json", *pngs, "notes.md", "plot.png"])


def test_given_a_release_whose_data_scan_fails_when_released_then_no_empty_run_folder_is_left(
    tmp_path, capsys
):
    # GIVEN a recipe whose [[data]] folder holds class folders without photos, and a new --run-dir
    data = tmp_path / "data"
    for label in ("cat", "dog"):
        (data / label).mkdir(parents=True)
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'[[data]]\nfolder = "{data}"\n')
    run_dir = tmp_path / "runs" / "re1"

    # WHEN it is released into a new release folder, THEN it fails in one line and leaves neither the run
    # folder nor runs/, nor the models/ made for the staging folder
    code = main(["release", str(recipe), "--out", str(tmp_path / "models" / "x"), "--run-dir", str(run_dir)])
    assert code in (1, 2) and capsys.readouterr().err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "recipe.toml"]


def test_given_an_existing_run_folder_when_a_release_fails_then_it_is_kept_even_empty(tmp_path, capsys):
    # GIVEN a run folder the user made (empty) and a recipe whose scan fails
    data = tmp_path / "data"
    for label in ("cat", "dog"):
        (data / label).mkdir(parents=True)
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'[[data]]\nfolder = "{data}"\n')
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    # WHEN it is released and fails, THEN the user's folder stays
    assert main(["release", str(recipe), "--out", str(tmp_path / "out"), "--run-dir", str(run_dir)]) != 0
    assert run_dir.is_dir()


def test_given_a_report_whose_data_scan_fails_when_run_then_no_empty_run_or_report_folder_is_left(
    tmp_path, serving_model, capsys
):
    # GIVEN a released model and a recipe whose [[data]] folder holds class folders without photos
    data = tmp_path / "data"
    for label in ("cat", "dog"):
        (data / label).mkdir(parents=True)
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'[[data]]\nfolder = "{data}"\n')

    # WHEN the model is reported on into new folders, THEN it fails in one line and leaves neither the run
    # folder (nor runs/ above it) nor the report folder
    argv = ["report", str(serving_model), "--recipe", str(recipe), "--run-dir", str(tmp_path / "runs" / "r")]
    code = main([*argv, "--out", str(tmp_path / "out" / "report")])
    assert code == 1 and capsys.readouterr().err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "recipe.toml"]


@pytest.mark.parametrize("earlier", [["model.keras"], ["model.keras", "frozen.keras", "float"]])
def test_given_a_run_folder_with_a_transfer_model_when_transfer_writes_there_then_refused_and_kept(
    tmp_path, cat_photos, dog_photos, capsys, earlier
):
    # GIVEN a transfer run folder holding an earlier run's models (and float export)
    data = photo_folders(tmp_path / "data", cat_photos[:10], dog_photos[:10])
    run = tmp_path / "run"
    run.mkdir()
    for name in earlier:
        (run / name).mkdir() if name == "float" else (run / name).write_bytes(b"the earlier model")
    before = _contents(run)

    # WHEN transfer trains into it again
    status = main(["transfer", "--data", str(data), "--out", str(run), "--fine-epochs", "0"])

    # THEN one line names what is there (it used to replace model.keras and frozen.keras without a word)
    shown = {1: "model.keras", 3: "model.keras, frozen.keras and float/"}[len(earlier)]
    assert status == 1
    assert capsys.readouterr().err == (
        f"python -m training transfer: error: {run} holds an earlier run's {shown}: give another --out, "
        f"or delete {'it' if len(earlier) == 1 else 'them'} to train there again\n"
    )
    assert _contents(run) == before and sorted(p.name for p in run.iterdir()) == sorted(earlier)


def _card(version: str) -> str:
    card = {
        "name": "tiny",
        "version": version,
        "sha256": "0" * 64,
        "labels": ["cat", "dog"],
        "input": {"size": 8},
    }
    return json.dumps(card)


@pytest.mark.parametrize(
    ("card", "shown"),
    [
        (_card("0.0.1"), "release 0.0.1 (tiny)"),
        ('{"name": "tiny"}', "an earlier release whose model.json cannot be read"),
        (None, None),
    ],
)
def test_given_a_release_folder_when_another_release_is_written_there_then_it_says_what_it_replaces(
    tmp_path, capsys, card, shown
):
    # GIVEN a release folder holding a release (or a card that cannot be read, or no card)
    folder = tmp_path / "models" / "rel"
    folder.mkdir(parents=True)
    if card is not None:
        (folder / "model.json").write_text(card)
    said_before: list[str] = []

    # WHEN an export writes another release there
    def export(args):
        said_before.append(capsys.readouterr().out)
        (args.out / "model.json").write_text(_card("0.0.2"))

    assert _run(argparse.Namespace(command="export", out=folder, run=export)) == 0

    # THEN it said what the folder held before the work began, and again once it was replaced
    if shown is None:
        assert said_before == [""] and capsys.readouterr().out == ""
    else:
        assert said_before == [f"{folder} holds {shown}: this release replaces it once it is written\n"]
        assert capsys.readouterr().out == f"{folder}: replaced {shown}\n"
    assert json.loads((folder / "model.json").read_text())["version"] == "0.0.2"
