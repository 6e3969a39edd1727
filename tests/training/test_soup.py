"""Fine-tuning runs averaged into one network (``train.soup``, ``training.build.fine_tune``): a real, if
tiny, run on the fixture photos of the release recipe (64 px, cut 14)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from training import build  # noqa: E402
from training.threeclass import build_backbone  # noqa: E402

pytestmark = pytest.mark.slow


def _quiet(message) -> None:
    pass


@pytest.fixture(scope="module")
def frozen_phase(release_run):
    """The tiny release's cached views, and its network and head as the frozen phase leaves them."""
    recipe, _, _, run_dir = release_run
    recipe = replace(recipe, train=replace(recipe.train, fine_epochs=2))
    prepared = build.prepare(recipe, run_dir, log=_quiet)
    caches = build.cache(recipe, prepared, log=_quiet)
    sets = build._train_sets(recipe, prepared, caches)
    labels = build.labels_of(prepared, "val")
    frozen_val = ([build.view0(caches["val"], "pooled"), build.view0(caches["val"], "logits")], labels)
    classifier, _ = build.train_frozen_head(recipe, sets, frozen_val)
    _, top, _ = build_backbone(recipe.model.backbone, recipe.model.size, recipe.model.cut)
    val = ([build.view0(caches["val"], "act"), build.view0(caches["val"], "logits")], np.eye(3)[labels])
    start = [v.numpy() for v in top.variables + classifier.variables]
    return recipe, sets, val, top, classifier, start


def _fine_tune(frozen_phase, folder, model=None, neither=None, nudge=0.0, **train):
    """``fine_tune`` from the frozen phase's start with these ``[model]``, ``[neither]`` and ``[train]``
    changes, keeping each run in ``folder``; (the runs it trained, its scores, the weights it leaves).
    ``nudge``: added to the head's last weights first, a start that another frozen phase left."""
    recipe, sets, val, top, classifier, start = frozen_phase
    for variable, value in zip(top.variables + classifier.variables, start, strict=True):
        variable.assign(value)
    classifier.trainable_variables[-1].assign_add(np.full(classifier.trainable_variables[-1].shape, nudge))
    recipe = replace(
        recipe,
        model=replace(recipe.model, **(model or {})),
        neither=replace(recipe.neither, **(neither or {})),
        train=replace(recipe.train, **train),
    )
    histories, scores = build.fine_tune(recipe, top, classifier, sets, val, log=_quiet, keep=folder)
    return histories, scores, top.get_weights() + classifier.get_weights()


def test_given_a_soup_of_two_when_fine_tuned_then_the_network_is_the_mean_of_the_two_seeds_runs(
    frozen_phase, tmp_path
):
    seed = frozen_phase[0].train.seed
    _, scores, souped = _fine_tune(frozen_phase, tmp_path, soup=2)

    assert [s["weights"] for s in scores] == [
        f"batch seed {seed}",
        f"batch seed {seed + 1}",
        "mean of the runs",
    ]
    kept = build.kept_runs(tmp_path)
    assert list(kept) == [seed, seed + 1]
    first, second = kept[seed], kept[seed + 1]
    assert sum(not np.array_equal(a, b) for a, b in zip(first, second, strict=True)) > 2, (
        "another batch seed trains another network"
    )
    for mean, a, b in zip(souped, first, second, strict=True):
        np.testing.assert_allclose(mean, (a + b) / 2, rtol=0, atol=1e-7)


def test_given_a_soup_when_scored_then_the_mean_is_scored_on_val_as_the_network_it_leaves(
    frozen_phase, tmp_path
):
    _, _, val, top, classifier, _ = frozen_phase
    _, scores, _ = _fine_tune(frozen_phase, tmp_path, soup=2)
    act, logits = keras.Input(top.input.shape[1:]), keras.Input((1000,))
    left = keras.Model([act, logits], classifier([top(act), logits]))
    left.compile(loss="categorical_crossentropy")  # as fine-tuning scores it (from the softmax's logits)
    assert scores[-1]["val_loss"] == pytest.approx(left.evaluate(val[0], val[1], verbose=0), abs=1e-4)
    assert scores[-1]["val_loss"] not in {s["val_loss"] for s in scores[:-1]}


def test_given_one_run_when_fine_tuned_then_it_is_kept_and_scored_once(frozen_phase, tmp_path):
    seed = frozen_phase[0].train.seed
    _, scores, weights = _fine_tune(frozen_phase, tmp_path, soup=1)
    assert [s["weights"] for s in scores] == [f"batch seed {seed}"]
    assert [p.name for p in tmp_path.iterdir()] == [f"fine-tune-seed-{seed}.npz"]
    for kept, left in zip(build.kept_runs(tmp_path)[seed], weights, strict=True):
        np.testing.assert_array_equal(kept, left)


def test_given_a_kept_run_when_the_soup_grows_then_only_the_new_run_trains(frozen_phase, tmp_path):
    seed = frozen_phase[0].train.seed
    _fine_tune(frozen_phase, tmp_path, soup=1)
    first = tmp_path / f"fine-tune-seed-{seed}.npz"
    before = first.stat().st_mtime_ns
    histories, _, grown = _fine_tune(frozen_phase, tmp_path, soup=2)

    assert first.stat().st_mtime_ns == before
    assert list(histories) == ["fine_tune 2"], "the kept run is not trained again"
    kept = build.kept_runs(tmp_path)
    for mean, a, b in zip(grown, kept[seed], kept[seed + 1], strict=True):
        np.testing.assert_allclose(mean, (a + b) / 2, rtol=0, atol=1e-7)


@pytest.mark.parametrize(
    "change",
    [
        {"model": {"frozen_copy": False}},
        {"neither": {"threshold_rule": "max-pets-neither", "max_pets_neither": 0.2}},
    ],
    ids=["frozen copy dropped", "threshold rule changed"],
)
def test_given_a_kept_run_when_the_recipe_changes_only_after_training_then_the_run_is_reused(
    frozen_phase, tmp_path, change
):
    seed = frozen_phase[0].train.seed
    _, _, before_change = _fine_tune(frozen_phase, tmp_path, soup=1)
    kept = tmp_path / f"fine-tune-seed-{seed}.npz"
    before = kept.stat().st_mtime_ns
    histories, _, after_change = _fine_tune(frozen_phase, tmp_path, soup=1, **change)

    assert histories == {}, "where the graph reads the ImageNet logits, or how T is chosen, does not train"
    assert kept.stat().st_mtime_ns == before
    for a, b in zip(before_change, after_change, strict=True):
        np.testing.assert_array_equal(a, b)


def test_given_a_run_kept_from_another_recipe_when_fine_tuned_then_it_is_trained_again(
    frozen_phase, tmp_path
):
    seed = frozen_phase[0].train.seed
    _fine_tune(frozen_phase, tmp_path, soup=1, fine_lr=1e-3)
    other = build.kept_runs(tmp_path)[seed]
    _, _, weights = _fine_tune(frozen_phase, tmp_path, soup=1)

    assert list(build.kept_runs(tmp_path)) == [seed]
    assert any(not np.array_equal(a, b) for a, b in zip(other, build.kept_runs(tmp_path)[seed], strict=True))
    for kept, left in zip(build.kept_runs(tmp_path)[seed], weights, strict=True):
        np.testing.assert_array_equal(kept, left)


def test_given_a_run_kept_from_another_start_when_fine_tuned_then_it_is_trained_again(frozen_phase, tmp_path):
    # GIVEN a run kept from the same recipe but another start (a frozen phase that ended elsewhere)
    seed = frozen_phase[0].train.seed
    _fine_tune(frozen_phase, tmp_path, soup=1, nudge=0.5)
    other = build.kept_runs(tmp_path)[seed]

    # WHEN the runs of this start are asked for
    histories, _, weights = _fine_tune(frozen_phase, tmp_path, soup=1)

    # THEN it is not averaged in as if it were one of them: it is trained again from this start
    assert list(histories) == ["fine_tune"]
    assert any(not np.array_equal(a, b) for a, b in zip(other, weights, strict=True))
    for kept, left in zip(build.kept_runs(tmp_path)[seed], weights, strict=True):
        np.testing.assert_array_equal(kept, left)


def test_given_a_release_run_folder_when_built_again_by_another_process_then_its_kept_run_is_reused(
    release_run, tiny_recipe, write_recipe, tmp_path
):
    # GIVEN the run folder of a built release, holding its fine-tuning run
    _, card, _, run_dir = release_run
    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("split.json", *(p.name for p in run_dir.glob("fine-tune-seed-*.npz"))):
        shutil.copy(run_dir / name, folder / name)
    recipe = write_recipe(tmp_path / "tiny.toml", tiny_recipe)

    # WHEN the same recipe is built again in that folder by a new process (a build after a crash)
    command = ["release", recipe, "--out", str(tmp_path / "model"), "--run-dir", str(folder)]
    done = subprocess.run(
        [sys.executable, "-m", "training", *command],
        capture_output=True,
        text=True,
        timeout=600,
    )

    # THEN its frozen phase starts the runs where the first build did, bit for bit: the kept run is
    # loaded, not trained again, and the model is the first build's
    assert done.returncode == 0, done.stderr[-2000:]
    assert "kept in" in done.stdout and "not retrained" in done.stdout
    assert "Epoch" not in done.stdout.split("frozen:", 1)[1]
    assert json.loads((tmp_path / "model" / "model.json").read_text())["sha256"] == card["sha256"]
