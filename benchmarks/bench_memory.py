"""Peak memory of labelling the worst accepted image of each format and mode, before and after.

Each case is one file that the classify function accepts (at most ``MAX_IMAGE_BYTES``, at most
``MAX_PIXELS``; most are 8660 x 5773 = 49.99 megapixels), generated here and never committed. Each is
labelled in a fresh process exactly as the classify handler does it: boto3 and powertools imported,
``Labeler`` with the released model, ``Labeler.label`` on the object (from an in-memory stand-in for
S3), label JSON written. The process's peak resident memory (Linux ``VmHWM``) is what
Lambda's ``MemorySize`` must hold. The same cases run against the code of ``--before`` (a clone of
that commit) in the same run, so the table is a before/after on the same machine and the same files.

Then the warm case (``warm``): a warm function labels photo after photo in one process, and what the C
allocator kept from one photo is still resident when the next begins. The worst files of several decoders
(``--warm-order``) are labelled twice over in one process, as the code ships (``Labeler`` calls glibc's
``malloc_trim`` after each label), without that trim, and without it but with ``MALLOC_MMAP_THRESHOLD_``
fixed at 128 KiB (the environment-variable alternative); per label: the peak so far, the resident memory
left after it, and its CPU time. ``MemorySize`` must hold the shipped warm peak as well as the worst fresh
one. The order is the worst of the dozen tried without the trim, whose peak varies by some 15 MB from run
to run.

Then ``catdog classify --workers 1`` and ``--workers 2`` (threads) on two copies of each of the worst
files: two threads must not hold two full decodes at once.

    nice -n 10 .venv/bin/python benchmarks/bench_memory.py [--before 4e70ce6] [--only png-i16,...,warm]

Results: benchmarks/results/memory.json (and docs/benchmarks.md), or ``--out`` for a trial run; with
``--only`` the other cases' rows (and the warm runs, unless ``warm`` is named) are kept from that file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "memory.json"
MODEL = REPO / "models" / "catdog"
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # template.yaml MaxImageBytes
MAX_PIXELS = 50_000_000  # template.yaml MaxPixels
FULL = (8660, 5773)  # 49,994,180 pixels: the largest 3:2 image under MAX_PIXELS
WEBP_FULL = (6124, 4082)  # 24,998,168 pixels: under a WebP's cap of half MAX_PIXELS (catdog/images.py)
#: the share of MemorySize the worst peak may use
HEADROOM = 0.85

#: The peak resident memory of this process since its exec (Linux ``VmHWM``; ``ru_maxrss`` of a
#: child would also count the parent's memory at fork time).
PEAK = """
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

#: What the classify handler has loaded before a photo arrives, and an in-memory stand-in for S3.
HANDLER = (
    PEAK
    + """
import json, sys, time
import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from botocore.exceptions import ClientError
from catdog.classifier import Classifier
from catdog.labeling import Labeler
from catdog.settings import Settings

class Body:
    def __init__(self, data): self.data = data
    def read(self): return self.data
    def close(self): pass

class FakeS3:
    "get_object/put_object of one object in memory, the label missing: what Labeler.label calls."
    def __init__(self, data): self.data, self.put = data, None
    def get_object(self, Bucket, Key):
        if Key.startswith("labels/"):
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "none"}}, "GetObject")
        return {"Body": Body(self.data), "ContentLength": len(self.data), "ETag": '"e"'}
    def put_object(self, **kwargs): self.put = kwargs

def timed_label(labeler, key):
    started, cpu = time.perf_counter(), time.process_time()
    record = labeler.label("bucket", key)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    outcome = record["error"]["code"] if "error" in record else record["label"]
    return {"seconds": seconds, "cpu_seconds": cpu, "outcome": outcome}

Logger(), Metrics(), Tracer()
"""
)

#: One photo (argv[2]) in a fresh process: a cold start's first invocation.
LABEL = (
    HANDLER
    + """
s3 = FakeS3(open(sys.argv[2], "rb").read())
labeler = Labeler(s3, Classifier(sys.argv[1]), Settings())
ready = peak_mb()
report = {"ready_mb": ready, **timed_label(labeler, "uploads/" + sys.argv[2].rsplit("/", 1)[-1])}
print(json.dumps({**report, "peak_mb": peak_mb()}))
"""
)

#: After HANDLER: photo after photo (argv[2:]) in one process, as a warm container labels them: what
#: one label leaves resident (memory the C allocator keeps) is there when the next one starts.
WARM = """
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

class HandedOver(FakeS3):
    "Keeps no photo once it is read: after the label its bytes are garbage, as an S3 response's are."
    def get_object(self, Bucket, Key):
        response = super().get_object(Bucket, Key)
        self.data = None
        return response

s3 = HandedOver(None)
labeler = Labeler(s3, Classifier(sys.argv[1]), Settings())
ready, steps = peak_mb(), []
for number, path in enumerate(sys.argv[2:]):
    s3.data = open(path, "rb").read()
    step = timed_label(labeler, f"uploads/{number}-" + path.rsplit("/", 1)[-1])
    steps.append({**step, "peak_mb": peak_mb(), "rss_after_mb": rss_mb()})
print(json.dumps({"ready_mb": ready, "steps": steps, "peak_mb": peak_mb()}))
"""
#: Between HANDLER and WARM: the labels keep what glibc keeps (no ``malloc_trim`` after each).
NO_TRIM = """
import catdog.labeling
catdog.labeling.release_free_memory = lambda: None
"""
#: The warm sequence, run twice: big peaks of several decoders, in the order that, of the dozen tried,
#: left the most behind for the next photo without the trim (a CMYK JPEG after a WebP).
WARM_ORDER = (
    "jpeg-cmyk-progressive,webp-rgba-lossless,tiff-f-one-strip,tiff-i32,png-i16,png-rgba,webp-rgb,"
    "jpeg-rgb-progressive-444"
)
#: name -> (switch the trim off, environment): the shipped code, and what it replaced or could have been
WARM_RUNS = {
    "malloc_trim": (False, {}),
    "without_malloc_trim": (True, {}),
    "without_malloc_trim_mmap_threshold_128k": (True, {"MALLOC_MMAP_THRESHOLD_": "131072"}),
}

CLI = (
    PEAK
    + """
import json, sys
from catdog.cli import main
code = main(sys.argv[1:])
print(json.dumps({"peak_mb": peak_mb()}))
sys.exit(code)
"""
)


def gradient(size: tuple[int, int], seed: int) -> np.ndarray:
    """A smooth uint8 picture (compresses to well under MAX_IMAGE_BYTES at 50 MP; the content does not
    change how much memory decoding takes)."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (6, 9), dtype=np.uint8))
    return np.asarray(small.resize(size, Image.Resampling.BILINEAR))


def picture(mode: str, size: tuple[int, int]) -> Image.Image:
    channels = [gradient(size, seed) for seed in range(4)]
    if mode == "I;16":
        return Image.fromarray(channels[0].astype(np.uint16) * 257)
    if mode == "I":
        return Image.fromarray(channels[0].astype(np.int32) * 1000).convert("I")
    if mode == "F":
        return Image.fromarray(channels[0].astype(np.float32) / 255.0)
    rgba = Image.fromarray(np.stack(channels, axis=-1), "RGBA")
    if mode == "P":
        paletted = rgba.convert("RGB").quantize(64)
        paletted.info["transparency"] = 0
        return paletted
    return rgba if mode == "RGBA" else rgba.convert(mode)


def side_for(budget_bytes: int, bytes_per_pixel: float) -> tuple[int, int]:
    """The largest 3:2 image whose uncompressed pixels fit MAX_IMAGE_BYTES (BMP has no compression
    Pillow can write), or FULL."""
    pixels = min(MAX_PIXELS, int(budget_bytes / bytes_per_pixel))
    height = int(math.sqrt(pixels / 1.5))
    return min(FULL[0], int(height * 1.5) // 4 * 4), min(FULL[1], height)


DEFLATE = {"compression": "tiff_adobe_deflate"}
#: name -> (mode, Pillow format, suffix, save options, size)
CASES = {
    "jpeg-rgb": ("RGB", "JPEG", ".jpg", {"quality": 90}, FULL),
    "jpeg-rgb-progressive-444": ("RGB", "JPEG", ".jpg", {"progressive": True, "subsampling": 0}, FULL),
    "jpeg-cmyk-progressive": ("CMYK", "JPEG", ".jpg", {"progressive": True}, FULL),
    "jpeg-l": ("L", "JPEG", ".jpg", {}, FULL),
    "png-rgb": ("RGB", "PNG", ".png", {"compress_level": 9}, FULL),
    "png-rgba": ("RGBA", "PNG", ".png", {"compress_level": 9}, FULL),
    "png-la": ("LA", "PNG", ".png", {"compress_level": 9}, FULL),
    "png-p-transparent": ("P", "PNG", ".png", {"compress_level": 9}, FULL),
    "png-l": ("L", "PNG", ".png", {"compress_level": 9}, FULL),
    "png-i16": ("I;16", "PNG", ".png", {"compress_level": 9}, FULL),
    "png-1": ("1", "PNG", ".png", {"compress_level": 9}, FULL),
    "gif-p": ("P", "GIF", ".gif", {}, FULL),
    "webp-rgb": ("RGB", "WEBP", ".webp", {"quality": 50, "method": 0}, WEBP_FULL),
    "webp-rgba-lossless": ("RGBA", "WEBP", ".webp", {"lossless": True, "method": 0, "quality": 0}, WEBP_FULL),
    "webp-rgb-50mp-refused": ("RGB", "WEBP", ".webp", {"quality": 50, "method": 0}, FULL),
    "bmp-1": ("1", "BMP", ".bmp", {}, FULL),
    "bmp-p": ("P", "BMP", ".bmp", {}, side_for(MAX_IMAGE_BYTES - 4096, 1)),
    "bmp-rgb": ("RGB", "BMP", ".bmp", {}, side_for(MAX_IMAGE_BYTES - 4096, 3)),
    "tiff-f": ("F", "TIFF", ".tif", DEFLATE, FULL),
    "tiff-i32": ("I", "TIFF", ".tif", DEFLATE, FULL),
    "tiff-i16": ("I;16", "TIFF", ".tif", DEFLATE, FULL),
    "tiff-rgb": ("RGB", "TIFF", ".tif", DEFLATE, FULL),
    "tiff-rgba": ("RGBA", "TIFF", ".tif", DEFLATE, FULL),
    "tiff-cmyk": ("CMYK", "TIFF", ".tif", DEFLATE, FULL),
    "tiff-f-one-strip": ("F", "TIFF", ".tif", {**DEFLATE, "strip_size": 1 << 31}, FULL),
}  # fmt: skip


def build(name: str, folder: Path) -> Path:
    mode, fmt, suffix, options, size = CASES[name]
    path = folder / f"{name}{suffix}"
    if path.exists():
        with Image.open(path) as cached:
            if cached.size != size:
                path.unlink()
    if not path.exists():
        picture(mode, size).save(path, fmt, **options)
    if path.stat().st_size > MAX_IMAGE_BYTES:  # posterized: longer runs of equal pixels compress better
        image = picture(mode, size)
        Image.eval(image, lambda value: value // 64 * 64).save(path, fmt, **options)
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise SystemExit(f"{name}: {path.stat().st_size:,} bytes is above MaxImageBytes; not accepted")
    return path


def run_peak(args: list[str], tree: Path, extra_env: dict | None = None) -> tuple[float | None, dict]:
    """(peak RSS in MB, the JSON the child printed or {}) of a fresh process importing ``tree``'s catdog,
    with ``extra_env`` added to its environment; no peak when the process died before reporting it."""
    env = {**os.environ, **(extra_env or {}), "PYTHONPATH": str(tree), "POWERTOOLS_TRACE_DISABLED": "true"}
    env |= {"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_METRICS_NAMESPACE": "catdog-bench"}
    with tempfile.TemporaryFile() as out:
        command = [sys.executable, *args]  # run in the tree: "-c" puts the working directory first
        process = subprocess.run(command, stdout=out, stderr=subprocess.DEVNULL, env=env, cwd=tree)
        out.seek(0)
        lines = out.read().decode().strip().splitlines()
    report = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    if process.returncode not in (0, 1):  # catdog classify exits 1 when some photo failed
        report["exit"] = process.returncode
    peak = report.get("peak_mb")
    return (None if peak is None else round(peak, 1)), report


def label_case(tree: Path, path: Path) -> dict:
    peak, report = run_peak(["-c", LABEL, str(MODEL), str(path)], tree)
    return {
        "peak_rss_mb": peak,
        "ready_rss_mb": round(report.get("ready_mb", 0), 1),  # imports, model and S3 client loaded
        "seconds": round(report.get("seconds", 0), 2),  # wall clock, on a shared machine
        "cpu_seconds": round(report.get("cpu_seconds", 0), 2),  # what one core needs
        "outcome": report.get("outcome", f"crashed (exit {report.get('exit')})"),
    }


def warm_case(tree: Path, paths: list[Path], no_trim: bool, extra_env: dict[str, str]) -> dict:
    """``paths`` labelled one after another in one process, as a warm function does."""
    script = HANDLER + (NO_TRIM if no_trim else "") + WARM
    peak, report = run_peak(["-c", script, str(MODEL), *map(str, paths)], tree, extra_env)
    steps = [
        {"input": path.stem, "peak_rss_mb": round(step["peak_mb"], 1)}
        | {"rss_after_mb": round(step["rss_after_mb"], 1), "cpu_seconds": round(step["cpu_seconds"], 2)}
        | {"seconds": round(step["seconds"], 2), "outcome": step["outcome"]}
        for path, step in zip(paths, report.get("steps", []), strict=False)
    ]
    later = steps[len(steps) // 2 :]  # the second round: every photo after a warm-up of the same ones
    return {
        "environment": extra_env,
        "peak_rss_mb": peak,
        "ready_rss_mb": round(report.get("ready_mb", 0), 1),
        "most_rss_after_a_label_mb": max((step["rss_after_mb"] for step in steps), default=None),
        "second_round_cpu_seconds": round(sum(step["cpu_seconds"] for step in later), 2),
        "steps": steps,
    }


def workers_case(tree: Path, path: Path, workers: int, folder: Path) -> float:
    copies = [folder / f"copy{i}-{path.name}" for i in range(2)]
    for copy in copies:
        if not copy.exists():
            copy.symlink_to(path)
    output = folder / "rows.csv"
    args = ["-c", CLI, "classify", *map(str, copies), "--model", str(MODEL), "--workers", str(workers)]
    peak, _ = run_peak([*args, "--output", str(output)], tree)
    return peak


def checkout(ref: str, folder: Path) -> Path:
    tree = folder / f"catdog-{ref}"
    if not tree.exists():
        subprocess.run(["git", "clone", "-q", "--no-checkout", str(REPO), str(tree)], check=True)
        subprocess.run(["git", "-C", str(tree), "checkout", "-q", ref], check=True)
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "--before", default="4e70ce6", help="the commit to compare with (default: 4e70ce6, decoding as 1.3.0)"
    )
    parser.add_argument("--only", help="comma-separated case names, and/or warm (default: all, and warm)")
    parser.add_argument("--files", type=Path, default=Path(tempfile.gettempdir()) / "catdog-bench-memory")
    parser.add_argument("--workers-cases", default="png-rgba,tiff-f,jpeg-cmyk-progressive")
    parser.add_argument("--warm-order", default=WARM_ORDER, help=f"the warm sequence (default {WARM_ORDER})")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS})")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else [*CASES, "warm"]
    if unknown := [name for name in names if name not in CASES and name != "warm"]:
        parser.error(f"unknown cases: {', '.join(unknown)}")
    args.files.mkdir(parents=True, exist_ok=True)
    trees = {"before": checkout(args.before, args.files), "after": REPO}
    started = time.perf_counter()

    # --only re-measures some cases and keeps the others' rows from the last run
    previous = json.loads(args.out.read_text()) if args.only and args.out.exists() else {}
    cases = previous.get("cases", {})
    workers = previous.get("catdog_classify_two_copies", {})
    warm = previous.get("warm_sequence", {})
    for name in [n for n in names if n in CASES]:
        path = build(name, args.files)
        with Image.open(path) as image:
            width, height, mode = *image.size, image.mode
        row = {"format": CASES[name][1], "mode": mode, "width": width, "height": height}
        row |= {"file_bytes": path.stat().st_size}
        for version, tree in trees.items():
            row[version] = label_case(tree, path)
        cases[name] = row
        before, after = row["before"], row["after"]
        print(
            f"{name:28} {mode:5} {width}x{height} {row['file_bytes'] / 1e6:6.2f} MB  "
            f"before {before['peak_rss_mb']} MB {before['outcome']}  "
            f"after {after['peak_rss_mb']} MB {after['outcome']} {after['cpu_seconds']} s CPU",
            flush=True,
        )
        seconds = time.perf_counter() - started + previous.get("seconds", 0)
        save(args.out, args.before, cases, workers, warm, seconds)

    if "warm" in names:  # after the table: a warm run's peak is read against the fresh processes' worst
        order = args.warm_order.split(",")
        paths = [build(name, args.files) for name in order] * 2
        warm = {"order": order, "rounds": 2, "runs": {}}
        for run, (no_trim, extra_env) in WARM_RUNS.items():
            warm["runs"][run] = result = warm_case(REPO, paths, no_trim, extra_env)
            warm["peak_rss_mb"] = warm["runs"]["malloc_trim"]["peak_rss_mb"]  # what the functions run
            left = result["most_rss_after_a_label_mb"]
            print(
                f"warm, {run}: peak {result['peak_rss_mb']} MB, up to {left} MB left after a label, "
                f"second round {result['second_round_cpu_seconds']} s CPU",
                flush=True,
            )
            seconds = time.perf_counter() - started + previous.get("seconds", 0)
            save(args.out, args.before, cases, workers, warm, seconds)

    for name in [n for n in args.workers_cases.split(",") if n in names]:
        path = build(name, args.files)
        workers[name] = {
            version: {f"workers_{n}": workers_case(tree, path, n, args.files) for n in (1, 2)}
            for version, tree in trees.items()
        }
        print(f"catdog classify 2 x {name}: {json.dumps(workers[name])}", flush=True)
        seconds = time.perf_counter() - started + previous.get("seconds", 0)
        save(args.out, args.before, cases, workers, warm, seconds)


def save(out: Path, before: str, cases: dict, workers: dict, warm: dict, seconds: float) -> None:
    """Write the results so far (a crash keeps every finished case) and the MemorySize they call for: the
    worst fresh process's peak or the shipped code's warm peak, whichever is higher."""
    accepted = [row for row in cases.values() if row["after"]["outcome"] != "too_many_pixels"]
    fresh = max((row["after"]["peak_rss_mb"] or math.inf for row in accepted), default=0)  # none: it died
    warm_peak = (warm["peak_rss_mb"] or math.inf) if "peak_rss_mb" in warm else 0
    peak = max(fresh, warm_peak)
    memory_size = math.ceil(peak / HEADROOM / 64) * 64 if math.isfinite(peak) else None  # none holds it
    results = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
        },
        "before": before,
        "max_image_bytes": MAX_IMAGE_BYTES,
        "max_pixels": MAX_PIXELS,
        "cases": cases,
        "catdog_classify_two_copies": workers,
        "warm_sequence": warm,
        "worst_after_peak_rss_mb": fresh if math.isfinite(fresh) else None,
        "memory_size_mb_for_85_percent": memory_size,
        "seconds": round(seconds, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    warm_peak = warm.get("peak_rss_mb")
    print(f"worst accepted, after: {fresh} MB, warm: {warm_peak} MB -> MemorySize >= {memory_size} MB")


if __name__ == "__main__":
    main()
