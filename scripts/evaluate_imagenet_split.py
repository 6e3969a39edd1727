"""Whether ImageNet's own cat-or-dog opinion helps the trained head split cats from dogs.

The release's graph already computes the frozen ImageNet-1k logits (for the "neither" vote), so adding
``w x log(P(a domestic cat class) / P(a dog breed class))`` / 2 to the cat logit and taking it from the dog
logit would cost nothing in size or latency. Alone, that ratio is a weak cat/dog classifier of Asirra
photos (the output gives its val accuracy); the question is whether it corrects the trained head where
the head is wrong. Measured on each run a release kept (``train.soup``; ``scripts/evaluate_soup.py``),
so that a weight is chosen on val over all the runs, not on one draw:

    nice -n 10 .venv/bin/python scripts/evaluate_imagenet_split.py training/recipes/2.1.0.toml \
        runs/release-soup5 --set train.soup=5 --out docs/evaluation/candidates/imagenet-split.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import keras
import numpy as np
from evaluate_soup import MEAN, kept_probabilities

from training.build import end_to_end_figures
from training.recipe import load_recipe
from training.report import val_mistakes
from training.threeclass import IMAGENET_CATS, IMAGENET_DOGS


def with_imagenet_split(probabilities: np.ndarray, logits: np.ndarray, weight: float) -> np.ndarray:
    """``probabilities`` (cat, dog, neither) with ImageNet's cat-vs-dog log ratio added to their cat/dog
    logits, half to each."""
    logits = logits.astype(np.float64)
    cats = keras.ops.logsumexp(logits[:, list(IMAGENET_CATS)], axis=1)
    dogs = keras.ops.logsumexp(logits[:, list(IMAGENET_DOGS)], axis=1)
    shift = weight * np.asarray(cats - dogs) / 2
    z = np.log(np.clip(probabilities.astype(np.float64), 1e-12, 1.0))
    z[:, 0] += shift
    z[:, 1] -= shift
    return np.asarray(keras.ops.softmax(z, axis=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("run_dir", type=Path, help="the release's run folder (split.json, kept runs, float/)")
    parser.add_argument("--set", action="append", default=[], help="recipe overrides the release used")
    parser.add_argument("--weights", default="0,0.25,0.5,1,2", help="weights of the ImageNet ratio to try")
    parser.add_argument("--out", type=Path, required=True, help="JSON to write")
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    kept = kept_probabilities(args.recipe, args.set, args.run_dir)
    neither = load_recipe(args.recipe, args.set).neither
    labels = np.array([p.label for p in kept.photos["val"]])
    pets = labels < 2
    asirra = pets & np.array([p.set.startswith("asirra") for p in kept.photos["val"]])
    ratio_alone = with_imagenet_split(np.full((len(labels), 3), 1 / 3), kept.logits["val"], 1.0)
    results = {
        "recipe": str(args.recipe),
        "overrides": args.set,
        "run_dir": str(args.run_dir),
        "ratio alone, Asirra val pets right": round(
            float(np.mean(ratio_alone[asirra, :2].argmax(1) == labels[asirra])), 4
        ),
        "val mistakes by weight": {},
    }
    figures = {}
    for weight in weights:
        row = {}
        for name, probabilities in kept.probabilities.items():
            mixed = {
                part: with_imagenet_split(p, kept.logits[part], weight) for part, p in probabilities.items()
            }
            figures[weight, name] = end_to_end_figures(mixed, kept.photos, neither)
            row[name] = val_mistakes(figures[weight, name]["report"]["kind"])
        results["val mistakes by weight"][str(weight)] = row
        print(weight, {name: counts["total"] for name, counts in row.items()}, flush=True)
    runs = [name for name in kept.probabilities if name != MEAN]

    def total(weight: float) -> int:
        return sum(results["val mistakes by weight"][str(weight)][name]["total"] for name in runs)

    chosen = min(weights, key=lambda w: (total(w), w))
    results["chosen on val (fewest val mistakes over the runs)"] = chosen
    results["after the choice"] = {
        str(weight): {name: figures[weight, name]["headline"] for name in kept.probabilities}
        for weight in sorted({0.0, chosen})
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print("chosen", chosen, "ratio alone", results["ratio alone, Asirra val pets right"])


if __name__ == "__main__":
    main()
