"""What each Lambda function imports at cold start, and how long that takes (``python -X importtime``).

Each function's ``app.py`` is imported in a fresh interpreter, the way Lambda's runtime imports the
handler module: the function's folder and the repository (standing in for the runtime layer) on
``sys.path``, a fake bucket and region, the released model at ``MODEL_PATH``. ``-X importtime`` lists
every module with its cumulative import time; the heavy libraries a function should or should not pay
for (numpy, Pillow, LiteRT, boto3, powertools) are reported by name.

    python benchmarks/bench_imports.py                        # -> benchmarks/results/imports.json
    python benchmarks/bench_imports.py --compare before=/tmp/before   # and another checkout

Wall times are medians over ``--repeat`` rounds of fresh interpreters, the checkouts interleaved within
each round so that a busy machine slows both alike; ``python -c pass`` is the baseline of the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FUNCTIONS = ("classify", "batch", "queue", "web")
#: Libraries whose presence at cold start is the point of the measurement.
WATCHED = ("numpy", "PIL", "ai_edge_litert", "boto3", "botocore", "aws_lambda_powertools", "flask", "moto")


def environment(repo: Path, function: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))},
        "PYTHONPATH": os.pathsep.join([str(repo / "functions" / function), str(repo)]),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "BUCKET_NAME": "catdog-bench",
        "MODEL_PATH": str(repo / "models" / "catdog"),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "catdog",
        "POWERTOOLS_METRICS_NAMESPACE": "catdog-bench",
    }


def import_profile(repo: Path, function: str) -> dict:
    """Top-level cumulative import times (ms) of one ``import app``, from ``-X importtime``."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        env=environment(repo, function),
        cwd=repo / "functions" / function,
        capture_output=True,
        text=True,
        check=True,
    )
    modules: dict[str, float] = {}
    count = 0
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if not cumulative.isdigit():
            continue  # the header line
        count += 1
        top = name.split(".")[0]
        modules[top] = max(modules.get(top, 0.0), int(cumulative) / 1000)
    return {
        "app_ms": round(modules.get("app", 0.0), 1),
        "watched_ms": {name: round(modules[name], 1) for name in WATCHED if name in modules},
        "modules_imported": count,
    }


def wall_ms(repo: Path, function: str | None) -> float:
    """Wall time of one fresh interpreter that imports the function (or nothing, the baseline)."""
    code = "import app" if function else "pass"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code],
        env=environment(repo, function or "web"),
        cwd=repo / "functions" / (function or "web"),
        check=True,
        capture_output=True,
    )
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="this checkout", help="name of this checkout in the results")
    parser.add_argument(
        "--compare", action="append", default=[], metavar="LABEL=PATH", help="another checkout to measure"
    )
    parser.add_argument("--repeat", type=int, default=7, help="rounds of fresh interpreters")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "imports.json")
    args = parser.parse_args()
    checkouts = {
        args.label: REPO,
        **dict((label, Path(path)) for label, _, path in (c.partition("=") for c in args.compare)),
    }

    samples: dict[tuple[str, str | None], list[float]] = {}
    for _ in range(args.repeat):
        for label, repo in checkouts.items():
            for function in (None, *FUNCTIONS):
                samples.setdefault((label, function), []).append(wall_ms(repo, function))
    results = {}
    for label, repo in checkouts.items():
        baseline = statistics.median(samples[(label, None)])
        functions = {}
        for function in FUNCTIONS:
            wall = statistics.median(samples[(label, function)])
            functions[function] = {
                **import_profile(repo, function),
                "wall_ms": round(wall, 1),
                "wall_over_baseline": round(wall / baseline, 2),
            }
            print(f"{label:>14} {function:<9} {functions[function]}", flush=True)
        results[label] = {"python_c_pass_ms": round(baseline, 1), "functions": functions}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"repeat": args.repeat, "checkouts": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
