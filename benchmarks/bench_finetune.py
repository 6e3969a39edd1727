"""Fine-tuning speed of a recipe's network on these CPUs, float32 against Keras' ``mixed_bfloat16``.

A release's build time is mostly its fine-tuning runs (2.4.0: five runs of 30-50 minutes on two cores),
so a cheaper training step would make a whole build fit where it does not today. This times the step
that those runs repeat: the recipe's top (its blocks from ``model.cut``) and head trained together on
activations at the cut (AdamW, batch ``train.batch_size``), for each precision, on random activations
(the step's cost does not depend on the values) and without ImageNet weights (nor on the weights).
Rounds are interleaved so a busy machine slows both alike; float32 is the baseline of the same run.

    nice -n 10 .venv/bin/python benchmarks/bench_finetune.py training/recipes/2.4.0.toml
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import keras
import numpy as np

from training.build import recipe_head, tunable
from training.recipe import load_recipe
from training.threeclass import build_backbone

RESULTS = Path(__file__).parent / "results" / "finetune.json"
POLICIES = ("float32", "mixed_bfloat16")


def step_model(recipe, policy: str) -> keras.Model:
    """The recipe's ``tunable`` network with its layers built under ``policy``, compiled as a run's."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        m = recipe.model
        _, top, _ = build_backbone(m.backbone, m.size, m.cut, weights=None)
        model = tunable(top, recipe_head(recipe, top.output.shape[-1], 1.0))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.compile(
        keras.optimizers.AdamW(recipe.train.fine_lr, weight_decay=recipe.train.weight_decay),
        loss="categorical_crossentropy",
    )
    return model


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=4, help="training steps per model per round")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    recipe = load_recipe(args.recipe)
    models = {policy: step_model(recipe, policy) for policy in POLICIES}
    batch = recipe.train.batch_size
    rng = np.random.default_rng(0)
    shape = models["float32"].inputs[0].shape[1:]
    inputs = [
        rng.normal(size=(batch, *shape)).astype(np.float32),
        rng.normal(size=(batch, 1000)).astype(np.float32),
    ]
    targets = np.eye(3, dtype=np.float32)[rng.integers(0, 3, batch)]
    for model in models.values():  # the first steps build the optimizer and trace the function
        model.train_on_batch(inputs, targets)
    seconds = {policy: [] for policy in POLICIES}
    for _ in range(args.rounds):
        for policy, model in models.items():
            started = time.perf_counter()
            for _ in range(args.batches):
                model.train_on_batch(inputs, targets)
            seconds[policy].append((time.perf_counter() - started) / (args.batches * batch))
    ms = {policy: 1000 * statistics.median(values) for policy, values in seconds.items()}
    result = {
        "recipe": str(args.recipe),
        "network": f"{recipe.model.backbone} at {recipe.model.size} px, tuned from block {recipe.model.cut}",
        "batch_size": batch,
        "rounds": args.rounds,
        "batches_per_round": args.batches,
        "machine": platform.machine(),
        "python": platform.python_version(),
        "ms_per_photo": {policy: round(value, 2) for policy, value in ms.items()},
        "ratio_to_float32": {policy: round(value / ms["float32"], 3) for policy, value in ms.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
