"""A third answer, "neither": the photo shows no cat and no dog.

A two-class softmax has no way to say "none of these": a rocket comes out "dog, 97%". The backbone,
though, learned ImageNet's 1000 classes before it learned cats vs dogs, and they include 118 dog
breeds, 5 domestic cats, wolves, foxes and wild cats. So the released model gets a second output: the
ImageNet logits, computed with the ORIGINAL ImageNet weights of the last block, head and classifier on
a branch that leaves the network before block ``branch`` (default 15). Below the transfer cut the
blocks are frozen, so their output is the ImageNet one; the fine-tuned blocks between the cut and the
branch moved little, and measured, a branch at block 15 catches as many photos without pets as one at
the cut (docs/neither.md) while it adds 1.6 M fewer parameters and no second copy of blocks 11-14.
``catdog.Classifier`` turns the logits into a pet score, the highest ImageNet probability among those
classes (softmax at the card's temperature), and answers "neither" below the card's threshold.

The threshold is chosen on the validation split of the deployed int8 model: the largest one that
turns at most ``max_cost`` of the photos into "neither" among those the cat/dog answer gets right
(each of them costs accuracy). The test split and real photos without pets then measure it.

Public API:
    CLASSES: ImageNet index ranges (inclusive) counted as "a cat or a dog"
    imagenet_branch(size, start) -> keras.Model      block ``start`` input -> ImageNet logits (n, 1000)
    with_neither(model, branch=15) -> keras.Model    pixels -> [probabilities, ImageNet logits]
    card_section(threshold, **measurements) -> dict  the model card's ``neither`` section
    choose_threshold(scores, correct, max_cost) -> float
    tradeoff(thresholds, val=, test=, not_pets=) -> rows; save_tradeoff(curves, chosen, path)
    release_with_neither(...) -> dict                the whole command: export, measure, card, docs
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from catdog.classifier import NEITHER_METHOD, Classifier, pet_score
from catdog.images import load_image, preprocess
from training import figures
from training.backbones import efficientnet_lite0
from training.backbones.torch_legacy import load_state_dict

#: 151-268 dogs, 269-280 wolves, foxes and wild dogs, 281-285 domestic cats, 286-293 wild cats.
CLASSES = ((151, 293),)
#: the narrower set that was measured against it (docs/neither.md)
DOMESTIC = ((151, 268), (281, 285))
IMAGENET_CLASSES = 1000
#: the block where the ImageNet branch leaves the fine-tuned network (docs/neither.md: measured)
BRANCH = 15
#: Softmax temperature of the pet score. Above 1 it lifts the floor that label smoothing put under
#: every ImageNet class, so a photo's best pet class stands out less by chance (docs/neither.md).
TEMPERATURE = 2.0
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def mask(ranges) -> np.ndarray:
    classes = np.zeros(IMAGENET_CLASSES, dtype=bool)
    for first, last in ranges:
        classes[first : last + 1] = True
    return classes


def cut_of(model: keras.Model) -> int:
    """The transfer cut of a model assembled by ``training.transfer`` (from its frozen bottom's name)."""
    prefix = f"{efficientnet_lite0.NAME}_blocks_0_"
    for layer in model.layers:
        if layer.name.startswith(prefix):
            return int(layer.name[len(prefix) :]) + 1
    raise ValueError(f"{model.name} is not an EfficientNet-Lite0 transfer model (no frozen bottom found)")


def imagenet_branch(size: int, start: int) -> keras.Model:
    """The original ImageNet blocks from ``start`` up and the ImageNet classifier, without its softmax
    (logits keep small probabilities apart after int8 quantization; probabilities would round to 0)."""
    _, top = efficientnet_lite0.build_split(size, start)
    top.name = f"{efficientnet_lite0.NAME}_imagenet_blocks_{start}_top"  # beside the fine-tuned one
    state = load_state_dict(efficientnet_lite0.packaged_weights())
    classifier = keras.layers.Dense(IMAGENET_CLASSES, name="imagenet_logits")
    features = keras.Input(top.input.shape[1:], name=f"imagenet_block{start}_input")
    branch = keras.Model(features, classifier(top(features)), name="imagenet")
    classifier.set_weights([state["_fc.weight"].T, state["_fc.bias"]])
    branch.trainable = False
    return branch


def with_neither(model: keras.Model, branch: int = BRANCH) -> keras.Model:
    """``model`` (a ``training.transfer`` model) with the ImageNet logits as a second output, from the
    original blocks ``branch``..15 fed by the model's own input to block ``branch``; the first output,
    the cat/dog probabilities, is the same computation as before."""
    cut = cut_of(model)
    if not cut <= branch < efficientnet_lite0.NUM_BLOCKS:
        raise ValueError(f"the branch must leave at a block from the cut ({cut}) to 15, got {branch}")
    bottom = model.get_layer(f"{efficientnet_lite0.NAME}_blocks_0_{cut - 1}")
    top = model.get_layer(f"{efficientnet_lite0.NAME}_blocks_{cut}_top")
    head = model.get_layer("classifier")
    pixels = keras.Input(model.input_shape[1:], name="pixels")
    activations = bottom(pixels)
    if branch == cut:
        features, tapped = top(activations), activations
    else:  # the same layers, with the input of block ``branch`` as a second output
        last = [layer for layer in top.layers if layer.name.startswith(f"block{branch - 1}_")][-1]
        features, tapped = keras.Model(top.input, [top.output, last.output], name=top.name)(activations)
    outputs = [head(features), imagenet_branch(model.input_shape[1], branch)(tapped)]
    return keras.Model(pixels, outputs, name=model.name)


def card_section(
    threshold: float, temperature: float = TEMPERATURE, branch: int = BRANCH, **measurements
) -> dict:
    return {
        "method": NEITHER_METHOD,
        "threshold": round(float(threshold), 6),
        "temperature": temperature,
        "classes": [list(pair) for pair in CLASSES],
        "output_size": IMAGENET_CLASSES,
        "score": "highest ImageNet probability among classes (original ImageNet weights from the branch up)",
        "branch_block": branch,
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


def save_tradeoff(curves: dict[str, list[dict]], chosen: dict[str, float], path) -> Path:
    """Photos without pets caught vs cat/dog test photos lost, one line per score, the chosen point marked."""
    plt = figures.pyplot()

    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for name, rows in curves.items():
        lost = [100 * row["test_pets_neither"] for row in rows]
        caught = [100 * row["not_pets_neither"] for row in rows]
        (line,) = axis.plot(lost, caught, marker=".", label=name)
        if name in chosen:
            row = min(rows, key=lambda r: abs(r["threshold"] - chosen[name]))
            point = (100 * row["test_pets_neither"], 100 * row["not_pets_neither"])
            axis.plot(
                *point,
                "o",
                markersize=10,
                fillstyle="none",
                color=line.get_color(),
                label="threshold from val",
            )
    axis.axvline(0.5, color="grey", linestyle=":", label="target: <= 0.5% of pets lost")
    axis.axhline(90, color="grey", linestyle="--", label="target: >= 90% of non-pets caught")
    axis.set_xscale("symlog", linthresh=0.1)
    axis.set_xlabel('cat/dog test photos labelled "neither" (%)')
    axis.set_ylabel('photos without pets labelled "neither" (%)')
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    return figures.save(figure, path, dpi=90)


def photos_in(folder) -> list[Path]:
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not paths:
        raise ValueError(f"no photos (.jpg, .png) in {folder}")
    return paths


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
    branch: int = BRANCH,
) -> dict:
    """Export ``model`` with the ImageNet branch through ``release`` (the usual export, evaluation and
    card), then measure the deployed int8 model: ImageNet scores of val/test and of the photos in
    ``not_pets``, the threshold from val, the trade-off table and curve into ``docs``, the card's
    ``neither`` section. Returns that section."""
    folder, docs = Path(folder), Path(docs)
    release(with_neither(model, branch))
    from training.export import update_card

    # the Classifier needs the section to read the second output
    update_card(folder, neither=card_section(0.0, branch=branch))
    classifier = Classifier(folder)
    photos = photos_in(not_pets)
    not_pet_pixels = np.concatenate([preprocess(load_image(p), classifier.input_size) for p in photos])
    logits, correct = {"not_pets": _answers(classifier, not_pet_pixels)[1]}, {}
    for part in ("val", "test"):
        probabilities, logits[part] = _answers(classifier, arrays[part][0])
        correct[part] = probabilities.argmax(axis=1) == arrays[part][1]
    scores = {  # the chosen score, and the alternatives it was measured against
        f"max, T={TEMPERATURE:g}, cats+dogs+wild (deployed)": (mask(CLASSES), np.max, TEMPERATURE),
        "max, T=1, cats+dogs+wild": (mask(CLASSES), np.max, 1.0),
        "sum, T=1, cats+dogs+wild": (mask(CLASSES), np.sum, 1.0),
        f"max, T={TEMPERATURE:g}, domestic cats+dogs": (mask(DOMESTIC), np.max, TEMPERATURE),
    }
    curves, chosen, table = {}, {}, {}
    for name, (classes, reduce, temperature) in scores.items():
        values = {part: pet_score(z / temperature, classes, reduce) for part, z in logits.items()}
        threshold = choose_threshold(values["val"], correct["val"], max_cost)
        thresholds = np.unique(
            np.concatenate([np.quantile(values["val"], np.linspace(0, 0.05, 41)), [threshold]])
        )
        curves[name] = tradeoff(
            thresholds,
            val=(values["val"], correct["val"]),
            test=(values["test"], correct["test"]),
            not_pets=values["not_pets"],
        )
        chosen[name] = threshold
        table[name] = {"threshold": threshold, "values": values}
    name = next(iter(scores))
    values, threshold = table[name]["values"], chosen[name]
    (row,) = tradeoff(
        [threshold],
        val=(values["val"], correct["val"]),
        test=(values["test"], correct["test"]),
        not_pets=values["not_pets"],
    )
    missed = [p.name for p, s in zip(photos, values["not_pets"], strict=True) if s >= threshold]
    section = card_section(
        threshold,
        branch=branch,
        chosen_on="val split, int8 model",
        max_accuracy_cost_points=100 * max_cost,
        measured={
            "test_pets_labelled_neither": round(row["test_pets_neither"], 6),
            "test_accuracy_cost_points": round(row["test_accuracy_cost_points"], 4),
            "not_pet_photos": len(photos),
            "not_pet_photos_labelled_neither": round(row["not_pets_neither"], 6),
            "not_pet_photos_missed": missed,
        },
    )
    update_card(folder, neither=section)
    save_tradeoff(curves, chosen, docs / "images" / "neither-tradeoff.png")
    _write_table(curves, chosen, photos, table, docs / "neither-tradeoff.md")
    (folder / "evaluation" / "neither.json").write_text(
        json.dumps({"section": section, "curves": curves}, indent=1) + "\n"
    )
    return section


def _answers(classifier: Classifier, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probabilities, logits = zip(*(classifier.outputs(image) for image in pixels), strict=True)
    return np.stack(probabilities), np.stack(logits)


def _write_table(curves, chosen, photos, table, path: Path) -> None:
    lines = [
        "| score | threshold | val pets → neither | test pets → neither | test accuracy cost (points) "
        "| photos without pets → neither |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, rows in curves.items():
        shown = {r["threshold"]: r for r in rows[:: max(1, len(rows) // 8)] if r["threshold"] <= 0.05}
        shown |= {r["threshold"]: r for r in rows if r["threshold"] == chosen[name]}
        for row in sorted(shown.values(), key=lambda r: r["threshold"]):
            mark = " **← threshold from val**" if row["threshold"] == chosen[name] else ""
            lines.append(
                f"| {name}{mark} | {row['threshold']:.5f} | {100 * row['val_pets_neither']:.2f}% "
                f"| {100 * row['test_pets_neither']:.2f}% | {row['test_accuracy_cost_points']:.2f} "
                f"| {100 * row['not_pets_neither']:.0f}% |"
            )
    lines += [
        "",
        "Scores of the photos without pets (deployed score):",
        "",
        "| photo | score |",
        "| --- | ---: |",
    ]
    values = table[next(iter(table))]["values"]["not_pets"]
    lines += [f"| {p.name} | {s:.5f} |" for p, s in zip(photos, values, strict=True)]
    path.write_text("\n".join(lines) + "\n")
