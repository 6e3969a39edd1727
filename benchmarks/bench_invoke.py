"""Cold start and warm duration of the classify function under Lambda's emulator, against in-process.

``scripts/invoke.sh`` runs the built function under the Runtime Interface Emulator (RIE) with
awslambdaric. This measures what that costs against calling the same handler in-process, in the same
run and with the same sandbox (``sam build``'s function and layers, ``python -S``, the template's
environment, the same moto server over HTTP), so only the emulator differs:

* cold start - emulator: its ``INIT REPORT`` (process start to the runtime's first ``/next``: Python,
  awslambdaric, the handler module with the boto3 client, powertools and the model); in-process: a
  fresh process started to handler module imported, timed by the parent;
* first invocation - emulator: the first ``REPORT`` Duration minus the init; in-process: the first
  call;
* warm - emulator: the ``REPORT`` Duration of each further invocation, and the client's HTTP round
  trip; in-process: one ``lambda_handler(event, context)`` call. Each invocation labels a different
  real photo (tests/fixtures, 180 px), so nothing is skipped as a duplicate;
* peak memory (VmHWM / ru_maxrss) of the function's process after the warm invocations.

Emulator and in-process runs alternate, ``--runs`` fresh processes each. Results go to
benchmarks/results/invoke.json (``--out`` for a trial run that must not replace them).

    nice -n 10 .venv/bin/python -m benchmarks.bench_invoke [--runs 5] [--warm 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local.invoke import (
    TOOLS,
    Emulator,
    embedded_aws,
    function_environment,
    load_function,
    s3_client,
    sam_build,
    sandbox,
)

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "invoke.json"
PHOTOS = REPO / "tests" / "fixtures" / "photos"
EVENT = REPO / "events" / "s3-put.json"
BUCKET = "catdog-photos"

IN_PROCESS = """
import importlib, json, resource, sys, time
module, _, name = sys.argv[1].rpartition(".")
handler = getattr(importlib.import_module(module), name)
print("ready", flush=True)
from awslambdaric.lambda_context import LambdaContext  # the context the emulated runtime passes
durations = []
for number, line in enumerate(sys.stdin):
    event = json.loads(line)
    deadline_ms = int(time.time() * 1000) + int(sys.argv[2]) * 1000
    context = LambdaContext(f"in-process-{number}", {}, {}, deadline_ms)
    started = time.perf_counter()
    answer = handler(event, context)
    durations.append((time.perf_counter() - started) * 1000)
    assert answer["written"] == 1, answer
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"durations_ms": durations, "peak_rss_mb": round(peak, 1)}), flush=True)
"""


def put_event(key: str) -> dict:
    """events/s3-put.json for ``key`` (encoded as S3 encodes keys; these need no encoding)."""
    event = json.loads(EVENT.read_text())
    event["Records"][0]["s3"]["object"]["key"] = key
    event["Records"][0]["s3"]["object"].pop("eTag", None)
    return event


def upload(s3, prefix: str, photos: list[Path]) -> list[dict]:
    events = []
    for index, photo in enumerate(photos):
        key = f"uploads/{prefix}/{index:03d}-{photo.name}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=photo.read_bytes())
        events.append(put_event(key))
    return events


def emulator_run(function, aws_env, events: list[dict]) -> dict:
    with Emulator(function, aws_env, echo_logs=False) as emulator:
        calls = [emulator.invoke(json.dumps(event).encode()) for event in events]
        peak = emulator.peak_rss_mb()
    assert all(json.loads(c.answer)["written"] == 1 for c in calls), [c.answer for c in calls]
    cold, warm = calls[0], calls[1:]
    return {
        "init_ms": cold.init_ms,
        "first_duration_ms": cold.duration_ms,
        "first_invoke_ms": round(cold.duration_ms - cold.init_ms, 2),  # its Duration includes the init
        "first_round_trip_ms": cold.round_trip_ms,
        "warm_duration_ms": statistics.median(c.duration_ms for c in warm),
        "warm_round_trip_ms": statistics.median(c.round_trip_ms for c in warm),
        "peak_rss_mb": peak,
    }


def in_process_run(function, aws_env, events: list[dict]) -> dict:
    """The same handler in a fresh ``python -S`` with the emulator's sandbox and environment."""
    with sandbox(function) as (opt, runtime):
        environ = function_environment(function, aws_env, opt, runtime)
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(TOOLS / "bin" / "python"), "-S", "-c", IN_PROCESS, function.handler, str(function.timeout)],
            cwd=function.code_dir,
            env=environ,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout.readline().strip() == "ready"
        init_ms = (time.perf_counter() - started) * 1000
        out, _ = process.communicate("".join(json.dumps(e) + "\n" for e in events), timeout=600)
    result = json.loads(out.strip().splitlines()[-1])
    durations = result["durations_ms"]
    return {
        "init_ms": round(init_ms, 1),
        "first_invoke_ms": round(durations[0], 2),
        "warm_duration_ms": round(statistics.median(durations[1:]), 2),
        "peak_rss_mb": result["peak_rss_mb"],
    }


def median_of(runs: list[dict], name: str) -> float:
    return round(statistics.median(r[name] for r in runs), 2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes for each way")
    parser.add_argument("--warm", type=int, default=20, help="warm invocations after the first")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS})")
    args = parser.parse_args(argv)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    photos = sorted(PHOTOS.rglob("*.jpg"))[: args.warm + 1]
    if len(photos) < args.warm + 1:
        parser.error(f"only {len(photos)} photos in {PHOTOS}")

    with tempfile.TemporaryDirectory() as folder, embedded_aws() as endpoint:
        build = Path(folder) / "build"
        sam_build(build, Path(folder) / "cache")
        function = load_function(build, "ClassifyFunction")
        aws_env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
        s3 = s3_client(aws_env)
        s3.create_bucket(Bucket=BUCKET)
        emulated, in_process = [], []
        for run in range(args.runs):  # alternate, so both ways see the same load
            emulated.append(emulator_run(function, aws_env, upload(s3, f"rie-{run}", photos)))
            in_process.append(in_process_run(function, aws_env, upload(s3, f"direct-{run}", photos)))
            print(f"run {run}: emulator {emulated[-1]}\n       in-process {in_process[-1]}", file=sys.stderr)

    summary = {
        "emulator": {name: median_of(emulated, name) for name in emulated[0]},
        "in_process": {name: median_of(in_process, name) for name in in_process[0]},
    }
    # Each run pairs an emulator and an in-process measurement taken one after the other under the
    # same load: the median of the per-run ratios, not the ratio of the medians.
    pairs = list(zip(emulated, in_process, strict=True))
    ratios = {
        "init": [e["init_ms"] / d["init_ms"] for e, d in pairs],
        "first_invoke": [e["first_invoke_ms"] / d["first_invoke_ms"] for e, d in pairs],
        "init_plus_first_invoke": [
            (e["init_ms"] + e["first_invoke_ms"]) / (d["init_ms"] + d["first_invoke_ms"]) for e, d in pairs
        ],
        "warm_duration": [e["warm_duration_ms"] / d["warm_duration_ms"] for e, d in pairs],
        "warm_round_trip": [e["warm_round_trip_ms"] / d["warm_duration_ms"] for e, d in pairs],
    }
    summary["ratio_emulator_over_in_process"] = {k: round(statistics.median(v), 2) for k, v in ratios.items()}
    summary["emulator_overhead_per_warm_call_ms"] = round(
        statistics.median(e["warm_round_trip_ms"] - e["warm_duration_ms"] for e in emulated), 2
    )
    results = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_average_at_start": load_at_start,
        },
        "function": function.logical_id,
        "memory_size_mb": function.memory_size,
        "runs": args.runs,
        "warm_invocations_per_run": args.warm,
        "median_of_runs": summary,
        "emulator_runs": emulated,
        "in_process_runs": in_process,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
