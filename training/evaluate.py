"""How good a model is on held-out photos, and how much exporting it changed its answers.

Public API:
    predict_keras(model, pixels, batch_size=64) -> probabilities (n, labels)
    predict_tflite(folder, pixels) -> probabilities (n, labels), through ``catdog.Classifier.predict``,
        the very code that serves the model
    served(classifier, pixels) -> (probabilities, answers): what the served model says, "neither" included
    predict_litert(model_file, pixels, threads=2) -> the dequantized output, LiteRT alone
    classification_metrics(y_true, y_pred, labels) -> {"accuracy", "per_class", "macro", "confusion"}
    evaluate_models(probabilities, y_true, labels, out_dir, answers=None) -> report dict
        metrics of each model (of its served answers where given), its differences from the first model
        (the reference), written to ``out_dir/evaluation.json`` plus one ``confusion-<name>.png`` each;
        those files of an earlier evaluation there are removed first (nothing else in ``out_dir`` is)
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from catdog import Classifier
from training import figures
from training.report import SHARE_PLACES


def predict_keras(model, pixels: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Feeds the same uint8 pixels the TFLite model gets (as float, since Keras inputs are float)."""
    batches = []
    for start in range(0, len(pixels), batch_size):
        outputs = model.predict_on_batch(pixels[start : start + batch_size].astype(np.float32))
        # a model with a prototype "neither" check also outputs its similarity: the first output is the answer
        batches.append(np.asarray(outputs[0] if isinstance(outputs, list | tuple) else outputs))
    return np.concatenate(batches).astype(np.float64)


def predict_tflite(folder: str | os.PathLike, pixels: np.ndarray) -> np.ndarray:
    return Classifier(folder).predict(pixels)


def served(classifier: Classifier, pixels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Probabilities ``(n, labels)`` and the answers the served model gives, "neither" included, from one
    pass of ``Classifier.classify_pixels`` per photo."""
    predictions = [classifier.classify_pixels(image) for image in pixels]
    probabilities = [[p.probabilities[label] for label in classifier.labels] for p in predictions]
    return np.array(probabilities, dtype=np.float64), [p.label for p in predictions]


def predict_litert(model_file: str | os.PathLike, pixels: np.ndarray, threads: int = 2) -> np.ndarray:
    """The (dequantized) single output of a TFLite file for uint8 pixels, one photo per invoke, read
    with LiteRT directly: models whose card ``catdog.Classifier`` does not know yet (3-class 2.0.0).
    Each row is scaled to sum to 1 as ``catdog.Classifier.outputs`` scales it: a uint8 output's steps
    of 1/256 sum to 255/256 or 257/256, and a threshold on p(neither) must see what serving sees."""
    from catdog.classifier import Interpreter

    interpreter = Interpreter(model_path=str(model_file), num_threads=threads)
    interpreter.allocate_tensors()
    (tensor_in,), (tensor_out,) = interpreter.get_input_details(), interpreter.get_output_details()
    scale, zero = tensor_out["quantization"]
    out = []
    for image in pixels:
        interpreter.set_tensor(tensor_in["index"], image[np.newaxis].astype(tensor_in["dtype"]))
        interpreter.invoke()
        values = interpreter.get_tensor(tensor_out["index"])[0].astype(np.float64)
        values = (values - zero) * scale if scale else values
        total = values.sum()
        out.append(values / total if total > 0 else values)
    return np.array(out)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels) -> dict:
    """Confusion rows are true labels, columns predictions; a class never predicted has precision 0, and
    the macro average is over the classes the photos have."""
    labels = list(labels)
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(confusion, (np.asarray(y_true), np.asarray(y_pred)), 1)
    per_class = {}
    for index, label in enumerate(labels):
        true_positive = confusion[index, index]
        predicted = confusion[:, index].sum()
        actual = confusion[index, :].sum()
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": round(float(precision), SHARE_PLACES),
            "recall": round(float(recall), SHARE_PLACES),
            "f1": round(float(f1), SHARE_PLACES),
            "support": int(actual),
        }
    # a class no photo has ("neither" among cat and dog photos) is an answer, not a class to average over
    present = [scores for scores in per_class.values() if scores["support"]] or list(per_class.values())
    macro = {
        metric: round(float(np.mean([scores[metric] for scores in present])), SHARE_PLACES)
        for metric in ("precision", "recall", "f1")
    }
    return {
        "accuracy": round(float(np.trace(confusion) / max(confusion.sum(), 1)), SHARE_PLACES),
        "count": int(confusion.sum()),
        "per_class": per_class,
        "macro": macro,
        "confusion": {"rows_true_columns_predicted": labels, "matrix": confusion.tolist()},
    }


def evaluate_models(
    probabilities: dict[str, np.ndarray],
    y_true: np.ndarray,
    labels,
    out_dir: str | os.PathLike,
    answers: dict[str, list[str]] | None = None,
) -> dict:
    """Metrics per model plus, against the first model (the reference): accuracy change in points, label
    agreement and the largest and mean absolute probability difference on the same photos.

    A model's predictions are its argmax unless ``answers`` gives its served answers (``Classifier``'s
    rule, "neither" included): a cat answered "neither" is then wrong, as it is for the user, and the
    confusion table gains a "neither" column. Probability differences need the same outputs; models
    with other outputs are compared by their answers alone."""
    if not probabilities:
        raise ValueError("nothing to evaluate")
    answers = answers or {}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # an earlier evaluation's files, not to be read beside this one's; anything else in the folder stays
    for earlier in [out / "evaluation.json", *out.glob("confusion-*.png")]:
        if earlier.is_file():
            earlier.unlink()
    labels = list(labels)
    space = labels + sorted({a for given in answers.values() for a in given} - set(labels))
    predicted = {
        name: np.array([space.index(a) for a in answers[name]]) if name in answers else probs.argmax(axis=1)
        for name, probs in probabilities.items()
    }
    reference = next(iter(probabilities))
    base = probabilities[reference]
    report: dict = {"labels": space, "count": len(y_true), "reference": reference, "models": {}}
    for name, probs in probabilities.items():
        metrics = classification_metrics(y_true, predicted[name], space)
        if name != reference:
            versus = {
                "accuracy_points": round(
                    100 * (metrics["accuracy"] - report["models"][reference]["accuracy"]), 4
                ),
                "label_agreement": round(float(np.mean(predicted[name] == predicted[reference])), 6),
            }
            if probs.shape == base.shape:
                difference = np.abs(probs - base)
                versus["max_probability_difference"] = round(float(difference.max()), 6)
                versus["mean_probability_difference"] = round(float(difference.mean()), 6)
            metrics["versus_reference"] = versus
        report["models"][name] = metrics
        save_confusion(metrics, out / f"confusion-{_slug(name)}.png", title=name)
    report["summary"] = {
        name: {"accuracy": m["accuracy"], "macro_f1": m["macro"]["f1"]}
        | ({"versus_" + reference: m["versus_reference"]} if "versus_reference" in m else {})
        for name, m in report["models"].items()
    }
    (out / "evaluation.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def save_confusion(metrics: dict, path: str | os.PathLike, title: str = "") -> Path:
    plt = figures.pyplot()

    labels = metrics["confusion"]["rows_true_columns_predicted"]
    matrix = np.array(metrics["confusion"]["matrix"])
    figure, axis = plt.subplots(figsize=(3.6, 3.2))
    axis.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        axis.text(column, row, str(count), ha="center", va="center", color=colour)
    axis.set_xticks(range(len(labels)), labels)
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(f"{title}: accuracy {metrics['accuracy']:.4f}", fontsize=9)
    return figures.save(figure, path, dpi=80)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "model"
