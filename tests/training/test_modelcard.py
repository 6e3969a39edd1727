"""The card for people (README.md) is rendered from model.json alone, and the committed ones are current."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from training.modelcard import README, render, write

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.mark.parametrize("folder", ["catdog", "catdog-cnn"])
def test_given_a_released_model_when_its_page_is_rendered_then_it_is_the_committed_readme(folder):
    card = json.loads((MODELS / folder / "model.json").read_text())

    assert (MODELS / folder / README).read_text() == render(card)  # else: python -m training card


def test_given_a_three_class_card_when_rendered_then_the_serving_rule_data_and_weak_spots_come_from_it(
    tmp_path,
):
    shutil.copy(MODELS / "catdog" / "model.json", tmp_path / "model.json")
    card = json.loads((tmp_path / "model.json").read_text())
    card["neither"]["threshold"] = 0.5
    card["metrics"]["per_kind"]["other-sources-dev/cat"]["accuracy"] = 0.25
    (tmp_path / "model.json").write_text(json.dumps(card))

    page = write(tmp_path).read_text()

    assert page.startswith(f"# {card['name']} {card['version']}\n")
    assert 'answers "neither" when p(neither) >= 0.5,' in page
    assert "| other-sources-dev/cat | 7 | 25.00 % | 28.57 % |" in page
    assert "| `../shared/data/breeds-dev` | 1,496 | 1,500 | 1,054 | 0.7 / 0.3 / 0.0 |" in page
    assert f"training/recipes/{card['version']}.toml --out models/catdog" in page
