"""``python -m training evaluate``: real photos, real int8 models, scored by what the served model says."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import REPO, half_neither_model, photo_folders

from catdog import Classifier
from training.__main__ import main
from training.data import Split


@pytest.fixture(scope="module")
def split_file(tmp_path_factory, cat_photos, dog_photos):
    """The 40 fixture photos, half of them in the test part."""
    from training.data import make_split, scan

    root = tmp_path_factory.mktemp("evaluate")
    data = photo_folders(root / "data", cat_photos, dog_photos)
    return make_split(scan(data), (0.4, 0.1, 0.5), seed=0).save(root / "split.json")


def test_given_a_model_answering_neither_when_evaluated_then_its_served_answers_are_scored(
    three_class_model_dir, split_file, tmp_path, capsys
):
    # GIVEN the tiny 3-class model answering "neither" for half the photos by its card's threshold
    split = Split.load(split_file)
    photos = [split.root / s.path for s in split.parts["test"]]
    model = half_neither_model(three_class_model_dir, photos, tmp_path / "model")

    # WHEN it is evaluated
    out = tmp_path / "out"
    argv = ["evaluate", str(model), "--split", str(split_file), "--out", str(out)]
    assert main([*argv, "--cache", str(tmp_path / "cache")]) == 0

    # THEN the figures are those of the served answers: a pet answered "neither" is wrong
    report = json.loads((out / "evaluation.json").read_text())
    classifier = Classifier(model)
    answers = [classifier.classify(photo).label for photo in photos]
    truth = [split.labels[s.label] for s in split.parts["test"]]
    metrics = report["models"][str(model)]
    assert report["labels"] == ["cat", "dog", "neither"]
    assert metrics["accuracy"] == pytest.approx(np.mean(np.array(answers) == np.array(truth)), abs=1e-6)
    matrix = np.array(metrics["confusion"]["matrix"])
    assert matrix[:, 2].sum() == answers.count("neither") > 0
    assert matrix[2].sum() == 0  # no photo is labelled "neither"
    assert set(metrics["macro"]) == {"precision", "recall", "f1"}
    assert json.loads(capsys.readouterr().out)[str(model)]["accuracy"] == metrics["accuracy"]


def test_given_models_of_different_input_sizes_when_evaluated_together_then_each_sees_its_own_size(
    split_file, tmp_path
):
    # GIVEN the released from-scratch CNN and the released transfer model, as docs/training.md compares them
    cnn, main_model = REPO / "models/catdog-cnn", REPO / "models/catdog"
    assert Classifier(cnn).input_size != Classifier(main_model).input_size

    # WHEN both are evaluated on the same photos
    out = tmp_path / "out"
    argv = ["evaluate", str(cnn), str(main_model), "--split", str(split_file), "--out", str(out)]
    assert main([*argv, "--cache", str(tmp_path / "cache")]) == 0

    # THEN each is scored on the photos at its own size, and compared by answers alone
    report = json.loads((out / "evaluation.json").read_text())
    split = Split.load(split_file)
    for folder in (cnn, main_model):
        classifier = Classifier(folder)
        answers = [classifier.classify(split.root / s.path).label for s in split.parts["test"]]
        right = [a == split.labels[s.label] for a, s in zip(answers, split.parts["test"], strict=True)]
        assert report["models"][str(folder)]["accuracy"] == pytest.approx(np.mean(right), abs=1e-6)
    versus = report["models"][str(main_model)]["versus_reference"]
    assert 0 <= versus["label_agreement"] <= 1
    assert "max_probability_difference" not in versus  # 2 outputs against 3: no such difference
    assert len(list(out.glob("confusion-*.png"))) == 2


def test_given_a_uint8_output_not_summing_to_1_when_report_answers_then_they_are_the_served_answers(
    three_class_model_dir, tmp_path
):
    from catdog.images import model_input
    from training.build import model_answers
    from training.evaluate import predict_litert

    # GIVEN the tiny 3-class model and a photo whose uint8 output sums to 255/256 (0.27 + 0.55 + 0.176):
    # served, p(neither) is scaled to 0.1765 (catdog.Classifier); read raw, it is 0.1758
    photo = REPO / "tests" / "fixtures" / "not-pets" / "brick.jpg"
    pixels = model_input(photo, 32)[np.newaxis]
    model = shutil.copytree(three_class_model_dir, tmp_path / "model")
    card = json.loads((model / "model.json").read_text())
    card["neither"]["threshold"] = 0.176  # between the two
    (model / "model.json").write_text(json.dumps(card))
    served = Classifier(model).classify(photo)
    assert served.label == "neither"

    # WHEN the report's reading of the model answers it (training.build.model_answers: `report`)
    answers, confidences, _ = model_answers(model, lambda rows, size: pixels, {"val": [photo]})

    # THEN it is the served answer, with the served probabilities
    assert ["cat", "dog", "neither"][answers[0]] == served.label
    assert confidences[0] == pytest.approx(served.confidence, abs=1e-6)
    np.testing.assert_allclose(predict_litert(model / "model.tflite", pixels).sum(axis=1), 1, atol=1e-9)


def test_given_a_release_split_whose_test_part_has_no_neither_photo_when_evaluated_then_its_pets_are_scored(
    three_class_model_dir, cat_photos, dog_photos, tmp_path, capsys
):
    # GIVEN a split made as a release's is: Asirra-like cats and dogs with a test part, and a source with
    # "neither" photos in train and val only (breeds-dev's fractions), so the test part has no "neither"
    from training.sources import Source, make_source_split

    asirra = photo_folders(tmp_path / "data" / "asirra", cat_photos[:10], dog_photos[:10])
    not_pets = sorted((REPO / "tests" / "fixtures" / "not-pets").glob("*.jpg"))[:6]
    breeds = photo_folders(tmp_path / "data" / "breeds", cat_photos[10:13], not_pets, ("cat", "neither"))
    sources = [Source(str(asirra), (0.5, 0.1, 0.4)), Source(str(breeds), (0.5, 0.5, 0.0))]
    split_file = make_source_split(sources).save(tmp_path / "split.json")
    assert Split.load(split_file).sizes()["test"]["neither"] == 0

    # WHEN the 3-class model is evaluated on the test part, the command docs/training.md gives
    out = tmp_path / "out"
    argv = ["evaluate", str(three_class_model_dir), "--split", str(split_file), "--out", str(out)]
    assert main([*argv, "--cache", str(tmp_path / "cache")]) == 0

    # THEN its cat and dog test photos are scored (it was refused: "the test part has no neither photo")
    report = json.loads((out / "evaluation.json").read_text())
    metrics = report["models"][str(three_class_model_dir)]
    assert metrics["count"] == Split.load(split_file).sizes()["test"]["total"] > 0
    assert metrics["per_class"]["neither"]["support"] == 0
    assert json.loads(capsys.readouterr().out)[str(three_class_model_dir)]["accuracy"] == metrics["accuracy"]


def test_given_a_labelled_folder_without_a_split_when_evaluated_then_every_photo_is_scored_as_served(
    three_class_model_dir, cat_photos, dog_photos, tmp_path, capsys
):
    # GIVEN a user's labelled folder no split was made of: cats, dogs, look-alikes in neither-hard/, and a
    # file that is no photo
    not_pets = sorted((REPO / "tests" / "fixtures" / "not-pets").glob("*.jpg"))[:4]
    data = photo_folders(tmp_path / "mine", cat_photos[:5], dog_photos[:6])
    (data / "neither-hard").mkdir()
    for photo in not_pets:
        shutil.copy(photo, data / "neither-hard" / photo.name)
    (data / "dog" / "notes.txt").write_text("not a photo\n")

    # WHEN it is evaluated with --data alone (--split was required: a folder could not be scored)
    out = tmp_path / "out"
    argv = ["evaluate", str(three_class_model_dir), "--data", str(data), "--out", str(out)]
    assert main([*argv, "--cache", str(tmp_path / "cache")]) == 0

    # THEN each of its 15 photos is scored by the answer the model serves, look-alikes as "neither"
    metrics = json.loads((out / "evaluation.json").read_text())["models"][str(three_class_model_dir)]
    classifier = Classifier(three_class_model_dir)
    truth = ["cat"] * 5 + ["dog"] * 6 + ["neither"] * 4
    answers = [classifier.classify(p).label for p in [*cat_photos[:5], *dog_photos[:6], *not_pets]]
    assert metrics["count"] == 15
    assert {label: metrics["per_class"][label]["support"] for label in truth} == {
        "cat": 5,
        "dog": 6,
        "neither": 4,
    }
    assert metrics["accuracy"] == pytest.approx(np.mean(np.array(answers) == np.array(truth)), abs=1e-6)
    assert "dog/notes.txt" in capsys.readouterr().err  # the file that is no photo is said


@pytest.mark.parametrize("kind", ["dog", "neither", "neither-hard"])
def test_given_a_folder_of_one_class_when_evaluated_then_its_photos_are_scored(
    kind, three_class_model_dir, dog_photos, tmp_path
):
    # GIVEN a user's folder of one kind only: their own dogs, photos with no pet, or look-alikes (some in a
    # subfolder of their own, beside a loose note)
    photos = (
        dog_photos[:6]
        if kind == "dog"
        else sorted((REPO / "tests" / "fixtures" / "not-pets").glob("*.jpg"))[:6]
    )
    data = tmp_path / "mine" / kind
    (data / "raccoons").mkdir(parents=True)
    for index, photo in enumerate(photos):
        shutil.copy(photo, data / ("raccoons" if index % 2 else "") / photo.name)
    (data.parent / "notes.txt").write_text("where these came from\n")

    # WHEN it is evaluated with --data alone
    out = tmp_path / "out"
    argv = ["evaluate", str(three_class_model_dir), "--data", str(data.parent), "--out", str(out)]
    assert main([*argv, "--cache", str(tmp_path / "cache")]) == 0

    # THEN its photos are scored as served (it was refused: "the test part has no cat photo", and for
    # look-alikes alone "found neither class folders (cat, dog, neither) …")
    metrics = json.loads((out / "evaluation.json").read_text())["models"][str(three_class_model_dir)]
    label = "neither" if kind == "neither-hard" else kind
    answers = [Classifier(three_class_model_dir).classify(p).label for p in photos]
    assert metrics["count"] == 6 and metrics["per_class"][label]["support"] == 6
    assert metrics["accuracy"] == pytest.approx(np.mean(np.array(answers) == label), abs=1e-6)


def test_given_a_folder_without_a_photo_when_evaluated_then_one_line_says_so(
    three_class_model_dir, tmp_path, capsys
):
    (tmp_path / "mine" / "dog").mkdir(parents=True)
    (tmp_path / "mine" / "dog" / "notes.txt").write_text("not a photo\n")

    argv = [
        "evaluate",
        str(three_class_model_dir),
        "--data",
        str(tmp_path / "mine"),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(argv) != 0
    assert "no usable photos for dog" in capsys.readouterr().err

    # a look-alike folder with nothing in it: said as plainly (it was "give the test part a larger fraction")
    (tmp_path / "mine" / "dog" / "notes.txt").rename(tmp_path / "mine" / "notes.txt")
    (tmp_path / "mine" / "dog").rename(tmp_path / "mine" / "neither-hard")
    assert main(argv) != 0
    assert (
        capsys.readouterr().err.splitlines()[-1].endswith(f"error: no usable photos in {tmp_path / 'mine'}")
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give --split (a part of a split) or --data (a labelled folder, every photo)"),
        (["--data", "mine", "--part", "val"], "argument --part: a part of a split: give --split too"),
    ],
)
def test_given_evaluate_without_a_split_and_a_wrong_second_option_when_run_then_one_usage_line(
    argv, message, tmp_path, capsys
):
    # a model folder that is not there too: the usage is said first, before any model is loaded
    with pytest.raises(SystemExit) as stopped:
        main(["evaluate", str(tmp_path / "no-model"), "--out", str(tmp_path / "out"), *argv])

    assert stopped.value.code == 2 and message in capsys.readouterr().err
