"""What the "neither" threshold rule (``[neither] threshold_rule`` of a recipe) changes for a released
3-class model, without retraining: its int8 answers on the recipe's photos at the threshold each rule
chooses on val, and the rules compared where neither was chosen, by choosing on one half of val and
counting on the other (random halvings, each kind of photo split evenly; both halves take a turn):

    nice -n 10 .venv/bin/python scripts/compare_threshold_rules.py training/recipes/2.4.0.toml models/catdog \
        runs/release-2.4.0 --out docs/evaluation/threshold-rules-2.4.0.json

The run folder needs only the recipe's split (``split.json`` is made there if missing, as ``release`` does).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from training.build import end_to_end_figures, evaluate_tflite, photos_of, prepare
from training.recipe import THRESHOLD_RULES, load_recipe
from training.report import answer, val_mistakes, val_threshold


def halvings(kinds: np.ndarray, count: int, seed: int):
    """``count`` random halves of the val photos, each kind split evenly, and the other half of each."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        first = np.zeros(len(kinds), dtype=bool)
        for kind in np.unique(kinds):
            rows = np.flatnonzero(kinds == kind)
            first[rng.permutation(rows)[: len(rows) // 2]] = True
        yield first, ~first
        yield ~first, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument(
        "model", type=Path, help="a released 3-class model folder (model.tflite + model.json)"
    )
    parser.add_argument("run_dir", type=Path, help="the recipe's run folder (its split.json)")
    parser.add_argument("--halvings", type=int, default=100, help="random halvings of val (default 100)")
    parser.add_argument("--out", type=Path, required=True, help="JSON to write")
    args = parser.parse_args()
    recipe = load_recipe(args.recipe)
    prepared = prepare(recipe, args.run_dir)
    photos = photos_of(prepared)
    size = json.loads((args.model / "model.json").read_text())["input"]["size"]
    probabilities = evaluate_tflite(args.model / "model.tflite", prepared, photos, size, recipe.cache_dir)
    rules = {rule: replace(recipe.neither, threshold_rule=rule) for rule in THRESHOLD_RULES}
    results = {"recipe": str(args.recipe), "model": str(args.model), "rules": {}}
    for rule, neither in rules.items():
        figures = end_to_end_figures(probabilities, photos, neither)
        results["rules"][rule] = {
            "threshold": figures["threshold"],
            "val_mistakes": val_mistakes(figures["report"]["kind"]),
            "headline": figures["headline"],
        }
        print(rule, json.dumps(results["rules"][rule]["val_mistakes"]), flush=True)
    p, labels = probabilities["val"], np.array([photo.label for photo in photos["val"]])
    kinds = np.array([photo.kind for photo in photos["val"]])
    held_out = {rule: [] for rule in rules}
    for chosen_on, counted_on in halvings(kinds, args.halvings, recipe.train.seed):
        for rule, neither in rules.items():
            threshold = val_threshold(p[chosen_on], labels[chosen_on], neither)
            held_out[rule].append(int(np.sum(answer(p[counted_on], threshold)[0] != labels[counted_on])))
    first, second = (np.array(held_out[rule]) for rule in THRESHOLD_RULES)
    results["held_out_halves"] = {
        "halves": len(first),
        "mean_mistakes": {rule: round(float(np.mean(v)), 3) for rule, v in held_out.items()},
        f"{THRESHOLD_RULES[1]}_fewer": round(float(np.mean(second < first)), 3),
        f"{THRESHOLD_RULES[1]}_more": round(float(np.mean(second > first)), 3),
    }
    print(json.dumps(results["held_out_halves"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
