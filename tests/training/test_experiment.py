"""``python -m training experiment`` on real photos: a two-run grid, end to end, into the table."""

from __future__ import annotations

import csv
import json
import re

import pytest
from conftest import photo_folders

from training.experiment import COLUMNS, load_grid

pytestmark = pytest.mark.slow


def test_given_defaults_a_grid_and_runs_when_loaded_then_every_combination_over_the_defaults(tmp_path):
    grid = tmp_path / "grid.json"
    grid.write_text(
        json.dumps(
            {
                "defaults": {"size": 96},
                "grid": {"lr": [1e-3, 1e-4], "dropout": [0.1, 0.5]},
                "runs": [{"architecture": "cnn"}],
            }
        )
    )

    runs = load_grid(grid)

    assert len(runs) == 5
    assert runs[0]["architecture"] == "cnn" and all(run["size"] == 96 for run in runs)
    assert {(run["lr"], run["dropout"]) for run in runs[1:]} == {
        (1e-3, 0.1),
        (1e-3, 0.5),
        (1e-4, 0.1),
        (1e-4, 0.5),
    }


def test_given_an_unknown_setting_when_loaded_then_a_clear_error(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text("[[runs]]\nlearning_rate = 0.1\n")

    with pytest.raises(ValueError, match="unknown settings \\['learning_rate'\\]"):
        load_grid(grid)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[grid]\nepochs = 5\n", "'grid' a table of lists"),
        ("runs = [1]\n", "'runs' a list of tables"),
        ("defaults = 3\n[[runs]]\n", "'defaults' is a table"),
        (
            '[[runs]]\narchitecture = "resnet50"\n',
            "architecture is one of cnn, efficientnet_lite0, got resnet50",
        ),
        ('[grid]\nmode = ["frozen", "tuned"]\n', "mode is one of frozen, fine-tuned, got tuned"),
        ("[grid\n", "grid.toml: Expected ']'"),  # the file named: TOML's error says only where
        ('[{"epochs": 1}]', "grid.json: a grid file is a table"),  # an AttributeError traceback
    ],
)
def test_given_a_grid_file_of_the_wrong_shape_when_loaded_then_a_clear_error(tmp_path, text, message):
    grid = tmp_path / ("grid.json" if text.startswith("[{") else "grid.toml")
    grid.write_text(text)

    with pytest.raises(ValueError, match=re.escape(message)):
        load_grid(grid)


def test_given_a_small_grid_when_run_then_one_measured_row_per_run(tmp_path, cat_photos, dog_photos):
    from training.__main__ import main
    from training.data import make_split, scan

    data = photo_folders(tmp_path / "data", cat_photos, dog_photos)
    split = make_split(scan(data), (0.6, 0.2, 0.2), seed=0).save(tmp_path / "split.json")
    grid = tmp_path / "grid.toml"
    grid.write_text(
        "[defaults]\nsize = 64\nepochs = 1\nbatch_size = 8\n"
        '[[runs]]\narchitecture = "cnn"\ntrain_subset = 16\n'
        '[[runs]]\nmode = "fine-tuned"\nfine_epochs = 1\ncut = 14\n'
    )
    argv = ["experiment", "--grid", str(grid), "--split", str(split), "--out", str(tmp_path / "docs")]

    assert main([*argv, "--runs", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache")]) == 0

    rows = list(csv.DictReader((tmp_path / "docs" / "experiments.csv").open()))
    assert [row["architecture"] for row in rows] == ["cnn", "efficientnet_lite0"]
    assert [row["train_photos"] for row in rows] == ["16", "24"]
    assert all(0 <= float(row["int8_test_accuracy"]) <= 1 and float(row["model_mb"]) > 0 for row in rows)
    assert all(float(row["latency_ms"]) > 0 for row in rows) and rows[0]["latency_vs_run_1"] == "1.0"
    table = (tmp_path / "docs" / "experiments.md").read_text()
    assert table.count("\n| 1 | cnn |") == 1 and "| 2 | efficientnet_lite0 |" in table
    assert list(rows[0]) == COLUMNS


@pytest.mark.parametrize(
    "run, message",
    [
        ({"architecture": "cnn", "size": 40}, "run 2: input size 40 is too small for cnn"),
        ({"cut": 16}, "run 2: cut must be a block index between 1 and 15, got 16"),
    ],
)
def test_given_a_run_that_cannot_be_built_after_a_good_one_when_loaded_then_refused_before_training(
    tmp_path, run, message
):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"defaults": {"size": 64}, "runs": [{"architecture": "cnn"}, run]}))

    with pytest.raises(ValueError, match=re.escape(message)):
        load_grid(grid)
