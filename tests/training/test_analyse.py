"""``python -m training analyse`` on real photos and a real (tiny, untrained) int8 model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import half_neither_model, photo_folders

from training.analyse import expected_calibration_error, occlusion_map


@pytest.fixture(scope="module")
def split_file(tmp_path_factory, cat_photos, dog_photos):
    """The 40 fixture photos split half into test, so the untrained model makes errors to show."""
    from training.data import make_split, scan

    root = tmp_path_factory.mktemp("analyse")
    data = photo_folders(root / "data", cat_photos, dog_photos)
    return make_split(scan(data), (0.4, 0.1, 0.5), seed=0).save(root / "split.json")


def test_given_confidences_when_calibration_is_measured_then_ece_is_the_weighted_gap():
    confidence = np.array([0.55, 0.65, 0.95, 0.95])
    correct = np.array([True, False, True, True])

    ece, bins = expected_calibration_error(confidence, correct, bins=5)

    # bins of 0.1 from 0.5: [0.55] acc 1, [0.65] acc 0, [0.95, 0.95] acc 1
    assert ece == pytest.approx((0.45 + 0.65 + 2 * 0.05) / 4)
    assert [b["count"] for b in bins] == [1, 1, 0, 0, 2]


class CornerModel:
    """Answers "cat" as brightly as the top-left quarter of the photo is: the map must find that quarter."""

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        cat = pixels[:, :16, :16].mean(axis=(1, 2, 3)) / 255
        return np.stack([cat, 1 - cat], axis=1)


def test_given_an_answer_from_one_region_when_occluded_then_the_map_marks_that_region_only():
    pixels = np.zeros((32, 32, 3), np.uint8)
    pixels[:16, :16] = 255

    heat = occlusion_map(CornerModel(), pixels, label=0, patch=8)

    assert heat.shape == (32, 32)
    assert heat[:12, :12].min() > 0
    assert heat[20:, 20:].max() == 0  # beyond the reach of any square that covers the quarter
    assert heat[:16, :16].mean() > 10 * heat[16:, 16:].mean()


def test_given_a_model_and_a_split_when_analysed_then_gallery_calibration_and_saliency_are_written(
    tiny_model_dir, split_file, tmp_path
):
    from training.__main__ import main

    out = tmp_path / "analysis"
    (out / "thumbs").mkdir(parents=True)
    (out / "thumbs" / "dog-0-from-another-model.jpg").write_bytes(b"stale")
    argv = ["analyse", "--model", str(tiny_model_dir), "--split", str(split_file), "--out", str(out)]
    assert main([*argv, "--cache", str(tmp_path / "cache")]) == 0

    summary = json.loads((out / "analysis.json").read_text())
    shown = summary["photos"]
    errors = [p for p in shown if p["true"] != p["predicted"]]
    assert summary["split"]["photos"] == 20
    assert summary["errors"] == len(errors) > 0
    assert sum(summary["groups"].values()) == len(shown)
    assert all((out / p["saliency"]).is_file() for p in errors)
    thumbs = {p["thumb"] for p in shown} | {p["saliency"] for p in errors}
    assert {f"thumbs/{f.name}" for f in (out / "thumbs").iterdir()} == thumbs  # nothing stale left
    assert 0 <= summary["expected_calibration_error"] <= 0.5
    page = (out / "index.html").read_text()
    assert all(p["id"] in page for p in shown)
    assert len(list(out.glob("gallery-*.png"))) == len(summary["groups"])
    for name in ("calibration.png", "saliency.png", *(p.name for p in out.glob("gallery-*.png"))):
        assert (out / name).stat().st_size > 1000


def test_given_a_folder_without_a_model_when_analysed_then_one_line_error(split_file, tmp_path, capsys):
    from training.__main__ import main

    status = main(["analyse", "--model", str(tmp_path / "none"), "--split", str(split_file)])

    assert status == 1
    assert capsys.readouterr().err == f"python -m training analyse: error: no model at {tmp_path / 'none'}\n"


def test_given_a_three_class_model_when_analysed_then_errors_are_the_served_answers_neither_included(
    three_class_model_dir, split_file, tmp_path
):
    from catdog import Classifier
    from training.__main__ import main
    from training.data import Split

    split = Split.load(split_file)
    photos = [split.root / s.path for s in split.parts["test"]]
    model = half_neither_model(three_class_model_dir, photos, tmp_path / "model")
    out = tmp_path / "analysis"
    argv = ["analyse", "--model", str(model), "--split", str(split_file), "--out", str(out)]
    assert main([*argv, "--cache", str(tmp_path / "cache"), "--low-confidence", "1"]) == 0

    summary = json.loads((out / "analysis.json").read_text())
    classifier = Classifier(model)
    served = {s.path: classifier.classify(split.root / s.path) for s in split.parts["test"]}
    assert {p["id"]: p["predicted"] for p in summary["photos"]} == {k: v.label for k, v in served.items()}
    answered_neither = sum(v.label == "neither" for v in served.values())
    assert 0 < answered_neither < len(photos)
    assert summary["answered_neither"] == answered_neither
    assert summary["errors"] == sum(v.label != k.split("/")[0] for k, v in served.items())
