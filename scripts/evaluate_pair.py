"""Two released models served as one: the end-to-end figures of a pair, beside the three-class model alone.

The pair answers "neither" when the three-class model's p(neither) reaches its threshold (chosen on the
val pets, as a release's is), else the larger of the mean of the two models' cat/dog splits; a second
three-class model joins the mean of p(neither) too (``training.build.mix_answers``), as in the graph a
recipe's ``[members]`` build. This is
what one graph holding both networks would answer (``benchmarks/bench_pair.py`` measures its latency),
measured before anyone builds that graph. Photos and parts are those of the recipe's split:

    nice -n 10 .venv/bin/python scripts/evaluate_pair.py runs/candidate-lite2-224 runs/candidate-lite0-224 \
        --recipe training/recipes/2.1.0.toml --run-dir runs/release-2.1.0 \
        --out docs/evaluation/candidates/pair-lite2-lite0-224.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from catdog import Classifier
from training.build import end_to_end_figures, load_part_pixels, mix_answers, photos_of, prepare
from training.recipe import load_recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("three", type=Path, help="the cat / dog / neither model folder")
    parser.add_argument("two", type=Path, help="the model folder whose answers join it")
    parser.add_argument("--recipe", type=Path, required=True)
    parser.add_argument("--run-dir", type=Path, required=True, help="run folder with the split.json")
    parser.add_argument("--out", type=Path, required=True, help="JSON to write")
    args = parser.parse_args()
    recipe = load_recipe(args.recipe)
    prepared = prepare(recipe, args.run_dir, log=lambda message: None)
    photos = photos_of(prepared)
    answers_of = {}
    for folder in (args.three, args.two):
        model = Classifier(folder, num_threads=2)
        answers_of[folder] = {
            name: model.predict(load_part_pixels(prepared, rows, model.input_size, recipe.cache_dir))
            for name, rows in photos.items()
        }
    three, two = answers_of[args.three], answers_of[args.two]
    pair = {name: mix_answers([three[name], two[name]]) for name in photos}  # "neither" the mean of 3-class
    results = {"three": str(args.three), "two": str(args.two), "split": str(args.run_dir / "split.json")}
    for name, probabilities in (("three alone", three), ("pair", pair)):
        figures = end_to_end_figures(probabilities, photos, recipe.neither)
        results[name] = {"threshold": round(figures["threshold"], 4)} | figures["headline"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
