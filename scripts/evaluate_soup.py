"""What averaging fine-tuning runs buys (``train.soup``): the end-to-end figures of each run a release kept
(``<run>/fine-tune-seed-<seed>.npz``) and of their mean, measured alike (float, on the cached views, each
with its own threshold on val and the release's ImageNet vote), so that the mean is compared with its own
runs and not with another draw; and how many of the runs get each val photo wrong (a photo every run
gets wrong is the recipe's, one that some runs get wrong is the draw's). ``--set model.frozen_copy=false``
measures the same runs as the graph without the frozen copy would answer:

    nice -n 10 .venv/bin/python scripts/evaluate_soup.py training/recipes/2.1.0.toml runs/release-soup3 \
        --set train.soup=3 --out docs/evaluation/candidates/soup-3-runs.json
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from training.build import (
    cache,
    end_to_end_figures,
    head_probabilities,
    kept_runs,
    part_caches,
    photos_of,
    prepare,
    recipe_head,
    tunable,
    view0,
)
from training.recipe import load_recipe
from training.report import answer, val_mistakes
from training.threeclass import build_backbone, copy_head, imagenet_logits_of

#: The name of the mean of the kept runs among the runs' names.
MEAN = "mean of the runs"


@dataclass
class KeptRuns:
    """Per part of ``photos`` (val, test, eval folders): each kept run's and their mean's probabilities
    (the released head, its vote included) and the frozen ImageNet logits."""

    photos: dict[str, list]
    vote: float
    logits: dict[str, np.ndarray]
    probabilities: dict[str, dict[str, np.ndarray]]


def kept_probabilities(recipe_path: Path, overrides: list[str], run_dir: Path) -> KeptRuns:
    recipe, quiet = load_recipe(recipe_path, overrides), lambda message: None
    prepared = prepare(recipe, run_dir, log=quiet)
    caches, photos = cache(recipe, prepared, log=quiet), photos_of(prepared)
    trained = json.loads((run_dir / "float" / "model.json").read_text())["training"]
    vote = trained["keras_accuracy_on_cached_activations"]["imagenet_vote_weight"]

    m = recipe.model
    _, top, imagenet_top = build_backbone(m.backbone, m.size, m.cut)
    width = top.output.shape[-1]
    classifier = recipe_head(recipe, width, 0.0)  # as fine-tuning trains it: the vote comes after
    tuned = tunable(top, classifier)
    released = recipe_head(recipe, width, vote)
    act, cached = keras.Input(top.input.shape[1:], name="act"), keras.Input((1000,), name="cached_logits")
    features = top(act)
    # without the frozen copy the vote reads ImageNet's layer on the fine-tuned features, as exported
    logits = cached if m.frozen_copy else imagenet_logits_of(imagenet_top, features)
    model = keras.Model([act, cached], released([features, logits]))

    runs = {f"batch seed {seed}": weights for seed, weights in kept_runs(run_dir).items()}
    runs[MEAN] = [np.mean(w, axis=0) for w in zip(*runs.values(), strict=True)]
    probabilities = {}
    for name, weights in runs.items():
        tuned.set_weights(weights)
        copy_head(classifier, released)
        probabilities[name] = head_probabilities(model, caches, photos, kind="act")
    imagenet = {name: view0(caches[key], "logits") for name, key in part_caches(photos).items()}
    return KeptRuns(photos, vote, imagenet, probabilities)


def wrong_in_runs(photos: list, wrong: list[np.ndarray]) -> dict[str, dict[int, int]]:
    """Per kind of photo (with Asirra pets apart), how many photos exactly k of the runs get wrong."""
    runs_wrong = np.sum(wrong, axis=0)
    counts: dict[str, Counter] = {}
    for photo, k in zip(photos, runs_wrong, strict=True):
        if k:
            group = "asirra pets" if photo.set.startswith("asirra") else photo.kind
            counts.setdefault(group, Counter())[int(k)] += 1
    return {group: dict(sorted(c.items())) for group, c in sorted(counts.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("run_dir", type=Path, help="the release's run folder (split.json, kept runs, float/)")
    parser.add_argument("--set", action="append", default=[], help="recipe overrides the release used")
    parser.add_argument("--out", type=Path, required=True, help="JSON to write")
    args = parser.parse_args()
    kept = kept_probabilities(args.recipe, args.set, args.run_dir)
    neither = load_recipe(args.recipe, args.set).neither
    results = {
        "recipe": str(args.recipe),
        "overrides": args.set,
        "run_dir": str(args.run_dir),
        "vote": kept.vote,
    }
    wrong_on_val = []
    for name, probabilities in kept.probabilities.items():
        figures = end_to_end_figures(probabilities, kept.photos, neither)
        results[name] = {
            "threshold": figures["threshold"],
            "val_mistakes": val_mistakes(figures["report"]["kind"]),
        }
        results[name] |= figures["headline"]
        if name != MEAN:
            answers, _ = answer(probabilities["val"], figures["threshold"])
            wrong_on_val.append(answers != np.array([p.label for p in kept.photos["val"]]))
        print(name, json.dumps(results[name]), flush=True)
    results["val photos wrong in k of the runs"] = wrong_in_runs(kept.photos["val"], wrong_on_val)
    print(json.dumps(results["val photos wrong in k of the runs"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
