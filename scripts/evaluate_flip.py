"""Whether serving a released 3-class model on a photo and its mirror image would make it better: its int8
answers on the recipe's photos (val, test, eval folders) when the probabilities are the mean over the photo
and its mirror, for every photo or only for the photos the model answers below a confidence (a cascade
that costs a second pass for those alone). Each variant's "neither" threshold is chosen on val by the
recipe's rule, as a release's is:

    nice -n 10 .venv/bin/python scripts/evaluate_flip.py training/recipes/2.4.0.toml models/catdog \
        runs/release-2.4.0 --out docs/evaluation/flip-2.4.0.json

The run folder needs only the recipe's split (``split.json`` is made there if missing, as ``release`` does).
"""

from __future__ import annotations

import json

import numpy as np

from training.build import end_to_end_figures, load_part_pixels, photos_of
from training.evaluate import predict_litert
from training.report import answer, val_mistakes
from training.study import model_study

CASCADE_BELOW = (0.6, 0.7, 0.8, 0.9, 0.95)


def main() -> None:
    args, recipe, prepared, card = model_study(__doc__)
    photos = photos_of(prepared)
    model_file, size = args.model / "model.tflite", card["input"]["size"]
    photo, mirror = {}, {}
    for name, rows in photos.items():
        pixels = load_part_pixels(prepared, rows, size, recipe.cache_dir)
        photo[name] = predict_litert(model_file, pixels)
        mirror[name] = predict_litert(model_file, np.ascontiguousarray(pixels[:, :, ::-1]))
    served = card["neither"]["threshold"]
    variants = {"photo (as released)": photo}
    mean = {name: (photo[name] + mirror[name]) / 2 for name in photos}
    variants["mean of photo and mirror"] = mean
    for below in CASCADE_BELOW:
        variants[f"mirror too below {below} confidence"] = {
            name: np.where((answer(photo[name], served)[1] < below)[:, None], mean[name], photo[name])
            for name in photos
        }
    results = {"recipe": str(args.recipe), "model": str(args.model), "variants": {}}
    for variant, probabilities in variants.items():
        figures = end_to_end_figures(probabilities, photos, recipe.neither)
        second_pass = (
            1.0
            if variant.startswith("mean")
            else float(np.mean(np.any(probabilities["val"] != photo["val"], axis=1)))
        )
        results["variants"][variant] = {
            "threshold": figures["threshold"],
            "val_mistakes": val_mistakes(figures["report"]["kind"]),
            "val_photos_given_a_second_pass": round(second_pass, 4),
            "headline": figures["headline"],
        }
        print(variant, json.dumps(results["variants"][variant]["val_mistakes"]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
