"""The evaluation report's arithmetic: per set and kind, the issue's figures, tables written into docs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.report import (
    SHARE_PLACES,
    Photo,
    fill_markers,
    headline,
    headline_table,
    pairs,
    percent,
    report_markdown,
    summarize,
    val_mistakes,
    worst_errors,
)


def _photos(*, unseen_by_1_3_0: bool = False):
    """Seven photos of three sets; ``unseen_by_1_3_0`` files the Asirra test dog under petimages-180-more."""
    return [
        Photo("a/cat/1.jpg", "asirra-test", "a", "cat", "cat", 0),
        Photo("a/cat/2.jpg", "asirra-test", "a", "cat", "cat", 0),
        Photo(
            "a/dog/3.jpg", "asirra-test", "petimages-180-more" if unseen_by_1_3_0 else "a", "dog", "dog", 1
        ),
        Photo("a/dog/4.jpg", "asirra-val", "a", "dog", "dog", 1),
        Photo("o/neither/car.jpg", "other-sources-dev", "o", "car", "non-pet", 2),
        Photo("o/neither-hard/fox.jpg", "other-sources-dev", "o", "fox", "look-alike", 2),
        Photo("o/dog/pug.jpg", "other-sources-dev", "o", "pug", "dog", 1),
    ]


def test_given_answers_when_summarized_then_pets_and_photos_without_pets_are_counted_apart():
    answers = np.array([0, 2, 0, 0, 2, 1, 1])  # a cat answered neither, two dogs cat, the fox a dog
    argmax = np.array([0, 0, 0, 0, 1, 1, 1])
    report = summarize(_photos(unseen_by_1_3_0=True), answers, np.ones(7), argmax)
    test = report["set"]["asirra-test"]
    assert test["accuracy"] == round(1 / 3, SHARE_PLACES)
    assert test["argmax_accuracy"] == round(2 / 3, SHARE_PLACES)
    assert test["pets_answered_neither"] == round(1 / 3, SHARE_PLACES)
    dev = report["set"]["other-sources-dev"]
    assert dev["pets"] == 1 and dev["accuracy"] == 1.0
    assert dev["non-pets_answered_neither"] == 1.0 and dev["look-alikes_answered_neither"] == 0.0
    assert report["confusion"]["asirra-test"]["matrix"] == [[1, 0, 1], [1, 0, 0], [0, 0, 0]]
    figures = headline(report)
    assert figures["asirra_test_accuracy"] == test["accuracy"]
    assert figures["asirra_val_accuracy"] == 0.0  # the val photo apart from the test photos
    assert figures["other_sources_dev_look_alikes_neither"] == 0.0
    assert figures["val_mistakes"] == 1  # the val dog answered cat
    assert figures["asirra_test_unseen_by_1_3_0_accuracy"] == 0.0  # its one photo, a dog answered cat


def test_given_dev_sets_of_several_sources_when_summarized_then_pets_answered_neither_counts_pets_alone():
    # GIVEN the dev sets of several sources: other-sources-dev's cats from flickr, its dogs from unsplash
    photos = [
        Photo("o/cat/1.jpg", "other-sources-dev", "flickr", "tabby", "cat", 0),
        Photo("o/cat/2.jpg", "other-sources-dev", "flickr", "tabby", "cat", 0),
        Photo("o/dog/3.jpg", "other-sources-dev", "unsplash", "pug", "dog", 1),
        Photo("o/dog/4.jpg", "other-sources-dev", "unsplash", "pug", "dog", 1),
        Photo("o/neither/car.jpg", "other-sources-dev", "unsplash", "car", "non-pet", 2),
        Photo("o/neither-hard/fox.jpg", "other-sources-dev", "flickr", "fox", "look-alike", 2),
        Photo("b/dog/5.jpg", "breeds-dev-val", "b", "beagle", "dog", 1),
        Photo("b/cat/6.jpg", "breeds-dev-val", "b", "sphynx", "cat", 0),
        Photo("b/cat/7.jpg", "breeds-dev-val", "b", "sphynx", "cat", 0),
        Photo("b/neither/sofa.jpg", "breeds-dev-val", "b", "sofa", "non-pet", 2),
    ]
    # a flickr cat and the beagle answered neither, a pug answered cat; the car and the fox neither, the
    # sofa a cat
    answers = np.array([2, 0, 0, 1, 2, 2, 2, 0, 0, 0])

    # WHEN summarized
    report = summarize(photos, answers, np.ones(len(photos)))

    # THEN the share of pets answered neither counts the pets alone (the car and the fox are no pets),
    # per set, per source and per kind, and the figures carry it for both dev sets
    dev, breeds = report["set"]["other-sources-dev"], report["set"]["breeds-dev-val"]
    assert (dev["pets"], dev["accuracy"], dev["pets_answered_neither"]) == (4, 0.5, 0.25)
    assert (breeds["pets"], breeds["pets_answered_neither"]) == (3, round(1 / 3, SHARE_PLACES))
    sources = report["source"]
    assert sources["other-sources-dev/flickr"]["pets_answered_neither"] == 0.5
    assert sources["other-sources-dev/unsplash"]["pets_answered_neither"] == 0.0
    assert report["kind"]["other-sources-dev/cat"]["pets_answered_neither"] == 0.5
    assert "pets_answered_neither" not in report["kind"]["other-sources-dev/non-pet"]
    figures = headline(report)
    assert figures["other_sources_dev_pets_answered_neither"] == 0.25
    assert figures["breeds_dev_val_pets_answered_neither"] == round(1 / 3, SHARE_PLACES)
    assert figures["other_sources_dev_pets_accuracy"] == 0.5
    assert figures["breeds_dev_val_non_pets_neither"] == 0.0


def test_given_wrong_answers_when_the_worst_errors_are_listed_then_the_most_confident_come_first():
    # GIVEN five photos: four answered wrong, with confidences out of order (two alike), one right
    photos = _photos()[:5]  # cat, cat, dog, dog (asirra-val), car
    answers = np.array([1, 2, 1, 0, 0])  # the cats dog and neither, the val dog and the car cat
    confidences = np.array([0.6, 0.9, 0.99, 0.6, 0.8])

    # WHEN the worst errors are listed, all and the first two
    every = worst_errors(photos, answers, confidences)
    first_two = worst_errors(photos, answers, confidences, limit=2)

    # THEN the most confident wrong answer comes first, alike confidences in the photos' order, and a
    # limit keeps the most confident
    assert [(row["path"], row["confidence"]) for row in every] == [
        ("a/cat/2.jpg", 0.9),
        ("o/neither/car.jpg", 0.8),
        ("a/cat/1.jpg", 0.6),
        ("a/dog/4.jpg", 0.6),
    ]
    assert every[0] == {
        "set": "asirra-test",
        "path": "a/cat/2.jpg",
        "breed": "cat",
        "label": "cat",
        "answer": "neither",
        "confidence": 0.9,
    }
    assert first_two == every[:2]


def test_given_a_doc_with_markers_when_filled_then_only_the_block_between_them_changes(tmp_path):
    report = summarize(_photos(unseen_by_1_3_0=True), np.array([0, 0, 1, 1, 2, 2, 1]), np.ones(7))
    doc = tmp_path / "doc.md"
    doc.write_text("before\n<!-- report:headline -->\nold table\n<!-- /report:headline -->\nafter\n")
    assert fill_markers(doc, "report:headline", headline_table({"9.9.9": report}))
    text = doc.read_text()
    assert text.startswith("before\n<!-- report:headline -->\n| figure | 9.9.9 |")
    assert "old table" not in text and text.endswith("<!-- /report:headline -->\nafter\n")
    assert "| Asirra held-out test: right (end to end) | 100.00 % |" in text
    assert "| Asirra val: right (end to end) | 100.00 % |" in text
    assert "| val mistakes, end to end (all val parts: what releases are chosen on) | 0 |" in text
    unseen = "| Asirra held-out test, its petimages-180-more part (never in 1.3.0's training set): right |"
    assert unseen + " 100.00 % |" in text
    assert not fill_markers(doc, "report:cards", ["x"])


def test_given_a_doc_whose_closing_marker_comes_first_when_filled_then_an_error_names_the_file_and_markers(
    tmp_path,
):
    # GIVEN a doc with its block's markers the wrong way round
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- /report:cards -->\nold\n<!-- report:cards -->\n")

    # WHEN it is filled (Python's "not enough values to unpack (expected 2, got 1)")
    with pytest.raises(ValueError) as refused:
        fill_markers(doc, "report:cards", ["x"])

    # THEN the error names the file and the markers, and the doc is as it was
    assert (
        str(refused.value)
        == f"{doc}: <!-- /report:cards --> comes before <!-- report:cards -->, not after it"
    )
    assert doc.read_text() == "<!-- /report:cards -->\nold\n<!-- report:cards -->\n"


def test_given_two_models_wrong_on_different_photos_when_paired_then_their_mean_fixes_the_unsure_mistakes():
    # p(cat) of each photo (p(dog) is the rest); the labels are cat, cat, dog, dog, -, -, dog
    a = [0.9, 0.45, 0.3, 0.2, 0.5, 0.5, 0.1]  # wrong on the second photo, unsure
    b = [0.2, 0.95, 0.4, 0.9, 0.5, 0.5, 0.2]  # wrong on the first, unsure, and the fourth, sure
    c = [0.6, 0.4, 0.3, 0.2, 0.5, 0.5, 0.1]  # wrong on the second, like a
    splits = {name: np.stack([p, 1 - np.array(p)], axis=1) for name, p in (("a", a), ("b", b), ("c", c))}
    photos = _photos()
    photos[1] = Photo("b/cat/2.jpg", "asirra-test", "b", "cat", "cat", 0)  # asirra-test: two sources

    rows = pairs(photos, splits)

    counted = {(tuple(r["models"]), r["name"]): r for r in rows}
    keys = ("pets", "first_wrong", "second_wrong", "both_wrong", "mean_wrong")
    assert [counted[("a", "b"), "asirra-test"][k] for k in keys] == [3, 1, 1, 0, 0]
    assert [counted[("a", "b"), "asirra-test/b"][k] for k in keys] == [1, 1, 0, 0, 0]
    assert counted[("a", "b"), "asirra-val"]["mean_wrong"] == 1  # 0.2 + 0.9: b's sure mistake wins
    assert [counted[("a", "c"), "asirra-test"][k] for k in keys] == [3, 1, 1, 1, 1]  # a shared mistake stays
    # sets of one source have no source rows; the fox and the car are not pets
    assert {r["name"] for r in rows if r["level"] == "source"} == {"asirra-test/a", "asirra-test/b"}
    assert counted[("a", "b"), "other-sources-dev"]["pets"] == 1


def test_given_answers_or_a_card_when_val_mistakes_are_counted_then_each_kind_of_val_photo_is_apart():
    photos = [
        *_photos(),
        Photo("b/cat/5.jpg", "breeds-dev-val", "b", "sphynx", "cat", 0),
        Photo("b/neither/car.jpg", "breeds-dev-val", "b", "car", "non-pet", 2),
        Photo("b/neither-hard/fox.jpg", "breeds-dev-val", "b", "fox", "look-alike", 2),
    ]
    answers = np.array([0, 0, 1, 0, 2, 2, 1, 1, 2, 0])  # the Asirra val dog, the sphynx and the fox wrong
    kinds = summarize(photos, answers, np.ones(len(photos)))["kind"]
    assert val_mistakes(kinds) == {
        "total": 3,
        "asirra_pets": 1,
        "other_pets": 1,
        "non_pets": 0,
        "look_alikes": 1,
    }
    card = Path(__file__).parents[2] / "docs" / "evaluation" / "candidates" / "2.1.0-recipe-280px.json"
    per_kind = json.loads(card.read_text())["metrics"]["per_kind"]  # the 33 docs/transfer.md reports
    assert val_mistakes(per_kind) == {
        "total": 33,
        "asirra_pets": 10,
        "other_pets": 14,
        "non_pets": 4,
        "look_alikes": 5,
    }


def test_given_val_folders_named_by_a_user_when_val_mistakes_are_counted_then_they_count_too():
    # GIVEN a recipe whose folders are "mypets" and "house" (its val sets: mypets-val, house-val)
    photos = [
        Photo("m/cat/1.jpg", "mypets-val", "m", "cat", "cat", 0),
        Photo("m/dog/2.jpg", "mypets-val", "m", "dog", "dog", 1),
        Photo("h/neither/sofa.jpg", "house-val", "h", "sofa", "non-pet", 2),
        Photo("h/neither/lamp.jpg", "house-val", "h", "lamp", "non-pet", 2),
        Photo("o/neither/car.jpg", "other-sources-dev", "o", "car", "non-pet", 2),
    ]
    # WHEN a model calls the cat a dog and the sofa a cat (and the measured-only car a dog)
    report = summarize(photos, np.array([1, 1, 0, 2, 1]), np.ones(len(photos)))

    # THEN both are val mistakes (they were 0: only asirra-val and breeds-dev-val were counted)
    assert val_mistakes(report["kind"]) == {
        "total": 2,
        "asirra_pets": 0,
        "other_pets": 1,
        "non_pets": 1,
        "look_alikes": 0,
    }
    assert headline(report)["val_mistakes"] == 2


def test_given_a_path_without_suffix_when_a_figure_is_saved_then_the_png_it_wrote_is_returned(tmp_path):
    from training import figures

    figure = figures.pyplot().figure()

    saved = figures.save(figure, tmp_path / "preview", dpi=20)

    assert saved == tmp_path / "preview.png" and saved.is_file()
    assert not (tmp_path / "preview").exists()


def test_given_a_doc_without_report_markers_when_report_is_asked_to_fill_it_then_one_line_before_any_work(
    tmp_path, capsys
):
    from training.__main__ import main

    # GIVEN a doc with no <!-- report:headline --> or <!-- report:cards --> block, and nothing else ready
    doc = tmp_path / "notes.md"
    doc.write_text("# Notes\n\nNo generated tables here.\n")

    # WHEN `report` is asked to fill it
    argv = ["report", str(tmp_path / "model"), "--recipe", str(tmp_path / "recipe.toml")]
    status = main([*argv, "--out", str(tmp_path / "out"), "--docs", str(doc)])

    # THEN it says so in one line (it used to evaluate every model, then leave the doc as it was, exit 0)
    error = capsys.readouterr().err
    assert status == 1 and error.count("\n") == 1
    assert f"{doc} has no <!-- report:headline --> or <!-- report:cards --> block" in error
    assert doc.read_text() == "# Notes\n\nNo generated tables here.\n" and not (tmp_path / "out").exists()


def test_given_a_model_folder_whose_file_is_not_its_cards_when_reported_then_one_line_before_any_work(
    tmp_path, capsys
):
    import shutil

    from conftest import RELEASED_MODEL, REPO

    from training.__main__ import main

    # GIVEN the released card beside another network's model.tflite (of the same three classes)
    swapped = tmp_path / "swapped"
    swapped.mkdir()
    shutil.copy(RELEASED_MODEL / "model.json", swapped)
    shutil.copy(REPO / "tests" / "fixtures" / "models" / "tiny-three-class" / "model.tflite", swapped)

    # WHEN `report` is asked to measure it
    recipe = REPO / "training" / "recipes" / "2.4.0.toml"
    status = main(["report", str(swapped), "--recipe", str(recipe), "--out", str(tmp_path / "out")])

    # THEN refused as serving and evaluate refuse it (it scored the other network under the card's
    # version, or failed with an IndexError after scanning every photo)
    error = capsys.readouterr().err
    assert status == 1 and error.count("\n") == 1 and "is not the model its card describes" in error
    assert not (tmp_path / "out").exists()


def test_given_an_earlier_report_of_two_models_when_one_is_reported_then_no_file_of_the_earlier_stays(
    tmp_path,
):
    from training.report import summarize, write_report

    # GIVEN a report of two models in a folder (pairs and a worst-errors list each)
    report = summarize(_photos(), np.array([0, 0, 1, 1, 2, 2, 1]), np.ones(7))
    rows = [
        {"set": "a", "path": "a/cat/1.jpg", "breed": "cat", "label": "cat", "answer": "dog", "confidence": 1}
    ]
    pair = {"models": ["2.4.0", "1.3.0"], "name": "a", "pets": 3, "first_wrong": 1, "second_wrong": 1}
    pair |= {"both_wrong": 0, "mean_wrong": 1}
    write_report({"2.4.0": report, "1.3.0": report}, {"2.4.0": rows, "1.3.0": rows}, tmp_path, [pair])

    # ... beside a file of another tool's (the student's worst errors that docs/evaluation.md names)
    (tmp_path / "worst-errors-2.1.0-student.csv").write_text("set,path\n")

    # WHEN one model is reported into the same folder
    written = write_report({"2.4.0": report}, {"2.4.0": rows}, tmp_path)

    # THEN the earlier report's files are gone (pairs.md still named the two models), the other one stays
    left = sorted(path.name for path in tmp_path.iterdir())
    assert left == sorted([*(path.name for path in written), "worst-errors-2.1.0-student.csv"])


@pytest.mark.parametrize(
    ("share", "shown"),
    [
        (round(547 / 553, 6), "98.92 %"),  # 98.915 %: binary 100 x 0.98915 is 98.91499999999999
        (547 / 553, "98.92 %"),
        (np.float64(round(547 / 553, 6)), "98.92 %"),
        (round(24 / 2248, 6), "1.07 %"),  # 1.0676 %
        (0.0, "0.00 %"),
        (1, "100.00 %"),
        (None, ""),
    ],
)
def test_given_a_stored_share_when_shown_then_it_is_the_percentage_rounded_half_up(share, shown):
    assert percent(share) == shown


def _exact_percent(right: int, photos: int) -> str:
    """The percentage to two places, rounded half up, in integers alone."""
    hundredths = (20_000 * right + photos) // (2 * photos)
    return f"{hundredths // 100}.{hundredths % 100:02d} %"


def test_given_every_count_of_a_few_hundred_photos_when_its_share_is_shown_then_it_rounds_as_the_counts():
    # GIVEN every count of right answers among 500 to 600 photos, stored as a report stores it
    cases = [(right, photos) for photos in range(500, 601) for right in range(photos + 1)]

    # WHEN shown from the stored share alone, and from a share stored to 6 places with its count
    shown = [percent(round(right / photos, SHARE_PLACES)) for right, photos in cases]
    from_count = [percent(round(right / photos, 6), photos) for right, photos in cases]

    # THEN each is the percentage of the counts (6 places alone rounds 518 of 524 to 98.86 %, not 98.85 %)
    exact = [_exact_percent(right, photos) for right, photos in cases]
    assert percent(round(518 / 524, 6)) == "98.86 %" and _exact_percent(518, 524) == "98.85 %"
    assert shown == exact and from_count == exact


def test_given_a_committed_report_with_6_places_when_shown_again_then_its_tables_count_from_the_rows():
    # GIVEN a report whose rows store 518 of 524 pets right to 6 places, as the committed reports do
    row = {"count": 530, "pets": 524, "accuracy": 0.98855, "pets_answered_neither": 0.003817, "non-pets": 6}
    row["non-pets_answered_neither"] = 0.833333  # 5 of 6
    report = {level: {"asirra-val": row} for level in ("set", "source", "kind", "breed")} | {"confusion": {}}

    # WHEN its report.md is made again
    lines = report_markdown({"2.4.0": report})

    # THEN the per-set table shows the counts' percentages (0.98855 alone would read 98.86 %)
    per_set = lines[lines.index("## Per set") + 4]
    assert per_set.startswith("| asirra-val | 530 | 98.85 % |")
    assert "| 0.38 % | 83.33 % |" in per_set
