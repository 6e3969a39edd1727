"""LiteRT latency of model folders on one core, per image, on real photos already preprocessed.

The interpreter itself is timed (set the uint8 input, invoke, read every output): the decode and resize
cost the same for every model, and it measures any card, two or three labels, one output or two (so a
model whose card the serving code does not read yet is measured against the release it replaces). The
first folder is the baseline, measured in the same run, so each result is also a ratio that holds on a
busy or different machine. Rounds are interleaved and the median of each model's best round is kept,
because the machine is shared. ``--card`` writes the result into the model card of the models measured.

    nice -n 10 .venv/bin/python benchmarks/bench_model.py runs/release-1.3.0 models/catdog --card
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from catdog import load_image, preprocess
from catdog.classifier import Interpreter
from training import modelcard

PHOTOS = Path(__file__).parent.parent / "tests" / "fixtures" / "photos"
RESULTS = Path(__file__).parent / "results" / "model.json"


class Timed:
    def __init__(self, folder: Path):
        self.folder = folder
        self.card = json.loads((folder / "model.json").read_text())
        self.interpreter = Interpreter(model_path=str(folder / "model.tflite"), num_threads=1)
        self.interpreter.allocate_tensors()
        (self.input,) = self.interpreter.get_input_details()
        self.outputs = self.interpreter.get_output_details()
        self.size = int(self.input["shape"][1])

    def timings_ms(self, pixels: np.ndarray) -> np.ndarray:
        times = []
        for image in pixels:
            started = time.perf_counter()
            self.interpreter.set_tensor(self.input["index"], image[np.newaxis])
            self.interpreter.invoke()
            for output in self.outputs:
                self.interpreter.get_tensor(output["index"])
            times.append(time.perf_counter() - started)
        return np.array(times) * 1000


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", type=Path, nargs="+", help="model folders; the first is the baseline")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--card", action="store_true", help="record the latency in each model.json")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS})")
    args = parser.parse_args(argv)
    images = [load_image(path) for path in sorted(PHOTOS.rglob("*.jpg"))]
    models = [Timed(folder) for folder in args.models]
    pixels = [np.concatenate([preprocess(image, m.size) for image in images]) for m in models]
    for model, batch in zip(models, pixels, strict=True):
        model.timings_ms(batch[:5])  # warm-up: first invocations allocate
    best = [float("inf")] * len(models)
    fastest = [float("inf")] * len(models)
    for _ in range(args.rounds):
        for index, (model, batch) in enumerate(zip(models, pixels, strict=True)):
            times = model.timings_ms(batch)
            best[index] = min(best[index], float(np.median(times)))
            fastest[index] = min(fastest[index], float(times.min()))
    results = {
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "photos": len(images),
        "threads": 1,
        "baseline": str(args.models[0]),
        "models": {
            str(m.folder): {
                "name": m.card["name"],
                "version": m.card["version"],
                "input_size": m.size,
                "file_mb": round((m.folder / "model.tflite").stat().st_size / 1e6, 2),
                "median_ms_per_image": round(ms, 2),
                "fastest_ms_per_image": round(low, 2),
                "ratio_to_baseline": round(ms / best[0], 2),
            }
            for m, ms, low in zip(models, best, fastest, strict=True)
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results["models"], indent=1))
    if args.card:
        for m, ms, low in zip(models, best, fastest, strict=True):
            card_path = m.folder / "model.json"
            card = json.loads(card_path.read_text())
            card["latency"] = {
                "median_ms_per_image": round(ms, 2),
                "fastest_ms_per_image": round(low, 2),
                "threads": 1,
                "runtime": "ai-edge-litert (XNNPACK)",
                "measured_by": "benchmarks/bench_model.py",
                "baseline": results["baseline"],
                "ratio_to_baseline": round(ms / best[0], 2),
            }
            card_path.write_text(json.dumps(card, indent=1) + "\n")
            modelcard.write(m.folder)  # the page shows the latency too
    return results


if __name__ == "__main__":
    main()
