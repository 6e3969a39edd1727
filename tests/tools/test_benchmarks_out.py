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


def test_given_out_when_bench_invoke_runs_then_results_go_there_not_to_the_committed_file(
    bench, monkeypatch, tmp_path
):
    import contextlib
    from types import SimpleNamespace

    bench_invoke = bench("bench_invoke")
    committed = tmp_path / "committed-invoke.json"
    monkeypatch.setattr(bench_invoke, "RESULTS", committed)  # stands in for benchmarks/results/invoke.json
    monkeypatch.setattr(bench_invoke, "embedded_aws", lambda: contextlib.nullcontext("http://127.0.0.1:1"))
    monkeypatch.setattr(bench_invoke, "sam_build", lambda build, cache: None)
    function = SimpleNamespace(logical_id="ClassifyFunction", memory_size=1024)
    monkeypatch.setattr(bench_invoke, "load_function", lambda build, name: function)
    s3 = SimpleNamespace(create_bucket=lambda **_: None)
    monkeypatch.setattr(bench_invoke, "s3_client", lambda env: s3)
    monkeypatch.setattr(bench_invoke, "upload", lambda s3, prefix, photos: [])
    run = {"init_ms": 100.0, "first_invoke_ms": 10.0, "warm_duration_ms": 5.0, "warm_round_trip_ms": 6.0}
    monkeypatch.setattr(bench_invoke, "emulator_run", lambda *args: run)
    monkeypatch.setattr(bench_invoke, "in_process_run", lambda *args: run)
    out = tmp_path / "trial" / "invoke.json"

    bench_invoke.main(["--runs", "1", "--warm", "1", "--out", str(out)])

    results = json.loads(out.read_text())
    assert results["runs"] == 1 and results["median_of_runs"]["ratio_emulator_over_in_process"]["init"] == 1
    assert not committed.exists()


def test_given_out_when_bench_pair_runs_then_the_timing_it_asks_for_is_written_there(
    bench, monkeypatch, tmp_path
):
    pytest.importorskip("keras")
    bench_pair = bench("bench_pair")
    monkeypatch.setattr(bench_pair, "export_pair", lambda size, folder: folder)
    asked = []
    monkeypatch.setattr(bench_pair, "bench", asked.append)
    out = tmp_path / "pair.json"

    bench_pair.main(["base", "release", "--sizes", "224", "--work", str(tmp_path), "--out", str(out)])

    assert asked == [["base", str(tmp_path / "224"), "release", "--out", str(out)]]
