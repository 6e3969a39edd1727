"""A recipe file to a released 3-class model: several sources, cached views, one probability vector.

A real, if tiny, run: 64 px, cut 14, the fixture photos as two sources (Asirra cats and dogs; other
pets plus photos without pets as a "breeds" source) and an evaluation folder with a look-alike folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from catdog.card import CLASS_PROBABILITY, NeitherCheck  # noqa: E402
from training import build  # noqa: E402
from training.evaluate import predict_litert  # noqa: E402
from training.modelcard import render  # noqa: E402
from training.report import answer  # noqa: E402

pytestmark = pytest.mark.slow
FIXTURES = Path(__file__).parent.parent / "fixtures"


def test_given_a_recipe_when_released_then_the_card_follows_the_serving_contract(release_run):
    _, card, out, _ = release_run
    assert card["labels"] == ["cat", "dog", "neither"]
    assert card["quantization"].startswith("full-int8")
    assert card["input"]["dtype"] == "uint8"
    assert card["neither"]["method"] == "class-probability"
    assert 0 < card["neither"]["threshold"] <= 1.000001  # just above 1: "neither" for no val pet at p = 1
    assert card["version"] == "9.9.9"
    assert card["training"]["recipe"]["model"]["cut"] == 14  # the resolved recipe, defaults included
    assert card["training"]["recipe"]["train"]["weight_decay"] == 1e-4
    sources = card["dataset"]["sources"]
    assert sources["asirra"]["counts"] == {"cat": 20, "dog": 20, "neither": 0}
    assert sources["breeds"]["counts"]["neither"] == 30
    assert (out / "evaluation" / "report.md").is_file()
    assert (out / "README.md").read_text() == render(card)  # the page for people, from the final card
    # the command it was built with, not training/recipes/9.9.9.toml --out models/catdog (session 20)
    assert card["training"]["rebuild"] == {"recipe_file": "/home/me/tiny.toml", "out": "runs/tiny-release"}
    assert "python -m training release /home/me/tiny.toml --out runs/tiny-release\n" in render(card)


def test_given_the_recipes_threshold_rule_when_released_then_the_card_has_its_threshold_on_val(release_run):
    from training.build import photos_of, prepare
    from training.report import val_threshold

    recipe, card, _, run_dir = release_run
    p_val = np.load(run_dir / "probabilities.npz")["int8/val"]
    labels = np.array(
        [photo.label for photo in photos_of(prepare(recipe, run_dir, log=lambda _: None))["val"]]
    )
    assert card["neither"]["threshold_rule"] == "fewest-val-mistakes"
    chosen = val_threshold(p_val, labels, recipe.neither)
    assert card["neither"]["threshold"] == NeitherCheck(CLASS_PROBABILITY, chosen).stored_threshold()
    served, _ = answer(p_val, card["neither"]["threshold"])  # the stored T keeps out what the chosen one did
    assert (served == 2).sum() == (answer(p_val, chosen)[0] == 2).sum()
    assert card["neither"]["chosen_on"] == "val parts of asirra, breeds, int8 model"  # this recipe's folders


def test_given_the_released_tflite_when_run_then_one_output_of_three_probabilities(release_run, cat_photos):
    from catdog import load_image, preprocess

    _, _, out, _ = release_run
    pixels = np.concatenate([preprocess(load_image(p), 64) for p in cat_photos[:3]])
    probabilities = predict_litert(out / "model.tflite", pixels)
    assert probabilities.shape == (3, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=0.02)


def test_given_the_run_when_it_ends_then_each_source_and_each_kind_is_reported_apart(release_run):
    _, _, out, _ = release_run
    report = json.loads((out / "evaluation" / "report.json").read_text())
    int8 = report["int8"]
    assert set(int8["set"]) == {"asirra-val", "asirra-test", "breeds-val", "dev"}
    assert int8["kind"]["dev/look-alike"]["count"] == 1  # the raccoon of neither-hard/
    assert int8["kind"]["dev/non-pet"]["count"] == 4
    # dev's 2 cats and 2 dogs are copies of asirra photos: the 2 in train or val are left out (the seeded
    # split puts one cat and one dog there), the test ones measured
    assert int8["set"]["dev"]["count"] == 7
    assert "asirra_test_accuracy" in report["int8"]["headline"]


def test_given_a_release_when_built_then_its_served_figures_are_measured_through_catdog_and_recorded(
    release_run,
):
    # GIVEN the tiny release, built by the one `release` command (served figures were a second command,
    # scripts/served_figures.py, that a release could be committed without)
    _, card, out, _ = release_run

    # THEN the card and evaluation/served.json hold the figures catdog.Classifier's answers give, which on
    # photos without a blank one are the network's, photo for photo
    served = card["metrics"]["served"]
    assert served["measured_by"].startswith("release: catdog.Classifier")
    assert served["unlike_the_network"] == [] and served["headline"] == card["metrics"]["int8"]
    assert served["per_kind"] == card["metrics"]["per_kind"]
    assert json.loads((out / "evaluation" / "served.json").read_text())["headline"] == served["headline"]
    assert "| figure | as served | int8 network | float network |" in (out / "README.md").read_text()


def test_given_cached_views_when_the_train_set_is_read_then_each_source_has_its_own_number_of_views(
    release_run,
):
    recipe, _, _, run_dir = release_run
    prepared = build.prepare(recipe, run_dir, log=lambda message: None)
    caches = build.cache(recipe, prepared, log=lambda message: None)
    assert caches["train/asirra"]["act"].shape[1] == 3
    assert caches["train/breeds"]["act"].shape[1] == 4
    assert caches["val"]["logits"].shape[1:] == (1, 1000)
    # views differ: the mirror and the upload-style draw are not the photo itself
    act = np.asarray(caches["train/asirra"]["act"][0], dtype=np.float32)
    assert not np.allclose(act[0], act[1]) and not np.allclose(act[0], act[2])


@pytest.mark.parametrize("change", ["a photo added", "a photo deleted"])
def test_given_a_run_folder_split_from_other_photos_when_released_again_then_refused_before_any_work(
    tiny_recipe, tmp_path, change
):
    from training.recipe import RecipeError, parse_recipe

    # GIVEN a run folder whose split was made from a copy of the recipe's photos, which then changed
    data = []
    for source in tiny_recipe["data"]:
        folder = tmp_path / Path(source["folder"]).name
        shutil.copytree(source["folder"], folder)
        data.append(source | {"folder": str(folder)})
    recipe = parse_recipe(tiny_recipe | {"data": data})
    build.prepare(recipe, tmp_path / "run", log=lambda _: None)
    cats = sorted((tmp_path / "asirra" / "cat").iterdir())
    if change == "a photo added":  # one of the other source's, which the split has not seen here
        shutil.copy(sorted((tmp_path / "breeds" / "cat").iterdir())[0], cats[0].with_name("added.jpg"))
    else:
        cats[0].unlink()

    # WHEN the release is built in that run folder again, THEN it says so at once: an added photo was left
    # out without a word, a deleted one was trained on from the cache and failed at the export
    with pytest.raises(RecipeError, match=r"made from other photos than the recipe's \[\[data\]\] folders"):
        build.prepare(recipe, tmp_path / "run", log=lambda _: None)


def test_given_the_answer_rule_when_p_neither_reaches_the_threshold_then_neither_else_cat_or_dog():
    probabilities = np.array([[0.5, 0.1, 0.4], [0.3, 0.2, 0.5], [0.2, 0.7, 0.1]])
    answers, confidences = answer(probabilities, 0.4)
    assert answers.tolist() == [2, 2, 1]
    np.testing.assert_allclose(confidences, [0.4, 0.5, 0.7])


def test_given_a_share_of_pets_when_the_threshold_is_chosen_then_at_most_that_share_reaches_it():
    from training.report import choose_threshold

    p_neither = np.array([0.01, 0.02, 0.02, 0.1, 0.3, 0.5, 0.6, 0.9])
    threshold = choose_threshold(p_neither, 0.25)  # 2 of 8 photos may be answered "neither"
    assert (p_neither >= threshold).sum() == 2
    assert 0.3 < threshold <= 0.6  # the lowest such threshold, between the 3rd and the 2nd highest
    assert (p_neither >= choose_threshold(p_neither, 0.0)).sum() == 0


def _val(rows):
    """(probabilities, labels) of photos given as (label, p(neither)); a pet's cat/dog argmax is right."""
    probabilities = [
        [1 - p, 0, p] if label == 0 else [0, 1 - p, p] if label == 1 else [(1 - p) / 2, (1 - p) / 2, p]
        for label, p in rows
    ]
    return np.array(probabilities), np.array([label for label, _ in rows])


@pytest.mark.parametrize(
    ("photos_without_pets", "expected"),
    [
        ([0.9, 0.95], (0.6, 0.9)),  # held above every pet, the pets are right and no photo is lost
        ([0.52, 0.55, 0.58], (0.5, 0.52)),  # one pet back costs nothing; the next would cost three
        ([0.4, 0.45], (0.02, 0.4)),  # catching both is worth the two pets (a tie): the lowest T stays
        ([], (0.02, 0.5)),  # nothing measures what raising T costs: the lowest T stays
    ],
)
def test_given_val_photos_when_the_fewest_mistakes_rule_chooses_then_it_trades_pets_for_misses_at_a_gain(
    photos_without_pets, expected
):
    from training.recipe import NeitherSettings
    from training.report import choose_threshold, val_threshold

    pets = [(0, 0.01), (1, 0.02), (0, 0.5), (1, 0.6)]  # half of them may be answered "neither"
    probabilities, labels = _val(pets + [(2, p) for p in photos_without_pets])
    fewest = NeitherSettings(max_pets_neither=0.5, threshold_rule="fewest-val-mistakes")
    threshold = val_threshold(probabilities, labels, fewest)
    assert expected[0] < threshold < expected[1]
    lowest = choose_threshold(probabilities[labels < 2, 2], 0.5)
    assert val_threshold(probabilities, labels, NeitherSettings(max_pets_neither=0.5)) == lowest
    wrong = (answer(probabilities, threshold)[0] != labels).sum()
    assert wrong <= (answer(probabilities, lowest)[0] != labels).sum()


def test_given_no_fine_tuning_when_assembled_then_the_head_reads_the_imagenet_tops_own_features():
    from training.threeclass import assemble, build_backbone, head

    bottom, top, imagenet_top = build_backbone("efficientnet_lite0", 32, 14, weights=None)
    classifier = head(top.output.shape[-1])
    without = assemble(bottom, None, imagenet_top, classifier, "without")
    with_top = assemble(bottom, top, imagenet_top, classifier, "with")
    assert top.name not in {layer.name for layer in without.layers}
    assert top.name in {layer.name for layer in with_top.layers}
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    pooled, logits = imagenet_top(bottom(pixels))
    np.testing.assert_allclose(without(pixels), classifier([pooled, logits]), atol=1e-6)


def test_given_no_frozen_copy_when_assembled_then_the_vote_reads_imagenets_layer_on_the_tuned_features(
    cat_photos, dog_photos
):
    from catdog import load_image, preprocess
    from training.threeclass import assemble, build_backbone, head

    keras.utils.set_random_seed(2)  # the head's initial weights: the answers compared below
    bottom, top, imagenet_top = build_backbone("efficientnet_lite0", 96, 14)
    rng = np.random.default_rng(2)
    top.set_weights([w * rng.normal(1.0, 0.1, w.shape) for w in top.get_weights()])  # as if fine-tuned
    classifier = head(top.output.shape[-1], imagenet_neither=1.0)  # the vote reads the logits
    with_copy = assemble(bottom, top, imagenet_top, classifier, "with_copy")
    one_network = assemble(bottom, top, imagenet_top, classifier, "one_network", frozen_copy=False)

    fc = imagenet_top.get_layer("imagenet_logits")
    assert imagenet_top.name in {layer.name for layer in with_copy.layers}
    assert imagenet_top.name not in {layer.name for layer in one_network.layers}
    assert one_network.count_params() == with_copy.count_params() - (
        imagenet_top.count_params() - fc.count_params()
    )
    photos = cat_photos[:2] + dog_photos[:2]
    pixels = np.concatenate([preprocess(load_image(path), 96) for path in photos]).astype(np.float32)
    features = top(bottom(pixels))
    answers = np.asarray(one_network(pixels))
    np.testing.assert_allclose(answers, classifier([features, fc(features)]), atol=1e-5)
    assert np.ptp(answers, axis=0).max() > 0.01, "the photos get different answers"
    assert np.abs(answers - np.asarray(with_copy(pixels))).max() > 0.01, (
        "the copy's logits are not the tuned ones"
    )


@pytest.mark.parametrize("kinds", [("act", "pooled", "logits"), ("pooled", "logits")])
def test_given_the_frozen_network_when_litert_runs_its_float_export_then_outputs_equal_keras(tmp_path, kinds):
    from training.threeclass import build_backbone
    from training.views import litert_extractor

    bottom, _, imagenet_top = build_backbone("efficientnet_lite0", 32, 14, weights=None)
    pixels = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3)).astype(np.float32)
    fast = litert_extractor(bottom, imagenet_top, tmp_path / "frozen.tflite", kinds)(pixels)
    act = bottom(pixels, training=False)
    pooled, logits = imagenet_top(act, training=False)
    slow = {"act": np.asarray(act), "pooled": np.asarray(pooled), "logits": np.asarray(logits)}
    assert set(fast) == set(kinds)
    for kind in kinds:
        assert fast[kind].shape == slow[kind].shape
        np.testing.assert_allclose(fast[kind], slow[kind], atol=1e-3)


def test_given_a_fine_tuned_teacher_when_a_recipe_distills_it_then_each_target_mixes_the_label_and_its_answer(
    release_run,
):
    from dataclasses import replace

    from catdog import load_image, preprocess
    from training.recipe import DistillSettings

    recipe, _, _, run_dir = release_run
    student = replace(
        recipe,
        distill=DistillSettings(teacher=str(run_dir / "model.keras"), weight=0.25),
        train=replace(recipe.train, fine_epochs=0),
    )
    quiet = lambda message: None  # noqa: E731
    prepared = build.prepare(student, run_dir, log=quiet)
    caches = build.cache(student, prepared, log=quiet)
    teacher = build.load_teacher(student)
    names = sorted(n for n in caches if n.startswith("train/"))
    sets = build._train_sets(student, prepared, caches, teacher)
    views, targets, _ = sets[names.index("train/asirra")]
    labels = build.labels_of(prepared, "train/asirra")
    answers = teacher(views)
    assert targets.shape == answers.shape == (len(labels), 3, 3)
    np.testing.assert_allclose(targets, 0.75 * np.eye(3)[labels][:, None] + 0.25 * answers, atol=1e-6)

    # the teacher's answer for a cached photo is what the teacher model answers for the photo itself
    photos = [s.path for s in prepared.split.parts["train"] if s.path.startswith("asirra/")][:4]
    pixels = np.concatenate([preprocess(load_image(prepared.split.root / p), 64) for p in photos])
    model = keras.models.load_model(run_dir / "model.keras", compile=False)
    np.testing.assert_allclose(answers[:4, 0], model.predict(pixels.astype(np.float32), verbose=0), atol=0.02)

    trained = build.train(student, prepared, caches, log=quiet)
    assert trained.model.output_shape == (None, 3)


def test_given_a_released_model_in_the_ensemble_when_distilled_then_targets_mix_label_and_teachers_mean(
    release_run,
):
    from dataclasses import replace

    from catdog import Classifier, load_image, preprocess
    from training.recipe import DistillSettings

    recipe, _, out, run_dir = release_run
    student = replace(
        recipe,
        distill=DistillSettings(teacher=str(run_dir / "model.keras"), ensemble=(str(out),), weight=0.25),
        train=replace(recipe.train, fine_epochs=0),
    )
    quiet = lambda message: None  # noqa: E731
    prepared = build.prepare(student, run_dir, log=quiet)
    caches = build.cache(student, prepared, log=quiet)
    teacher = build.load_teacher(student)
    ensemble = build.ensemble_answers(student, prepared, log=quiet)
    assert sorted(ensemble) == sorted(n for n in caches if n.startswith("train/"))

    (released,) = ensemble["train/asirra"]
    labels = build.labels_of(prepared, "train/asirra")
    assert released.shape == (len(labels), 3, 3)
    # the released model's cached answer for a photo is what it answers for the photo itself, int8 and all
    photos = [s.path for s in prepared.split.parts["train"] if s.path.startswith("asirra/")][:4]
    pixels = np.concatenate([preprocess(load_image(prepared.split.root / p), 64) for p in photos])
    np.testing.assert_allclose(released[:4, 0], Classifier(out).predict(pixels), atol=2e-3)

    names = sorted(n for n in caches if n.startswith("train/"))
    views, targets, _ = build._train_sets(student, prepared, caches, teacher, ensemble)[
        names.index("train/asirra")
    ]
    mean = (teacher(views) + np.asarray(released, dtype=np.float32)) / 2  # two three-class teachers
    np.testing.assert_allclose(targets, 0.75 * np.eye(3)[labels][:, None] + 0.25 * mean, atol=2e-3)


def test_given_a_two_class_teacher_when_answers_are_mixed_then_it_shares_the_cat_dog_split_only():
    three = np.array([[[0.6, 0.2, 0.2]], [[0.05, 0.05, 0.9]]])
    two = np.array([[[0.1, 0.9]], [[0.5, 0.5]]])

    mixed = build.mix_answers([three, two])

    # the two-class answer 0.1 / 0.9 becomes 0.08 / 0.72 / 0.2 beside the three-class 0.6 / 0.2 / 0.2
    np.testing.assert_allclose(mixed[0, 0], [0.34, 0.46, 0.2], atol=1e-6)
    np.testing.assert_allclose(mixed[..., 2], [[0.2], [0.9]], atol=1e-6)
    np.testing.assert_allclose(mixed.sum(axis=-1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="at least one cat / dog / neither teacher"):
        build.mix_answers([two])


def test_given_a_released_teacher_of_another_input_size_when_asked_then_the_run_stops_before_training(
    release_run,
):
    from dataclasses import replace

    from training.recipe import DistillSettings

    recipe, _, _, run_dir = release_run
    student = replace(recipe, distill=DistillSettings(ensemble=(str(FIXTURES / "models" / "tiny"),)))
    prepared = build.prepare(student, run_dir, log=lambda message: None)
    with pytest.raises(ValueError, match="takes 32 px, the recipe 64 px"):
        build.ensemble_answers(student, prepared)


def test_given_two_model_folders_when_compared_then_the_pairs_agree_with_each_models_report(
    release_run, tmp_path
):
    recipe, _, out, run_dir = release_run
    plain = FIXTURES / "models" / "tiny"  # 32 px, two classes: each model reads the photos at its own size

    reports = build.compare(recipe, run_dir, [out, plain], tmp_path, gallery=tmp_path / "gallery.png")

    assert sorted(p.name for p in tmp_path.glob("gallery*")) == sorted(f"gallery-{n}.png" for n in reports)
    rows = json.loads((tmp_path / "pairs.json").read_text())
    first, second = reports
    assert {tuple(r["models"]) for r in rows} == {(first, second)}
    for row in (r for r in rows if r["level"] == "set"):
        for name, key in ((first, "first_wrong"), (second, "second_wrong")):
            figures = reports[name]["set"][row["name"]]
            assert row["pets"] == figures["pets"]
            assert row[key] == round(figures["pets"] * (1 - figures["argmax_accuracy"]))
        assert row["both_wrong"] <= min(row["first_wrong"], row["second_wrong"])
    assert f"# Two models together: {first}, {second}" in (tmp_path / "pairs.md").read_text()


def test_given_one_model_and_a_gallery_path_when_compared_then_the_gallery_is_that_file(
    release_run, tmp_path
):
    recipe, _, out, run_dir = release_run

    build.compare(recipe, run_dir, [out], tmp_path, gallery=tmp_path / "gallery.png")

    assert [p.name for p in tmp_path.glob("gallery*")] == ["gallery.png"]  # was gallery-9.9.9.png


@pytest.mark.parametrize(("threshold", "all_neither"), [(2.0, True), (-2.0, False)])
def test_given_a_two_label_card_with_a_prototype_check_when_compared_then_its_threshold_decides_neither(
    tmp_path, cat_photos, threshold, all_neither
):
    from catdog import load_image, preprocess

    folder = tmp_path / "model"
    shutil.copytree(FIXTURES / "models" / "tiny-prototype", folder)
    card = json.loads((folder / "model.json").read_text())
    card["neither"]["threshold"] = threshold  # cosine similarities lie in [-1, 1]
    (folder / "model.json").write_text(json.dumps(card))

    def pixels_for(rows, size):
        return np.concatenate([preprocess(load_image(path), size) for path in rows])

    answers, confidences, split = build.model_answers(folder, pixels_for, {"val": cat_photos[:3]})
    argmax = np.argmax(split, axis=1)
    assert len(answers) == 3 and split.shape == (3, 2)
    np.testing.assert_allclose(split.sum(axis=1), 1.0)
    if all_neither:
        assert (answers == 2).all() and (confidences >= 0).all()
    else:
        np.testing.assert_array_equal(answers, argmax)


def test_given_a_plain_cat_dog_card_when_compared_then_it_answers_its_argmax_and_never_neither(cat_photos):
    from catdog import Classifier, load_image, preprocess

    folder = FIXTURES / "models" / "tiny"
    classifier = Classifier(folder)

    def pixels_for(rows, size):
        return np.concatenate([preprocess(load_image(path), size) for path in rows])

    answers, confidences, split = build.model_answers(
        folder, pixels_for, {"val": cat_photos[:3], "test": cat_photos[3:5]}
    )

    served = [classifier.classify(photo) for photo in cat_photos[:5]]
    np.testing.assert_array_equal(answers, np.argmax(split, axis=1))
    assert [("cat", "dog")[a] for a in answers] == [p.label for p in served]
    np.testing.assert_allclose(confidences, [p.confidence for p in served], atol=1e-6)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["data"][0].update(fractions=[0.8, 0.1, 0.1]), "asirra"),
        (lambda d: (d["data"].pop(), d.update(views={"train_views": 3})), "breeds"),
        (lambda d: d.setdefault("train", {}).update(seed=7), "'seed': 7"),
    ],
)
def test_given_a_run_folder_split_from_another_recipe_when_prepared_then_it_is_refused(
    release_run, tiny_recipe, change, named
):
    from training.recipe import RecipeError, parse_recipe

    # GIVEN the run folder of the tiny release, its split.json made from its recipe's [[data]]
    recipe, _, _, run_dir = release_run
    assert build.prepare(recipe, run_dir, log=lambda message: None).split.parts  # the same recipe: reused
    document = json.loads(json.dumps(tiny_recipe))
    change(document)

    # WHEN a recipe with other folders, fractions or seed is prepared in it, THEN it is refused, named
    with pytest.raises(RecipeError, match=f"split.json was made from other .*{named}"):
        build.prepare(parse_recipe(document), run_dir, log=lambda message: None)


def test_given_a_flat_kaggle_eval_folder_when_scanned_then_each_photo_is_of_its_label_kind(
    tmp_path, cat_photos, dog_photos
):
    flat = tmp_path / "kaggle"
    flat.mkdir()
    for index, photo in enumerate(cat_photos[:2] + dog_photos[:3]):
        shutil.copy(photo, flat / f"{'cat' if index < 2 else 'dog'}.{index}.jpg")

    rows = build.eval_samples(flat)

    assert sorted((label, kind) for _, label, kind in rows) == [(0, "cat")] * 2 + [(1, "dog")] * 3


def test_given_an_eval_folder_with_odd_files_and_folders_when_read_then_each_is_said_and_look_alikes_kept(
    tmp_path, cat_photos, dog_photos
):
    # GIVEN an evaluation folder with an empty photo, a folder that is no class, and a look-alike folder
    # written with capitals holding a Thumbs.db, a .DS_Store and a subfolder of raccoons
    dev = tmp_path / "dev"
    for name, photos in (
        ("cat", cat_photos[:2]),
        ("Neither-Hard", dog_photos[:1]),
        ("Neither-Hard/raccoons", dog_photos[2:4]),
        ("Misc", dog_photos[1:2]),
    ):
        (dev / name).mkdir(parents=True)
        for photo in photos:
            shutil.copy(photo, dev / name / photo.name)
    (dev / "cat" / "empty.jpg").write_bytes(b"")
    (dev / "Neither-Hard" / "Thumbs.db").write_bytes(b"\0" * 64)
    (dev / "Neither-Hard" / ".DS_Store").write_bytes(b"\0" * 64)
    said = []

    rows = build.eval_samples(dev, log=said.append)

    # THEN every look-alike counts, the subfolder's too (it was dropped: the alias matched only
    # "neither-hard", then only its top-level files), and what is left out is said
    assert sorted(kind for _, _, kind in rows) == ["cat", "cat"] + ["neither-hard"] * 3
    assert sorted(path.relative_to(dev).as_posix() for path, label, _ in rows if label == 2) == sorted(
        f"Neither-Hard/{sub}{photo.name}"
        for sub, photo in [("", dog_photos[0]), *(("raccoons/", p) for p in dog_photos[2:4])]
    )
    assert said[:2] == ["eval dev: ignored folder Misc", "eval dev: skipped cat/empty.jpg: empty file"]
    assert said[2] == "eval dev: skipped Neither-Hard/.DS_Store: hidden file"
    assert len(said) == 4 and said[3].startswith("eval dev: skipped Neither-Hard/Thumbs.db: invalid_image: ")


def test_given_int8_and_float_figures_when_compared_then_shares_are_points_and_counts_stay_counts():
    int8 = {"val_mistakes": 24, "asirra_test_accuracy": 0.989769, "look_alikes_neither": None}
    float_ = {"val_mistakes": 23, "asirra_test_accuracy": 0.991103, "look_alikes_neither": 0.95}

    assert build.int8_minus_float(int8, float_) == {"val_mistakes": 1, "asirra_test_accuracy": -0.1334}
