"""How many held-out photos of a recipe are near copies of its training photos, and what a released
model's figures are without them (training/near_duplicates.py says how they are found):

    nice -n 10 .venv/bin/python scripts/near_duplicates.py training/recipes/2.4.0.toml models/catdog \
        runs/release-2.4.0 --out docs/analysis/near-duplicates-2.4.0.json

About 10 minutes on two cores (the features of 27,000 photos). The JSON lists every held-out photo whose
nearest training photo is at 0.85 or more, with that photo, to look at.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np

from training.build import load_part_pixels, model_answers, photos_of
from training.near_duplicates import (
    SIMILARITIES,
    SIZE,
    embedder,
    features,
    figures_without,
    nearest_either_way,
)
from training.study import model_study

LABELS = ("cat", "dog", "neither")


def main() -> None:
    args, recipe, prepared, card = model_study(__doc__)
    held_out = photos_of(prepared)
    answers, _, _ = model_answers(
        args.model, lambda rows, size: load_part_pixels(prepared, rows, size, recipe.cache_dir), held_out
    )
    photos = [p for part in held_out.values() for p in part]
    right = answers == np.array([p.label for p in photos])

    def pixels_of(rows):
        return load_part_pixels(prepared, rows, SIZE, None)

    train = [SimpleNamespace(path=s.path, label=s.label) for s in prepared.split.parts["train"]]
    embed = embedder()
    (pool,) = features(embed, pixels_of, train)
    plain, mirrored = features(embed, pixels_of, photos, mirrors=True)
    index, similarity, mirror = nearest_either_way(plain, mirrored, pool)

    sets = sorted({p.set for p in photos})
    by_set = {
        name: figures_without(right[chosen], similarity[chosen])
        for name in sets
        for chosen in [np.array([p.set == name for p in photos])]
    }
    close = [
        {
            "set": photo.set,
            "path": photo.path,
            "label": LABELS[photo.label],
            "answer": LABELS[int(answers[i])],
            "nearest_training_photo": train[index[i]].path,
            "its_label": LABELS[train[index[i]].label],
            "similarity": round(float(similarity[i]), 4),
            "mirrored": bool(mirror[i]),
        }
        for i, photo in enumerate(photos)
        if similarity[i] >= min(SIMILARITIES)
    ]
    result = {
        "model": card["version"],
        "recipe": str(args.recipe),
        "features": f"ImageNet EfficientNet-Lite0 pooled, {SIZE} px, cosine; each photo and its mirror image",
        "training_photos": len(train),
        "right_end_to_end_by_set": by_set,
        "close_pairs": sorted(close, key=lambda row: -row["similarity"]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(by_set, indent=1))


if __name__ == "__main__":
    main()
