"""Cold start, warm latency and size of the classify Lambda, against TensorFlow in the same run.

What a Lambda pays for is measured the way Lambda pays it:

* cold start - a fresh Python process imports ``functions/classify/app.py`` (powertools, boto3 client,
  catdog, LiteRT) and loads the model; the baseline process imports TensorFlow and loads the same
  ``.tflite`` file into ``tf.lite.Interpreter``;
* warm latency - one thread, one photo at a time, the handler's own path (``model_input`` on the
  object's bytes, ``Classifier.classify_pixels``), against the *same* ``Classifier``
  code with TensorFlow's TFLite interpreter swapped in, and against the float Keras model when one
  is given (``--keras``);
* big photos - time and peak memory (max RSS) of one 12 MP and one ``MAX_PIXELS`` photo, which is
  what the function's memory size and timeout are chosen from;
* the runtime layer's unzipped and zipped size, built by ``sam build`` exactly as deployed.

Every engine runs in its own subprocess (TensorFlow and LiteRT never share one), best-of/median
figures over ``--rounds`` because the machine is shared. Results go to benchmarks/results/lambda.json
(``--out`` for a trial run that must not replace them).

    nice -n 10 .venv/bin/python benchmarks/bench_lambda.py [--model models/catdog] [--keras model.keras]
    nice -n 10 .venv/bin/python benchmarks/bench_lambda.py --only-layers   # after a dependency change
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "lambda.json"
PHOTOS = REPO / "tests" / "fixtures" / "photos"
HANDLER = REPO / "functions" / "classify" / "app.py"
TOOLS = REPO / ".venv-tools" / "bin"
PYTHON312 = Path(
    subprocess.run([REPO / "scripts" / "python312.sh"], capture_output=True, text=True).stdout.strip()
).parent

COLD_HANDLER = """
import importlib.util, json, sys, time
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
seconds = time.perf_counter() - started
heavy = sorted({m.split(".")[0] for m in sys.modules if m.startswith(("tensorflow", "keras"))})
print(json.dumps({"seconds": seconds, "heavy_modules": heavy}))
"""

COLD_PHASES = """
import json, sys, time
t0 = time.perf_counter()
import boto3
boto3.client("s3")
t1 = time.perf_counter()
from aws_lambda_powertools import Logger, Metrics, Tracer
Logger(), Metrics(), Tracer()
t2 = time.perf_counter()
from catdog.classifier import Classifier
from catdog import events, labeling, telemetry
Classifier(sys.argv[1], num_threads=1)
t3 = time.perf_counter()
print(json.dumps({"aws_sdk": t1 - t0, "powertools_xray": t2 - t1, "catdog_and_model": t3 - t2}))
"""

COLD_CATDOG = """
import json, sys, time
started = time.perf_counter()
from catdog.classifier import Classifier
Classifier(sys.argv[1], num_threads=1)
print(json.dumps({"seconds": time.perf_counter() - started}))
"""

COLD_TENSORFLOW = """
import json, sys, time
started = time.perf_counter()
import tensorflow as tf
interpreter = tf.lite.Interpreter(model_path=sys.argv[1] + "/model.tflite", num_threads=1)
interpreter.allocate_tensors()
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.jpg"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary_ms(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {"median_ms": round(statistics.median(ms), 3), "p90_ms": round(percentile(ms, 0.9), 3)}


# --- workers: each runs in a fresh subprocess and prints one JSON object -----------------------------


def warm_worker(engine: str, model: Path, keras_model: str | None, photo_dir: Path, rounds: int) -> dict:
    """Per-photo latency on one thread, photos already in memory as bytes (as after the S3 GET)."""
    import numpy as np

    from catdog import Classifier, model_input

    if engine == "tflite-in-tensorflow":
        import tensorflow as tf

        import catdog.classifier

        catdog.classifier.Interpreter = tf.lite.Interpreter  # same Classifier code, TF's interpreter
    if engine == "keras-float":
        import keras

        net = keras.models.load_model(keras_model, compile=False)
        size = int(net.input_shape[1])

        def infer(pixels):
            return np.asarray(net(pixels[np.newaxis].astype("float32"), training=False))
    else:
        classifier = Classifier(model, num_threads=1)
        size = classifier.input_size
        infer = classifier.classify_pixels

    blobs = [p.read_bytes() for p in photos(photo_dir)]
    for blob in blobs[:5]:  # first calls allocate and page in: not part of a warm invocation
        infer(model_input(blob, size))
    total, decode, inference = [], [], []
    for _ in range(rounds):
        for blob in blobs:
            t0 = time.perf_counter()
            pixels = model_input(blob, size)
            t1 = time.perf_counter()
            infer(pixels)
            t2 = time.perf_counter()
            total.append(t2 - t0)
            decode.append(t1 - t0)
            inference.append(t2 - t1)
    return {
        "engine": engine,
        "input_size": size,
        "photos": len(blobs),
        "rounds": rounds,
        "per_photo": summary_ms(total),
        "decode_and_resize": summary_ms(decode),
        "inference": summary_ms(inference),
    }


def big_worker(model: Path, photo: Path) -> dict:
    """One large photo through the handler path: time and the process's peak memory (``VmHWM``, counted
    from this process's exec: ``ru_maxrss`` also counted the parent's memory at fork time, about 150 MB
    of the parent's 50 MP test image)."""
    from bench_serve_post import memory_kib

    from catdog import Classifier, model_input

    classifier = Classifier(model, num_threads=1)
    blob = photo.read_bytes()
    before = memory_kib(os.getpid())["VmRSS"]
    started = time.perf_counter()
    pixels = model_input(blob, classifier.input_size)  # the handler's reduced-scale decode
    classifier.classify_pixels(pixels)
    seconds = time.perf_counter() - started
    peak = memory_kib(os.getpid())["VmHWM"]
    return {
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(peak / 1024, 1),
        "growth_mb": (peak - before) // 1024,
    }


# --- the parent: runs the workers and the layer build ------------------------------------------------


def subprocess_json(args: list[str], env: dict | None = None) -> dict:
    result = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def cold_starts(model: Path, runs: int) -> dict:
    """Median seconds over ``runs`` fresh processes: the whole handler module (boto3 client,
    powertools with the X-Ray SDK, catdog, model), the catdog part alone (import + model load), and
    TensorFlow doing the same job as the catdog part (import + ``tf.lite.Interpreter`` on the model)."""
    env = {
        **os.environ,
        "MODEL_PATH": str(model),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "catdog-bench",
    }
    scripts = {
        "handler": (COLD_HANDLER, HANDLER),
        "catdog": (COLD_CATDOG, model),
        "tensorflow": (COLD_TENSORFLOW, model),
    }
    runs_by_name = {
        name: [subprocess_json([sys.executable, "-c", script, str(arg)], env) for _ in range(runs)]
        for name, (script, arg) in scripts.items()
    }
    median = {name: statistics.median(r["seconds"] for r in rs) for name, rs in runs_by_name.items()}
    phases = [subprocess_json([sys.executable, "-c", COLD_PHASES, str(model)], env) for _ in range(runs)]
    return {
        "runs": runs,
        "handler_module_s": round(median["handler"], 3),
        "handler_phases_s": {
            name: round(statistics.median(p[name] for p in phases), 3) for name in phases[0]
        },
        "catdog_import_and_model_load_s": round(median["catdog"], 3),
        "tensorflow_import_and_model_load_s": round(median["tensorflow"], 3),
        "ratio_tensorflow_over_catdog": round(median["tensorflow"] / median["catdog"], 1),
        "heavy_modules_in_handler": runs_by_name["handler"][0]["heavy_modules"],
    }


def warm(model: Path, keras_model: str | None, photo_dir: Path, rounds: int) -> dict:
    engines = ["litert", "tflite-in-tensorflow"] + (["keras-float"] if keras_model else [])
    results = {}
    for engine in engines:
        args = [sys.executable, __file__, "--worker", "warm", "--engine", engine, "--model", str(model)]
        args += ["--photos", str(photo_dir), "--rounds", str(rounds)]
        if keras_model:
            args += ["--keras", keras_model]
        results[engine] = subprocess_json(args)
    base = results["litert"]["per_photo"]["median_ms"]
    for result in results.values():
        result["ratio_to_litert"] = round(result["per_photo"]["median_ms"] / base, 2)
    return results


def big_photos(model: Path, photo_dir: Path, max_pixels: int) -> dict:
    """A 12 MP phone photo and one at the MAX_PIXELS cap, upscaled from a real photo (JPEG q90)."""
    from PIL import Image

    source = Image.open(photos(photo_dir)[0]).convert("RGB")
    side = int(max_pixels**0.5)
    sizes = {"12mp": (4000, 3000), "max_pixels": (side, side)}
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, size in sizes.items():
            path = Path(folder) / f"{name}.jpg"
            buffer = io.BytesIO()
            source.resize(size, Image.Resampling.BILINEAR).save(buffer, "JPEG", quality=90)
            path.write_bytes(buffer.getvalue())
            args = [sys.executable, __file__, "--worker", "big", "--model", str(model), "--photo", str(path)]
            results[name] = {
                "pixels": size[0] * size[1],
                "bytes": path.stat().st_size,
                **subprocess_json(args),
            }
    return results


def layer_size(model: Path) -> dict:
    """``sam build`` the two layers as deployed; sizes unzipped (the 250 MB limit) and zipped."""
    if not (TOOLS / "sam").exists():
        return {"skipped": "no .venv-tools (scripts/setup.sh --tools)"}
    env = {
        **os.environ,
        "PATH": f"{PYTHON312}{os.pathsep}{TOOLS}{os.pathsep}{os.environ['PATH']}",
        "SAM_CLI_TELEMETRY": "0",
        "CATDOG_MODEL_DIR": str(model.resolve()),
    }
    sizes = {}
    for layer in ("RuntimeLayer", "ModelLayer"):
        with tempfile.TemporaryDirectory() as build:
            command = [str(TOOLS / "sam"), "build", "--build-dir", build, layer]
            subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
            folder = Path(build) / layer
            unzipped = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            archive = Path(shutil.make_archive(str(Path(build) / "layer"), "zip", folder))
            sizes[layer] = {
                "unzipped_mb": round(unzipped / 1e6, 1),
                "zipped_mb": round(archive.stat().st_size / 1e6, 1),
            }
    return sizes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "catdog", help="model folder")
    parser.add_argument("--keras", help="the float Keras model of the same network, as a third engine")
    parser.add_argument("--photos", type=Path, default=PHOTOS, help="folder of photos (default: fixtures)")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the photos per engine")
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh processes per engine")
    parser.add_argument("--max-pixels", type=int, default=50_000_000)
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS})")
    parser.add_argument(
        "--only-layers",
        action="store_true",
        help="measure the layers alone (after a dependency change) and replace only their entry in --out",
    )
    parser.add_argument("--worker", choices=["warm", "big"], help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--photo", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not (args.model / "model.tflite").is_file():
        parser.error(f"no model.tflite in {args.model}")
    if args.worker == "warm":
        print(json.dumps(warm_worker(args.engine, args.model, args.keras, args.photos, args.rounds)))
        return
    if args.worker == "big":
        print(json.dumps(big_worker(args.model, args.photo)))
        return

    if args.only_layers:
        results = json.loads(args.out.read_text()) if args.out.is_file() else {}
        results["layers"] = {**layer_size(args.model), "measured": time.strftime("%Y-%m-%d")}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps(results["layers"], indent=2))
        return
    card = json.loads((args.model / "model.json").read_text())
    results = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "model": {"folder": str(args.model), "name": card.get("name"), "version": card.get("version")},
        "cold_start": cold_starts(args.model, args.cold_runs),
        "warm": warm(args.model, args.keras, args.photos, args.rounds),
        "big_photos": big_photos(args.model, args.photos, args.max_pixels),
        "layers": layer_size(args.model),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
