"""A third answer, "neither": the photo shows no cat and no dog.

A two-class softmax has no way to say "none of these": a rocket comes out "dog, 97%". What the network
does know is where cats and dogs lie in its own feature space: the pooled features that its cat/dog
layer reads. So the released model gets a second output, the cosine similarity between a photo's
features and the nearest of a few hundred prototypes, k-means centres of the features of the training
photos (each photo and its mirror image). A car, a page of text or a landscape lands far from all of
them; a cat in a cage, which ImageNet's classes describe poorly, still lands near the cats in cages
of the training set. ``catdog.Classifier`` answers "neither" below the card's threshold.

Measured against the ImageNet classifier's highest cat/dog probability (release 1.2.0; docs/neither.md):
at the same cost in cat/dog accuracy it catches far more photos without pets, and it needs no second
copy of any block, only one dense layer of prototypes (1024 x 1280 int8: 1.3 MB).

The threshold is chosen on the validation split of the deployed int8 model: the largest one that
turns at most ``max_cost`` of the photos into "neither" among those the cat/dog answer gets right
(each of them costs accuracy). The test split and real photos without pets then measure it.

Public API:
    training_features(model, split, arrays, cache_dir) -> (n, 2, d) features of each photo and mirror
    prototypes(features, count, seed=0) -> (count, d) unit vectors
    with_neither(model, prototypes) -> keras.Model   pixels -> [probabilities, similarity (n, 1)]
    card_section(threshold, **measurements) -> dict  the model card's ``neither`` section
    choose_threshold(scores, correct, max_cost) -> float
    tradeoff(thresholds, val=, test=, not_pets=) -> rows; save_tradeoff(rows, chosen, path, label)
    release_with_neither(...) -> dict                the whole command: prototypes, export, measure
    measure(folder, ...) -> dict                     threshold from val, trade-off, card, docs
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from catdog.card import PROTOTYPE_SIMILARITY, NeitherCheck
from catdog.classifier import Classifier
from catdog.images import model_input
from training import figures
from training.backbones import efficientnet_lite0
from training.config import PROTOTYPES, TransferConfig
from training.data import photos_in
from training.transfer import activation_cache, cached_activations, pooled_features

#: Photos of the Kaggle / Asirra set that show no cat and no dog (looked at, among the lowest-scored
#: val and test photos: a blank picture, a forest, a portrait of Albert Einstein, a church). The check
#: is right to call them "neither", so they do not count as cat/dog photos when it is measured.
NO_PET_PHOTOS = frozenset({"cat/835.jpg", "cat/5418.jpg", "dog/1773.jpg", "dog/6475.jpg"})


def cut_of(model: keras.Model) -> int:
    """The transfer cut of a model assembled by ``training.transfer`` (from its frozen bottom's name)."""
    prefix = f"{efficientnet_lite0.NAME}_blocks_0_"
    for layer in model.layers:
        if layer.name.startswith(prefix):
            return int(layer.name[len(prefix) :]) + 1
    raise ValueError(f"{model.name} is not an EfficientNet-Lite0 transfer model (no frozen bottom found)")


def _parts(model: keras.Model) -> tuple[keras.Model, keras.Model, keras.Model]:
    """The frozen bottom, the fine-tuned top (to pooled features) and the cat/dog classifier."""
    cut = cut_of(model)
    return (
        model.get_layer(f"{efficientnet_lite0.NAME}_blocks_0_{cut - 1}"),
        model.get_layer(f"{efficientnet_lite0.NAME}_blocks_{cut}_top"),
        model.get_layer("classifier"),
    )


def training_features(model: keras.Model, split, arrays: dict, cache_dir, batch_size: int = 64) -> np.ndarray:
    """Pooled features ``(n, 2, d)`` of every training photo and its mirror image, from the activation
    cache that ``training.transfer`` filled (computed into it when missing)."""
    bottom, top, _ = _parts(model)
    config = TransferConfig(input_size=model.input_shape[1], cut=cut_of(model), cache_dir=str(cache_dir))
    path = activation_cache(config, "train", split)
    return pooled_features(top, cached_activations(bottom, arrays["train"][0], path, batch_size), batch_size)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def prototypes(features: np.ndarray, count: int = PROTOTYPES, seed: int = 0) -> np.ndarray:
    """``count`` unit vectors that stand for the training photos: k-means centres of their unit features."""
    from sklearn.cluster import KMeans

    unit = _unit(features.reshape(-1, features.shape[-1]))
    if count > len(unit):  # KMeans would say only "n_samples=5 should be >= n_clusters=8"
        raise ValueError(f"{count} prototypes need as many training photos; there are {len(unit)}")
    return _unit(KMeans(count, n_init=1, random_state=seed).fit(unit).cluster_centers_).astype(np.float32)


def with_neither(model: keras.Model, centres: np.ndarray) -> keras.Model:
    """``model`` (a ``training.transfer`` model) with a second output: the cosine similarity of its
    pooled features to the nearest of ``centres``. The first output is the same computation as before."""
    bottom, top, head = _parts(model)
    pixels = keras.Input(model.input_shape[1:], name="pixels")
    features = top(bottom(pixels))
    unit = keras.layers.UnitNormalization(name="unit_features")(features)
    similarity = keras.layers.Dense(len(centres), use_bias=False, name="prototype_similarity")
    nearest = keras.ops.max(similarity(unit), axis=-1, keepdims=True)
    similarity.set_weights([centres.T])
    return keras.Model(pixels, [head(features), nearest], name=model.name)


def card_section(threshold: float, **measurements) -> dict:
    return {
        **NeitherCheck(PROTOTYPE_SIMILARITY, float(threshold)).to_dict(),
        "score": "cosine similarity of the pooled features to the nearest k-means centre of the "
        "training photos' features",
        **measurements,
    }


def choose_threshold(scores: np.ndarray, correct: np.ndarray, max_cost: float) -> float:
    """The largest threshold (a score below it means "neither") that turns at most ``max_cost`` (a
    fraction of all photos) into "neither" among the photos whose cat/dog answer is right."""
    allowed = int(np.floor(max_cost * len(scores)))
    kept = np.sort(scores[correct])
    return 1.0 if allowed >= len(kept) else float(kept[allowed])


def tradeoff(
    thresholds, *, val: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], not_pets
) -> list[dict]:
    """Per threshold: the share of cat/dog photos called "neither" (val, test), the accuracy they cost
    in points (photos answered right before), and the share of photos without pets called "neither".
    ``val`` and ``test`` are (scores, answer was right)."""
    rows = []
    for threshold in thresholds:
        row = {"threshold": float(threshold)}
        for part, (scores, correct) in (("val", val), ("test", test)):
            neither = scores < threshold
            row[f"{part}_pets_neither"] = float(neither.mean())
            row[f"{part}_accuracy_cost_points"] = float(100 * (neither & correct).sum() / len(scores))
        row["not_pets_neither"] = float((np.asarray(not_pets) < threshold).mean())
        rows.append(row)
    return rows


def save_tradeoff(rows: list[dict], chosen: float, path, label: str) -> Path:
    """Photos without pets caught vs cat/dog test photos lost, the threshold chosen on val marked."""
    plt = figures.pyplot()

    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    lost = [100 * row["test_pets_neither"] for row in rows]
    caught = [100 * row["not_pets_neither"] for row in rows]
    (line,) = axis.plot(lost, caught, marker=".", label=label)
    row = min(rows, key=lambda r: abs(r["threshold"] - chosen))
    point = (100 * row["test_pets_neither"], 100 * row["not_pets_neither"])
    axis.plot(
        *point, "o", markersize=10, fillstyle="none", color=line.get_color(), label="threshold from val"
    )
    axis.axvline(0.5, color="grey", linestyle=":", label="target: <= 0.5% of pets lost")
    axis.axhline(90, color="grey", linestyle="--", label="target: >= 90% of non-pets caught")
    axis.set_xscale("symlog", linthresh=0.1)
    axis.set_xlim(left=0)
    axis.set_xlabel('cat/dog test photos labelled "neither" (%)')
    axis.set_ylabel('photos without pets labelled "neither" (%)')
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="center right")
    return figures.save(figure, path, dpi=90)


def release_with_neither(
    model: keras.Model,
    folder,
    *,
    split,
    arrays: dict,
    not_pets,
    docs,
    max_cost: float,
    release,
    cache_dir,
    count: int = PROTOTYPES,
) -> dict:
    """Prototypes from the training photos, then the model with the similarity output exported
    through ``release`` (the usual export, evaluation and card), then ``measure``. Returns the card's
    ``neither`` section."""
    centres = prototypes(training_features(model, split, arrays, cache_dir), count)
    release(with_neither(model, centres))
    from training.export import update_card

    # the Classifier needs the section to read the second output
    update_card(folder, neither=card_section(0.0, prototypes=count))
    return measure(folder, split=split, arrays=arrays, not_pets=not_pets, docs=docs, max_cost=max_cost)


def shows_a_pet(split, part: str) -> np.ndarray:
    """False for the photos of ``part`` listed in NO_PET_PHOTOS (matched by class folder and file name)."""
    return np.array(
        [
            f"{Path(s.path).parent.name.lower()}/{Path(s.path).name}" not in NO_PET_PHOTOS
            for s in split.parts[part]
        ]
    )


def measure(folder, *, split, arrays: dict, not_pets, docs, max_cost: float) -> dict:
    """Measure the released int8 model in ``folder``: scores of val/test and of the photos in
    ``not_pets``, the threshold from val, the trade-off table and curve into ``docs``, the card's
    ``neither`` section (returned). Photos of the data set that show no pet (NO_PET_PHOTOS) are left
    out of the cat/dog photos: a "neither" answer for them is right and costs no accuracy; the cost
    counted against the data set's labels is recorded beside it."""
    from training.export import update_card

    folder, docs = Path(folder), Path(docs)
    classifier = Classifier(folder)
    count = classifier.card.document["neither"].get("prototypes")
    photos = photos_in(not_pets)
    not_pet_pixels = np.stack([model_input(p, classifier.input_size) for p in photos])
    not_pet_scores = classifier.pet_scores(not_pet_pixels)
    answers, pets = {}, {}
    for part in ("val", "test"):
        pixels, labels = arrays[part]
        probabilities, scores = classifier.batch_outputs(pixels)
        answers[part] = (scores, probabilities.argmax(axis=1) == labels)
        pets[part] = tuple(values[shows_a_pet(split, part)] for values in answers[part])
    threshold = choose_threshold(*pets["val"], max_cost)
    val_scores = pets["val"][0]
    thresholds = np.unique(np.concatenate([np.quantile(val_scores, np.linspace(0, 0.05, 41)), [threshold]]))
    curve = tradeoff(thresholds, val=pets["val"], test=pets["test"], not_pets=not_pet_scores)
    (row,) = tradeoff([threshold], val=pets["val"], test=pets["test"], not_pets=not_pet_scores)
    (labelled,) = tradeoff([threshold], val=answers["val"], test=answers["test"], not_pets=not_pet_scores)
    missed = [p.name for p, s in zip(photos, not_pet_scores, strict=True) if s >= threshold]
    section = card_section(
        threshold,
        prototypes=count,
        chosen_on="val split, int8 model, photos that show a cat or dog",
        max_accuracy_cost_points=100 * max_cost,
        measured={
            "test_pets_labelled_neither": round(row["test_pets_neither"], 6),
            "test_accuracy_cost_points": round(row["test_accuracy_cost_points"], 4),
            "test_accuracy_cost_points_against_dataset_labels": round(
                labelled["test_accuracy_cost_points"], 4
            ),
            "dataset_photos_without_pets": sorted(NO_PET_PHOTOS),
            "not_pet_photos": len(photos),
            "not_pet_photos_labelled_neither": round(row["not_pets_neither"], 6),
            "not_pet_photos_missed": missed,
        },
    )
    update_card(folder, neither=section)
    label = f"similarity to the nearest of {count} prototypes"
    save_tradeoff(curve, threshold, docs / "images" / "neither-tradeoff.png", label)
    _write_table(curve, threshold, photos, not_pet_scores, docs / "neither-tradeoff.md")
    (folder / "evaluation" / "neither.json").write_text(
        json.dumps({"section": section, "curve": curve}, indent=1) + "\n"
    )
    return section


def _write_table(rows, chosen: float, photos, not_pet_scores, path: Path) -> None:
    lines = [
        "| threshold | val pets → neither | test pets → neither | test accuracy cost (points) "
        "| photos without pets → neither |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    shown = {r["threshold"]: r for r in rows[:: max(1, len(rows) // 10)]}
    shown |= {r["threshold"]: r for r in rows if r["threshold"] == chosen}
    for row in sorted(shown.values(), key=lambda r: r["threshold"]):
        mark = " **← from val**" if row["threshold"] == chosen else ""
        lines.append(
            f"| {row['threshold']:.4f}{mark} | {100 * row['val_pets_neither']:.2f}% "
            f"| {100 * row['test_pets_neither']:.2f}% | {row['test_accuracy_cost_points']:.2f} "
            f"| {100 * row['not_pets_neither']:.0f}% |"
        )
    lines += ["", "Scores of the photos without pets:", "", "| photo | score |", "| --- | ---: |"]
    lines += [f"| {p.name} | {s:.4f} |" for p, s in zip(photos, not_pet_scores, strict=True)]
    path.write_text("\n".join(lines) + "\n")
