"""What the scripts that study a released model on a recipe's photos share (scripts/explain_neither.py,
scripts/near_duplicates.py, scripts/evaluate_flip.py, scripts/served_figures.py): their arguments, and
the photos and card those give."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from training.build import Prepared, prepare
from training.data import DataError
from training.recipe import Recipe, RecipeError, check_paths, load_recipe


def model_study(doc: str, out: bool = True) -> tuple[argparse.Namespace, Recipe, Prepared, dict]:
    """The recipe, the model folder, the run folder that holds the split and (``out``) --out, read from
    the command line; and the recipe, its photos (split as the release split them) and the model's card."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("model", type=Path, help="a released model folder")
    parser.add_argument("run_dir", type=Path, help="the recipe's run folder (its split.json)")
    if out:
        parser.add_argument("--out", type=Path, required=True, help="JSON to write")
    args = parser.parse_args()
    try:  # each found before the photos are scanned, and said in one line
        if not (args.model / "model.json").is_file() or not (args.model / "model.tflite").is_file():
            raise DataError(f"no model.tflite + model.json in {args.model}")
        recipe = load_recipe(args.recipe)
        check_paths(recipe, teachers=False)  # a distilled release is studied without its teacher
        prepared = prepare(recipe, args.run_dir)
    except (RecipeError, DataError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return args, recipe, prepared, json.loads((args.model / "model.json").read_text())
