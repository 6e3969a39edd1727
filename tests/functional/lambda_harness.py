"""Import a Lambda handler the way Lambda does: fresh, with its environment, inside moto's mock.

Handlers build their S3 client and ``Classifier`` at import (module scope), so each test imports its
own copy after ``mock_aws`` has started and ``MODEL_PATH`` points at the model under test.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from moto import mock_aws

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def aws_environment(monkeypatch, model_dir: Path) -> None:
    """Fake credentials in one region, powertools quiet (no X-Ray), the handler's model."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "catdog-tests",
        "POWERTOOLS_SERVICE_NAME": "catdog",
        "MODEL_PATH": str(model_dir),
        "BATCH_PREFIX": "batch/",  # the template's default, which it gives every function
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def load_handler(function: str):
    """A fresh module object for ``functions/<function>/app.py`` (module scope runs again)."""
    name = f"catdog_test_{function}_app"
    spec = importlib.util.spec_from_file_location(name, FUNCTIONS / function / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextmanager
def handler_on_bucket(function: str, monkeypatch, model_dir: Path, bucket: str, existing_bucket: str = ""):
    """The handler cold-started inside a mocked AWS where ``bucket`` already exists, and with
    ``existing_bucket``, the stack's ``ExistingBucketName``, that one too."""
    aws_environment(monkeypatch, model_dir)
    monkeypatch.setenv("EXISTING_BUCKET_NAME", existing_bucket)  # the template's default: ""
    with mock_aws():
        for name in filter(None, (bucket, existing_bucket)):
            boto3.client("s3").create_bucket(Bucket=name)
        yield load_handler(function)


def read_json(bucket: str, key: str) -> dict:
    """A JSON document (a label) from the mocked bucket."""
    return json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


@dataclass
class LambdaContext:
    function_name: str = "catdog-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:catdog-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    remaining_ms: int = 180_000  # the queue function's timeout

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
