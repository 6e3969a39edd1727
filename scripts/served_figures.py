"""A released 3-class model's figures as served: every answer from ``catdog.Classifier``, so with the
blank-image rule (``catdog.classifier.is_blank``) that the release's evaluation, scoring the network's
probabilities, cannot apply. Writes them to --out and into the card (``metrics.served``, shown on its page
beside the network's figures):

    nice -n 10 .venv/bin/python scripts/served_figures.py training/recipes/2.4.0.toml models/catdog \
        runs/release-2.4.0 --out models/catdog/evaluation/served.json

About a minute on two cores (5,250 photos, one at a time as serving answers them). The run folder needs
only the recipe's split (``split.json`` is made there if missing, as ``release`` does).
"""

from __future__ import annotations

import json

import numpy as np

from catdog import Classifier
from catdog.classifier import is_blank
from training.build import load_part_pixels, photos_of
from training.evaluate import served
from training.export import update_card
from training.report import ANSWERS, answer, headline, summarize
from training.study import model_study


def main() -> None:
    args, recipe, prepared, card = model_study(__doc__)
    photos = photos_of(prepared)
    classifier = Classifier(args.model)
    threshold = card["neither"]["threshold"]
    everything, answers, probabilities, unlike_the_network = [], [], [], []
    for rows in photos.values():
        pixels = load_part_pixels(prepared, rows, classifier.input_size, recipe.cache_dir)
        probs, labels = served(classifier, pixels)
        network, _ = answer(probs, threshold)
        for photo, label, image, by_network in zip(rows, labels, pixels, network, strict=True):
            if label != ANSWERS[by_network]:  # the answers the release's figures miss
                unlike_the_network.append(
                    {
                        "set": photo.set,
                        "path": photo.path,
                        "label": ANSWERS[photo.label],
                        "served": label,
                        "network": ANSWERS[by_network],
                        "blank": is_blank(image),
                    }
                )
        everything += rows
        answers += [ANSWERS.index(label) for label in labels]
        probabilities.append(probs)
    argmax = np.argmax(np.concatenate(probabilities)[:, :2], axis=1)
    report = summarize(everything, answers, None, argmax)  # the figures are of answers, not confidences
    figures = {
        "measured_by": "scripts/served_figures.py: catdog.Classifier, the threshold and blank-image rules",
        "headline": headline(report),
        "unlike_the_network": unlike_the_network,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures | report, indent=1) + "\n")
    update_card(args.model, metrics=card["metrics"] | {"served": figures | {"per_kind": report["kind"]}})
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
