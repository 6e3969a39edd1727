"""Where the released model goes wrong, and how far its confidence can be trusted, on the test split.

Everything runs through the deployed TFLite model (``catdog.Classifier``), so what is shown is what
users get. Saliency is occlusion sensitivity: a grey square slides over the photo and the drop in the
probability of the model's answer is what the square hid. It needs no gradients, so it works for any
released model (int8 included) without the Keras file, which the repository does not ship.

Writes into ``out``: ``gallery-<group>.png`` (thumbnail grids), ``index.html`` (the same, grouped, with
the saliency beside each error), ``calibration.png`` (reliability diagram + confidence histogram),
``saliency.png`` and ``analysis.json`` (counts, expected calibration error, every photo shown). The
scenarios behind the errors are judged by a person looking at the gallery: ``README.md`` there.

Public API:
    analyse(args) -> summary dict          the ``python -m training analyse`` command
    expected_calibration_error(confidence, correct, bins=10) -> (ece, per-bin rows)
    occlusion_map(classifier, pixels, label, patch=None) -> (size, size) float map
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from catdog import Classifier, load_image
from catdog.card import NEITHER
from training import figures
from training.data import Split, load_arrays

THUMB = 112  # pixels per thumbnail: small enough that docs/analysis stays well under 5 MB
COLUMNS = 8
GREY = 127


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 10, floor: float = 0.5
):
    """ECE over equal-width confidence bins from ``floor`` (1 / number of labels) to 1: the gap between
    confidence and accuracy, weighted by the share of photos in each bin.
    Returns (ece, rows of bin low/high/count/confidence/accuracy)."""
    edges = np.linspace(floor, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows, ece = [], 0.0
    for number in range(bins):
        inside = which == number
        row = {"low": float(edges[number]), "high": float(edges[number + 1]), "count": int(inside.sum())}
        if row["count"]:
            row["confidence"] = float(confidence[inside].mean())
            row["accuracy"] = float(correct[inside].mean())
            ece += row["count"] / len(confidence) * abs(row["confidence"] - row["accuracy"])
        rows.append(row)
    return float(ece), rows


def occlusion_map(classifier: Classifier, pixels: np.ndarray, label: int, patch: int | None = None):
    """How much hiding each region lowers the probability of ``label`` (0 where it does not)."""
    size = pixels.shape[0]
    patch = patch or max(size // 7, 4)
    stride = max(patch // 2, 1)
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    occluded, boxes = [], []
    for top in starts:
        for left in starts:
            image = pixels.copy()
            image[top : top + patch, left : left + patch] = GREY
            occluded.append(image)
            boxes.append((top, left))
    base = classifier.predict(pixels[np.newaxis])[0, label]
    drops = base - classifier.predict(np.stack(occluded))[:, label]
    heat, cover = np.zeros((size, size)), np.zeros((size, size))
    for (top, left), drop in zip(boxes, drops, strict=True):
        heat[top : top + patch, left : left + patch] += max(float(drop), 0.0)
        cover[top : top + patch, left : left + patch] += 1
    return heat / np.maximum(cover, 1)


def analyse(args) -> dict:
    split_path = args.split
    split = Split.load(split_path, root=args.data)
    classifier = Classifier(args.model)
    pixels, truth = load_arrays(split, classifier.input_size, args.cache, parts=("test",))["test"]
    samples = split.parts["test"]
    # The served answer, "neither" included (a 3-class card's threshold or a 2-class card's check): a pet
    # answered "neither" is an error here as it is for a user.
    predictions = [classifier.classify_pixels(image) for image in pixels]
    predicted = np.array([p.label for p in predictions])
    confidence = np.array([p.confidence for p in predictions])
    labels = split.labels
    correct = predicted == np.array(labels)[truth]
    groups: dict[str, list[int]] = {}
    for index in np.argsort(confidence):
        if not correct[index]:
            group = f"{labels[truth[index]]} taken for {predicted[index]}"
        elif confidence[index] < args.low_confidence:
            group = f"right but below {args.low_confidence:.0%} confidence"
        else:
            continue
        groups.setdefault(group, []).append(int(index))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "thumbs").mkdir(exist_ok=True)
    for stale in (out / "thumbs").glob("*.jpg"):  # a rerun on another model shows other photos
        stale.unlink()
    photos = {}
    for group, members in groups.items():
        for index in members:
            sample = samples[index]
            photo = {
                "id": sample.path,
                "group": group,
                "true": labels[truth[index]],
                "predicted": str(predicted[index]),
                "confidence": round(float(confidence[index]), 4),
            }
            thumb = load_image(split.root / sample.path)
            thumb.thumbnail((THUMB, THUMB))
            photo["thumb"] = f"thumbs/{_slug(sample.path)}.jpg"
            thumb.save(out / photo["thumb"], quality=80)
            if not correct[index]:
                heat = occlusion_map(classifier, pixels[index], _output_of(classifier, predictions[index]))
                photo["saliency"] = f"thumbs/{_slug(sample.path)}-saliency.jpg"
                _overlay(pixels[index], heat).save(out / photo["saliency"], quality=80)
            photos[index] = photo
    for group, members in groups.items():
        _grid([photos[i] for i in members], out, out / f"gallery-{_slug(group)}.png", group)
    errors = [photos[i] for i in np.flatnonzero(~correct)]
    _saliency_grid(errors, out, out / "saliency.png")
    ece, bins = expected_calibration_error(confidence, correct, floor=1 / len(classifier.labels))
    _calibration_plot(bins, confidence, correct, ece, out / "calibration.png")
    summary = {
        "model": classifier.info,
        "split": {"file": str(split_path), "part": "test", "photos": len(samples)},
        "accuracy": round(float(correct.mean()), 6),
        "errors": int((~correct).sum()),
        "groups": {group: len(members) for group, members in groups.items()},
        "low_confidence_threshold": args.low_confidence,
        "expected_calibration_error": round(ece, 6),
        "mean_confidence": round(float(confidence.mean()), 6),
        "answered_neither": int((predicted == NEITHER).sum()),
        "calibration_bins": bins,
        "photos": list(photos.values()),
    }
    (out / "analysis.json").write_text(json.dumps(summary, indent=1) + "\n")
    _html(summary, groups, photos, out / "index.html")
    return {k: v for k, v in summary.items() if k not in ("photos", "calibration_bins")}


def _output_of(classifier: Classifier, prediction) -> int:
    """The probability the answer came from: its own, or the likelier pet's when a 2-class card's
    similarity check said "neither"."""
    if prediction.label in classifier.labels:
        return classifier.labels.index(prediction.label)
    return classifier.labels.index(max(classifier.card.pets, key=prediction.probabilities.__getitem__))


def _slug(text: str) -> str:
    """``cat/12.jpg`` -> ``cat-12``; a group title -> ``cat-taken-for-dog``."""
    stem = text.rsplit(".", 1)[0] if "/" in text else text
    return "-".join("".join(c if c.isalnum() else " " for c in stem.lower()).split())


def _caption(photo: dict) -> str:
    return f"{photo['id'].rsplit('/', 1)[-1]} {photo['predicted']} {photo['confidence']:.2f}"


def _grid(photos: list[dict], out: Path, path: Path, title: str) -> None:
    """Thumbnails with id, answer and confidence under each."""
    rows = -(-len(photos) // COLUMNS)
    cell_h = THUMB + 14
    sheet = Image.new("RGB", (COLUMNS * THUMB, 18 + rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 3), f"{title} ({len(photos)})", fill="black")
    for position, photo in enumerate(photos):
        x, y = (position % COLUMNS) * THUMB, 18 + (position // COLUMNS) * cell_h
        with Image.open(out / photo["thumb"]) as thumb:
            sheet.paste(thumb, (x + (THUMB - thumb.width) // 2, y + (THUMB - thumb.height) // 2))
        draw.text((x + 2, y + THUMB), _caption(photo), fill="black")
    _save_small(sheet, path)


def _overlay(pixels: np.ndarray, heat: np.ndarray) -> Image.Image:
    """The photo dimmed where hiding it changed nothing, red where the answer came from."""
    scaled = heat / heat.max() if heat.max() > 0 else heat
    image = pixels.astype(np.float32) * (0.35 + 0.65 * scaled[..., None])
    image[..., 0] = np.maximum(image[..., 0], 255 * scaled * 0.8)
    picture = Image.fromarray(image.clip(0, 255).astype(np.uint8))
    picture.thumbnail((THUMB, THUMB))
    return picture


def _saliency_grid(errors: list[dict], out: Path, path: Path) -> None:
    """Each error as photo | occlusion saliency, two pairs a row."""
    pairs = 4
    rows = max(-(-len(errors) // pairs), 1)
    cell_h = THUMB + 14
    sheet = Image.new("RGB", (pairs * 2 * THUMB, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for position, photo in enumerate(errors):
        x, y = (position % pairs) * 2 * THUMB, (position // pairs) * cell_h
        for offset, key in ((0, "thumb"), (THUMB, "saliency")):
            with Image.open(out / photo[key]) as picture:
                sheet.paste(picture, (x + offset, y))
        draw.text((x + 2, y + THUMB), f"{_caption(photo)} (true {photo['true']})", fill="black")
    _save_small(sheet, path)


def _save_small(sheet: Image.Image, path: Path) -> None:
    """A 256-colour PNG: a third of the bytes of full colour, and thumbnails lose nothing visible."""
    sheet.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def _calibration_plot(bins, confidence, correct, ece: float, path: Path) -> None:
    plt = figures.pyplot()

    figure, (reliability, histogram) = plt.subplots(1, 2, figsize=(9, 3.6))
    filled = [b for b in bins if b["count"]]
    floor = bins[0]["low"]
    reliability.plot([floor, 1], [floor, 1], color="grey", linestyle=":", label="perfect calibration")
    reliability.plot(
        [b["confidence"] for b in filled], [b["accuracy"] for b in filled], marker="o", label="model"
    )
    for b in filled:
        reliability.annotate(str(b["count"]), (b["confidence"], b["accuracy"]), fontsize=7)
    reliability.set_xlabel("confidence (bin mean)")
    reliability.set_ylabel("accuracy in the bin")
    reliability.set_title(f"reliability: ECE {ece:.4f}")
    reliability.grid(alpha=0.3)
    reliability.legend(fontsize=8)
    histogram.hist(
        [confidence[correct], confidence[~correct]],
        bins=np.linspace(floor, 1, 26),
        stacked=True,
        label=["right", "wrong"],
        color=["#3565d0", "#b3261e"],
    )
    histogram.set_yscale("log")
    histogram.set_xlabel("confidence")
    histogram.set_ylabel("photos (log)")
    histogram.set_title("confidence histogram")
    histogram.legend(fontsize=8)
    figures.save(figure, path, dpi=80)


def _html(summary: dict, groups: dict, photos: dict, path: Path) -> None:
    parts = [
        "<!doctype html><meta charset='utf-8'><title>catdog: misclassification analysis</title>",
        "<style>body{font:14px system-ui;margin:1.5rem}figure{display:inline-block;margin:4px;width:240px;"
        "vertical-align:top}img{width:112px;height:auto}figcaption{font-size:12px}</style>",
        f"<h1>Test-split analysis of {html.escape(summary['model']['name'])} "
        f"{html.escape(summary['model']['version'])}</h1>",
        f"<p>{summary['split']['photos']} photos, accuracy {summary['accuracy']:.4f}, "
        f"{summary['errors']} errors, expected calibration error {summary['expected_calibration_error']:.4f}."
        " Beside each error: occlusion saliency (red: what the answer came from).</p>",
        "<p><img src='calibration.png' style='width:720px'></p>",
    ]
    for group, members in groups.items():
        parts.append(f"<h2>{html.escape(group)} ({len(members)})</h2>")
        for index in members:
            photo = photos[index]
            images = f"<img src='{photo['thumb']}' alt=''>"
            if "saliency" in photo:
                images += f"<img src='{photo['saliency']}' alt='saliency'>"
            parts.append(
                f"<figure>{images}<figcaption>{html.escape(photo['id'])}: true {photo['true']}, "
                f"answer {photo['predicted']} ({photo['confidence']:.1%})</figcaption></figure>"
            )
    path.write_text("\n".join(parts) + "\n")
