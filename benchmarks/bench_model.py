"""LiteRT latency of model folders on one core, per image, on real photos already preprocessed.

Only ``Classifier.classify_pixels`` is timed (quantize, invoke, dequantize): the decode and resize
cost the same for every model. The first folder is the baseline, measured in the same run, so each
result is also a ratio that holds on a busy or different machine. Rounds are interleaved and the
median of each model's best round is kept, because the machine is shared. ``--card`` writes the
result into the model card of the models measured.

    nice -n 10 .venv/bin/python benchmarks/bench_model.py models/catdog-cnn models/catdog --card
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from catdog import Classifier, load_image, preprocess

PHOTOS = Path(__file__).parent.parent / "tests" / "fixtures" / "photos"
RESULTS = Path(__file__).parent / "results" / "model.json"


def timings_ms(classifier: Classifier, pixels: np.ndarray) -> np.ndarray:
    times = []
    for image in pixels:
        started = time.perf_counter()
        classifier.classify_pixels(image)
        times.append(time.perf_counter() - started)
    return np.array(times) * 1000


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", type=Path, nargs="+", help="model folders; the first is the baseline")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--card", action="store_true", help="record the latency in each model.json")
    args = parser.parse_args(argv)
    photos = sorted(PHOTOS.rglob("*.jpg"))
    images = [load_image(path) for path in photos]
    classifiers = [Classifier(folder, num_threads=1) for folder in args.models]
    pixels = [np.concatenate([preprocess(image, c.input_size) for image in images]) for c in classifiers]
    for classifier, batch in zip(classifiers, pixels, strict=True):
        timings_ms(classifier, batch[:5])  # warm-up: first invocations allocate
    best = [float("inf")] * len(classifiers)
    fastest = [float("inf")] * len(classifiers)  # the compute cost with no other process in the way
    for _ in range(args.rounds):
        for index, (classifier, batch) in enumerate(zip(classifiers, pixels, strict=True)):
            times = timings_ms(classifier, batch)
            best[index] = min(best[index], float(np.median(times)))
            fastest[index] = min(fastest[index], float(times.min()))
    results = {
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "photos": len(photos),
        "threads": 1,
        "baseline": str(args.models[0]),
        "models": {
            str(folder): {
                "name": classifier.info["name"],
                "input_size": classifier.input_size,
                "file_mb": round((folder / "model.tflite").stat().st_size / 1e6, 2),
                "median_ms_per_image": round(ms, 2),
                "fastest_ms_per_image": round(low, 2),
                "ratio_to_baseline": round(ms / best[0], 2),
            }
            for folder, classifier, ms, low in zip(args.models, classifiers, best, fastest, strict=True)
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results["models"], indent=1))
    if args.card:
        for folder, ms, low in zip(args.models, best, fastest, strict=True):
            card_path = folder / "model.json"
            card = json.loads(card_path.read_text())
            card["latency"] = {
                "median_ms_per_image": round(ms, 2),
                "fastest_ms_per_image": round(low, 2),
                "threads": 1,
                "runtime": "ai-edge-litert (XNNPACK)",
                "measured_by": "benchmarks/bench_model.py",
            }
            card_path.write_text(json.dumps(card, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
