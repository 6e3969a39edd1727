"""Throughput of ``catdog classify`` on real 180 px photos: processes vs threads vs a plain loop.

The baseline is the simplest correct program, a single-threaded ``for`` loop over
``Classifier.classify``, measured in the same run on the same sample, so every number is also a ratio
that survives a busy or different machine. Each CLI configuration runs the real command in a fresh
process (imports, model load, pool start-up, decoding, inference, JSONL writing: what a user waits
for), best of ``--rounds`` because the machine is shared. A last section measures whether a batched
interpreter (batch dimension resized) is cheaper per image than batch 1.

    nice -n 10 .venv/bin/python benchmarks/bench_cli.py /work/shared/data/petimages-180 --sample 1000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from catdog import Classifier, model_input
from catdog.classifier import _quantize
from catdog.imagetypes import is_image_name
from local import RELEASED_MODEL

RESULTS = Path(__file__).parent / "results" / "cli.json"


def sample(root: Path, size: int) -> list[Path]:
    """``size`` photos spread evenly over the sorted set (both classes, no randomness to record)."""
    photos = sorted(p for p in root.rglob("*") if p.is_file() and is_image_name(p.name))
    if not photos:
        raise SystemExit(f"no photos under {root}")
    step = max(len(photos) / size, 1)
    return [photos[int(i * step)] for i in range(min(size, len(photos)))]


def loop_baseline(model: Path, photos: list[Path]) -> tuple[float, float]:
    """(wall, CPU) seconds of the plain loop, model load included."""
    started, cpu = time.perf_counter(), time.process_time()
    classifier = Classifier(model)
    for photo in photos:
        classifier.classify(photo)
    return time.perf_counter() - started, time.process_time() - cpu


def cli_run(model: Path, photos: list[Path], workers: int, executor: str) -> tuple[float, float | None]:
    """(wall, CPU) seconds of ``catdog classify`` in a fresh process, as a user waits for it (imports,
    model load and pool start-up included). CPU is that of the command and its threads; process-pool
    workers are grandchildren (forked by multiprocessing's fork server) that ``getrusage`` never sees,
    so their CPU is reported as ``None`` rather than undercounted."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "rows.jsonl"
        command = [sys.executable, "-m", "catdog", "classify", *map(str, photos), "--model", str(model)]
        command += ["-o", str(output), "--workers", str(workers), "--executor", executor]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        rows = output.read_text().splitlines() if output.exists() else []
    if result.returncode != 0 or len(rows) != len(photos):
        raise SystemExit(f"catdog classify failed (exit {result.returncode}): {result.stderr[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, None if (executor == "process" and workers > 1) else cpu


def batched_inference(model: Path, photos: list[Path], batch: int) -> float:
    """Seconds per image of ``invoke`` alone with the input resized to ``batch`` images."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model / "model.tflite"), num_threads=1)
    (details,) = interpreter.get_input_details()
    size = int(details["shape"][1])
    interpreter.resize_tensor_input(details["index"], [batch, size, size, 3])
    interpreter.allocate_tensors()
    pixels = np.stack([model_input(p, size) for p in photos[:batch]])
    interpreter.set_tensor(details["index"], _quantize(pixels, details))
    interpreter.invoke()  # warm-up
    runs = max(1, 256 // batch)
    started = time.perf_counter()
    for _ in range(runs):
        interpreter.invoke()
    return (time.perf_counter() - started) / (runs * batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", type=Path, help="folder of photos, e.g. /work/shared/data/petimages-180")
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--model", type=Path, default=RELEASED_MODEL)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    photos = sample(args.photos, args.sample)
    configs = [("loop", 1, "-"), ("cli", 1, "process")]
    configs += [("cli", args.workers, "thread"), ("cli", args.workers, "process")]
    times: dict[str, list[float]] = {}
    cpus: dict[str, float | None] = {}
    load = os.getloadavg()
    for _ in range(args.rounds):  # interleaved, so a burst of load from others hits every config
        for kind, workers, executor in configs:
            name = "loop" if kind == "loop" else f"cli-{executor}-x{workers}"
            if kind == "loop":
                seconds, cpu = loop_baseline(args.model, photos)
            else:
                seconds, cpu = cli_run(args.model, photos, workers, executor)
            times.setdefault(name, []).append(round(seconds, 3))
            cpus[name] = cpu if cpus.get(name) is None else min(cpus[name], cpu)
            print(f"{name:20s} {len(photos) / seconds:7.1f} images/s", flush=True)

    baseline = min(times["loop"])
    runs = {
        name: {
            "seconds": min(values),
            "all_seconds": values,
            "images_per_s": round(len(photos) / min(values), 1),
            "speedup_vs_loop": round(baseline / min(values), 2),
            "cpu_ms_per_image": None if cpus[name] is None else round(cpus[name] * 1000 / len(photos), 2),
        }
        for name, values in times.items()
    }
    per_image = {b: batched_inference(args.model, photos, b) for b in (1, 4, 16)}
    classifier = Classifier(args.model)
    result = {
        "photos": str(args.photos),
        "sample": len(photos),
        "model": {**classifier.info, "input_size": classifier.input_size},
        "cpus": len(os.sched_getaffinity(0)),
        "load_average_at_start": [round(x, 2) for x in load],
        "python": platform.python_version(),
        "runs": runs,
        "invoke_ms_per_image_by_batch": {str(b): round(s * 1000, 3) for b, s in per_image.items()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
