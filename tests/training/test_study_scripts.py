"""The scripts that study a released model on a recipe's photos (training/study.py) refuse bad arguments
in one line, before any photo is scanned."""

from __future__ import annotations

import pytest

pytest.importorskip("keras")

MODEL = "models/catdog"


@pytest.mark.parametrize(
    ("script", "recipe", "model", "message"),
    [
        (
            "served_figures.py",
            "nope.toml",
            MODEL,
            "cannot read the recipe nope.toml: No such file or directory",
        ),
        ("evaluate_flip.py", None, "models/nope", "no model.tflite + model.json in models/nope"),
        ("near_duplicates.py", None, MODEL, "[[data]] {missing}: no such folder"),
    ],
)
def test_given_a_bad_argument_when_a_study_script_runs_then_one_line_says_what_and_exit_2(
    script, recipe, model, message, tmp_path, write_recipe, release_script
):
    # GIVEN a recipe whose data folder is missing (where the case names no recipe file of its own)
    missing = tmp_path / "gone"
    document = {"release": {"name": "x", "version": "1.0.0"}, "data": [{"folder": str(missing)}]}
    recipe = recipe or write_recipe(tmp_path / "r.toml", document)
    out = () if script == "served_figures.py" else ("--out", tmp_path / "o.json")

    # WHEN the script is run
    result = release_script(script, recipe, model, tmp_path / "run", *out)

    # THEN it stops with one line naming the problem (it was a traceback), having made no run folder
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 2, result.stderr[-2000:]
    assert last == f"{script}: error: {message.format(missing=missing)}"
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_given_a_distilled_release_whose_teacher_is_gone_when_studied_then_it_is_measured(
    tiny_recipe, release_run, tmp_path, write_recipe, release_script
):
    # GIVEN a release's recipe that names a distillation teacher since deleted (the teacher trains the
    # release; measuring the release never reads it)
    _, _, out, run_dir = release_run
    gone = tmp_path / "runs" / "teacher" / "model.keras"
    recipe = write_recipe(tmp_path / "distilled.toml", tiny_recipe | {"distill": {"teacher": str(gone)}})

    # WHEN a study script measures the release on the recipe's photos
    result = release_script("evaluate_flip.py", recipe, out, run_dir, "--out", tmp_path / "flip.json")

    # THEN it does (it was refused: "distill.teacher: no trained model at …")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "flip.json").is_file()
