"""What averaging fine-tuning runs buys (``train.soup``): the end-to-end figures of each run a release kept
(``<run>/fine-tune-seed-<seed>.npz``) and of their mean, measured alike (float, on the cached views, each
with its own threshold on val and the release's ImageNet vote), so that the mean is compared with its own
runs and not with another draw:

    nice -n 10 .venv/bin/python scripts/evaluate_soup.py training/recipes/2.1.0.toml runs/release-soup3 \
        --set train.soup=3 --out docs/evaluation/candidates/soup-3-runs.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import keras
import numpy as np

from training.build import cache, kept_runs, measure_head, photos_of, prepare, recipe_head, tunable
from training.recipe import load_recipe
from training.threeclass import build_backbone, copy_head


def val_mistakes(report: dict) -> dict[str, int]:
    """Wrong val answers per kind of photo: Asirra pets, breeds-dev pets, non-pets, look-alikes."""
    sets = report["set"]
    asirra, breeds = sets.get("asirra-val", {}), sets.get("breeds-dev-val", {})
    counts = {
        "asirra_pets": asirra.get("pets", 0) * (1 - asirra.get("accuracy", 1)),
        "breeds_pets": breeds.get("pets", 0) * (1 - breeds.get("accuracy", 1)),
        "non_pets": breeds.get("non-pets", 0) * (1 - breeds.get("non-pets_answered_neither", 1)),
        "look_alikes": breeds.get("look-alikes", 0) * (1 - breeds.get("look-alikes_answered_neither", 1)),
    }
    counts = {k: round(v) for k, v in counts.items()}
    return {"total": sum(counts.values())} | counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("run_dir", type=Path, help="the release's run folder (split.json, kept runs, float/)")
    parser.add_argument("--set", action="append", default=[], help="recipe overrides the release used")
    parser.add_argument("--out", type=Path, required=True, help="JSON to write")
    args = parser.parse_args()
    recipe, quiet = load_recipe(args.recipe, args.set), lambda message: None
    prepared = prepare(recipe, args.run_dir, log=quiet)
    caches, photos = cache(recipe, prepared, log=quiet), photos_of(prepared)
    trained = json.loads((args.run_dir / "float" / "model.json").read_text())["training"]
    vote = trained["keras_accuracy_on_cached_activations"]["imagenet_vote_weight"]

    m = recipe.model
    _, top, _ = build_backbone(m.backbone, m.size, m.cut)
    features = top.output.shape[-1]
    classifier = recipe_head(recipe, features, 0.0)  # as fine-tuning trains it: the vote comes after
    tuned = tunable(top, classifier)
    released = recipe_head(recipe, features, vote)
    act, logits = tuned.inputs
    model = keras.Model(tuned.inputs, released([top(act), logits]))

    runs = {f"batch seed {seed}": weights for seed, weights in kept_runs(args.run_dir).items()}
    runs["mean of the runs"] = [np.mean(w, axis=0) for w in zip(*runs.values(), strict=True)]
    results = {"recipe": str(args.recipe), "overrides": args.set, "run_dir": str(args.run_dir), "vote": vote}
    for name, weights in runs.items():
        tuned.set_weights(weights)
        copy_head(classifier, released)
        figures = measure_head(model, caches, photos, recipe.neither.max_pets_neither, kind="act")
        results[name] = {"threshold": figures["threshold"], "val_mistakes": val_mistakes(figures["report"])}
        results[name] |= figures["headline"]
        print(name, json.dumps(results[name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
