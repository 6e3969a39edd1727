"""Benchmarks whose only output was the committed results file take ``--out``, so that a short trial run
(fewer rounds, one case) does not replace the figures docs/benchmarks.md quotes."""

import importlib
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))

    return importlib.import_module


def test_given_out_when_bench_lambda_runs_then_results_go_there_not_to_the_committed_file(
    bench, monkeypatch, tmp_path
):
    bench_lambda = bench("bench_lambda")
    committed = tmp_path / "committed-lambda.json"
    monkeypatch.setattr(bench_lambda, "RESULTS", committed)  # stands in for benchmarks/results/lambda.json
    for stage in ("cold_starts", "warm", "big_photos", "layer_size"):
        monkeypatch.setattr(bench_lambda, stage, lambda *args, stage=stage: {"stage": stage})
    out = tmp_path / "trial" / "lambda.json"

    bench_lambda.main(["--cold-runs", "1", "--rounds", "1", "--out", str(out)])

    results = json.loads(out.read_text())
    assert results["model"]["version"] and results["warm"] == {"stage": "warm"}
    assert not committed.exists()


def test_given_out_and_only_when_bench_memory_runs_then_it_writes_and_merges_there_only(
    bench, monkeypatch, tmp_path
):
    bench_memory = bench("bench_memory")
    committed = tmp_path / "committed-memory.json"
    monkeypatch.setattr(bench_memory, "RESULTS", committed)  # stands in for benchmarks/results/memory.json
    monkeypatch.setattr(bench_memory, "checkout", lambda ref, folder: tmp_path / f"catdog-{ref}")

    def small(name: str, folder: Path) -> Path:
        path = folder / f"{name}.jpg"
        Image.new("L", (8, 6)).save(path)
        return path

    monkeypatch.setattr(bench_memory, "build", small)
    after = {"peak_rss_mb": 109.0, "ready_rss_mb": 102.0, "seconds": 0.1, "cpu_seconds": 0.1}
    monkeypatch.setattr(bench_memory, "label_case", lambda tree, path: after | {"outcome": "neither"})
    out = tmp_path / "memory.json"
    kept = {"format": "PNG", "mode": "L", "before": after, "after": after | {"outcome": "neither"}}
    out.write_text(json.dumps({"cases": {"png-l": kept}, "seconds": 1.0}))
    argv = ["bench_memory.py", "--only", "jpeg-l", "--files", str(tmp_path / "files"), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)

    bench_memory.main()

    results = json.loads(out.read_text())
    assert set(results["cases"]) == {"png-l", "jpeg-l"}
    assert results["cases"]["jpeg-l"]["width"] == 8
    assert not committed.exists()
