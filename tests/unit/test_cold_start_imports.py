"""What each function pays at cold start: the web function loads no model, so it must not import numpy,
Pillow or LiteRT; the classifying functions load them once. Checked in a fresh interpreter, as Lambda
imports a handler, with the function's folder and the package on the path."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import RELEASED_MODEL, REPO

HEAVY = ("numpy", "PIL", "ai_edge_litert")


def modules_after_import(function: str) -> set[str]:
    script = "import json, sys\nimport app\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "functions" / function), str(REPO)]),
        "AWS_DEFAULT_REGION": "us-east-1",
        "BUCKET_NAME": "catdog-imports-test",
        "MODEL_PATH": str(RELEASED_MODEL),
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=REPO / "functions" / function,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_given_the_web_function_when_imported_then_no_image_or_inference_library_is_loaded():
    modules = modules_after_import("web")

    assert "catdog" in modules
    assert not modules & set(HEAVY), modules & set(HEAVY)


@pytest.mark.parametrize("function", ["classify", "batch", "queue"])
def test_given_a_classifying_function_when_imported_then_it_has_loaded_its_model_libraries(function):
    assert set(HEAVY) <= modules_after_import(function)
