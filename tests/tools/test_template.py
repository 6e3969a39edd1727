"""The SAM application as ``sam`` and ``cfn-lint`` see it: valid, lint-clean, and buildable here.

``sam build`` runs for real (makefile builds of both layers, pip for Lambda's platform) into a
temporary folder; the built runtime layer is then measured, searched for TensorFlow, and used on its
own - no virtualenv on the path - to classify a photo with the built model layer.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import RELEASED_MODEL, REPO

pytestmark = pytest.mark.tools

TOOLS = REPO / ".venv-tools" / "bin"
PYTHON312 = Path(
    subprocess.run([REPO / "scripts" / "python312.sh"], capture_output=True, text=True).stdout.strip()
)
# The project's budget: 108 MB without the AWS SDK, 135 MB with it (benchmarks/results/lambda.json);
# Lambda's hard limit is 250 MB for the function and its layers.
LAYER_LIMIT_MB = 160
# What CloudFormation receives: template.yaml through the SAM transform (samtranslator, in .venv-tools),
# with the code folders replaced by S3 URIs as `sam package` would, offline.
TRANSFORM = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

template = yaml_parse(open(sys.argv[1]).read())
for resource in template["Resources"].values():
    for uri in ("CodeUri", "ContentUri"):
        if uri in resource.get("Properties", {}):
            resource["Properties"][uri] = "s3://bucket/key"


class NoManagedPolicies:
    def load(self):
        return {}


print(json.dumps(transform(template, {}, NoManagedPolicies())))
"""


def tool_env() -> dict:
    """sam needs python3.12 on PATH to build for the python3.12 runtime."""
    path = os.pathsep.join(p for p in (str(PYTHON312.parent), str(TOOLS), os.environ["PATH"]) if p)
    return {**os.environ, "PATH": path, "SAM_CLI_TELEMETRY": "0"}


def run(*command: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=REPO, env=env or tool_env(), capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module", autouse=True)
def tools_installed():
    if not (TOOLS / "sam").exists():
        pytest.skip("no .venv-tools: run scripts/setup.sh --tools")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """``sam build`` into a temporary folder: the runtime layer and the released model's layer."""
    env = tool_env()
    build_dir = tmp_path_factory.mktemp("sam-build")
    cache_dir = tmp_path_factory.mktemp("sam-cache")
    result = run(
        str(TOOLS / "sam"), "build", "--build-dir", str(build_dir), "--cache-dir", str(cache_dir), env=env
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return build_dir


def size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def test_given_the_template_when_sam_validates_with_lint_then_it_is_valid():
    result = run(str(TOOLS / "sam"), "validate", "--lint", "--region", "us-east-1")

    assert result.returncode == 0, result.stdout + result.stderr


def test_given_the_template_when_cfn_lint_runs_then_there_are_no_findings():
    result = run(str(TOOLS / "cfn-lint"), "template.yaml")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


@pytest.fixture(scope="module")
def transformed() -> dict:
    """The resources CloudFormation creates, SAM's generated ones included."""
    env = {**tool_env(), "AWS_DEFAULT_REGION": "us-east-1"}
    result = run(str(TOOLS / "python"), "-c", TRANSFORM, "template.yaml", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)["Resources"]


def test_given_the_transformed_template_then_every_invoke_permission_names_its_source(transformed):
    """SAM writes the permissions (the EventBridge rule's, the HTTP API routes'); each must say which
    rule or API may invoke, so no other rule or API of any account can (the confused deputy)."""
    permissions = {
        name: r["Properties"] for name, r in transformed.items() if r["Type"] == "AWS::Lambda::Permission"
    }

    by_principal = {p["Principal"] for p in permissions.values()}
    assert by_principal == {"events.amazonaws.com", "apigateway.amazonaws.com"}
    assert not [name for name, p in permissions.items() if "SourceArn" not in p]
    for permission in permissions.values():
        if permission["Principal"] == "events.amazonaws.com":
            rule = permission["SourceArn"]["Fn::GetAtt"][0]
            assert transformed[rule]["Type"] == "AWS::Events::Rule"
        else:
            template, names = permission["SourceArn"]["Fn::Sub"]
            assert template.startswith(
                "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${__ApiId__}/"
            )
            assert names["__ApiId__"] == {"Ref": "WebApi"}


def test_given_the_transformed_template_then_no_role_gets_a_managed_policy_beyond_logs_and_traces(
    transformed,
):
    """The template's own grants are checked in tests/unit/test_template.py; SAM adds managed policies
    for some events (an SQS event: AWSLambdaSQSQueueExecutionRole, every queue of the account). Only
    logging and tracing may come that way."""
    allowed = {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}
    managed = {
        name: {str(arn).rsplit("/", 1)[-1] for arn in r["Properties"].get("ManagedPolicyArns", [])}
        for name, r in transformed.items()
        if r["Type"] == "AWS::IAM::Role"
    }

    assert managed and not {name: arns - allowed for name, arns in managed.items() if arns - allowed}


def test_given_the_transformed_template_then_a_deploy_deletes_the_layer_versions_it_replaced(transformed):
    """SAM retains every layer version by default: one more per deploy, kept for ever."""
    layers = {name: r for name, r in transformed.items() if r["Type"] == "AWS::Lambda::LayerVersion"}

    assert len(layers) == 2
    assert {name: r.get("DeletionPolicy") for name, r in layers.items()} == dict.fromkeys(layers, "Delete")


def test_given_the_transformed_template_then_undelivered_upload_events_reach_the_failure_queue(transformed):
    """The queue policy names SAM's generated rule by its logical ID: it must be the upload rule."""
    rules = {name: r for name, r in transformed.items() if r["Type"] == "AWS::Events::Rule"}
    (rule_name,) = [  # SAM's rule of the Upload event (the other is the QueueEventPrefix rule)
        name
        for name, r in rules.items()
        if r["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0] == "ClassifyFunction"
    ]
    (target,) = transformed[rule_name]["Properties"]["Targets"]
    statements = transformed["ClassifyFailuresPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (statement,) = [statement for statement in statements if statement["Effect"] == "Allow"]

    assert target["Arn"] == {"Fn::GetAtt": ["ClassifyFunction", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ClassifyFailures", "Arn"]}}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": [rule_name, "Arn"]}


def test_given_a_sam_build_when_the_runtime_layer_is_measured_then_it_is_small_and_has_no_tensorflow(built):
    site = built / "RuntimeLayer" / "python"

    names = {path.name.lower() for path in site.iterdir()}
    assert {"ai_edge_litert", "numpy", "pil", "aws_lambda_powertools", "catdog"} <= names
    assert not [name for name in names if name.startswith(("tensorflow", "tf_keras", "keras"))]
    assert size_mb(built / "RuntimeLayer") <= LAYER_LIMIT_MB


def test_given_a_sam_build_when_the_layers_are_compared_with_the_repo_then_they_hold_the_same_code_and_model(
    built,
):
    site = built / "RuntimeLayer" / "python"
    sources = sorted(p.relative_to(REPO) for p in (REPO / "catdog").rglob("*.py"))
    shipped = sorted(p.relative_to(site) for p in (site / "catdog").rglob("*.py"))
    model_dir = built / "ModelLayer" / "model"

    assert sources and shipped == sources
    assert all(filecmp.cmp(REPO / rel, site / rel, shallow=False) for rel in sources)
    assert sorted(p.name for p in model_dir.iterdir()) == ["model.json", "model.tflite"]
    assert filecmp.cmp(RELEASED_MODEL / "model.tflite", model_dir / "model.tflite", shallow=False)


def test_given_a_sam_build_when_the_runtime_layer_is_searched_then_it_carries_no_local_stack(built):
    site = built / "RuntimeLayer" / "python"

    assert not (site / "local").exists()
    assert not [p for p in site.rglob("*.py") if p.name in ("serve.py", "embedded.py", "post_policy.py")]
    assert not [name for name in ("moto", "flask", "werkzeug") if (site / name).exists()]


def test_given_only_the_built_layers_when_a_photo_is_classified_then_it_works_without_tensorflow(
    built, cat_photos
):
    script = (
        "import sys\n"
        f"sys.path[:0] = [{str(built / 'RuntimeLayer' / 'python')!r}]\n"
        "from catdog import Classifier\n"
        f"prediction = Classifier({str(built / 'ModelLayer' / 'model')!r}).classify({str(cat_photos[0])!r})\n"
        "assert not [m for m in sys.modules if m.startswith(('tensorflow', 'keras'))], 'TensorFlow loaded'\n"
        "print(prediction.label)\n"
    )
    # -S: no site-packages at all, so everything imported comes from the layer (as on Lambda's /opt).
    result = run(str(PYTHON312), "-S", "-c", script)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in {"cat", "dog"}


def test_given_only_the_built_runtime_layer_when_a_label_is_written_then_its_sdk_takes_s3s_conditions(built):
    """The layer's own AWS SDK, not the runtime's (an older one refuses IfNoneMatch: no label written)."""
    script = (
        "import sys\n"
        f"sys.path[:0] = [{str(built / 'RuntimeLayer' / 'python')!r}]\n"
        "import boto3\n"
        "from botocore.stub import Stubber\n"
        "from catdog.storage import write_json\n"
        "s3 = boto3.client('s3', region_name='us-east-1', aws_access_key_id='k', aws_secret_access_key='s')\n"
        "with Stubber(s3) as stub:\n"
        "    for condition in ({'IfNoneMatch': '*'}, {'IfMatch': '\"etag\"'}):\n"
        "        stub.add_response('put_object', {}, {'Bucket': 'b', 'Key': 'labels/a.jpg.json',\n"
        "            'Body': b'{}', 'ContentType': 'application/json', **condition})\n"
        "    write_json(s3, 'b', 'labels/a.jpg.json', {}, replaces=None)\n"
        "    write_json(s3, 'b', 'labels/a.jpg.json', {}, replaces='\"etag\"')\n"
        "    stub.assert_no_pending_responses()\n"
        "print(boto3.__file__)\n"
    )
    result = run(str(PYTHON312), "-S", "-c", script)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(built / "RuntimeLayer" / "python"))


def test_given_the_runtime_layer_pins_when_compared_with_the_serving_lock_then_they_are_the_tested_versions():
    """The layer ships the versions the tests ran (requirements/serving.lock)."""

    def pins(path: Path) -> dict[str, str]:
        lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
        pairs = (line.split(" ")[0].split("==") for line in lines if "==" in line)
        return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pairs}

    layer, lock = (
        pins(REPO / "layers" / "runtime" / "requirements.txt"),
        pins(REPO / "requirements" / "serving.lock"),
    )

    assert {"boto3", "botocore", "ai-edge-litert", "numpy"} <= layer.keys()
    assert {name: version for name, version in layer.items() if lock.get(name) != version} == {}


def test_given_a_relative_model_folder_when_the_model_layer_is_built_then_make_says_to_give_an_absolute_one(
    tmp_path,
):
    """make runs in layers/model, where a relative CATDOG_MODEL_DIR names nothing (cp: cannot stat)."""

    def build(model_dir: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["make", "build-ModelLayer", f"ARTIFACTS_DIR={tmp_path}"],
            cwd=REPO / "layers" / "model",
            env={**os.environ, "CATDOG_MODEL_DIR": model_dir},
            capture_output=True,
            text=True,
            timeout=60,
        )

    relative = build("models/catdog-cnn")
    absolute = build(str(REPO / "models" / "catdog-cnn"))

    assert relative.returncode != 0 and "must be an absolute path" in relative.stderr
    assert "CATDOG_MODEL_DIR=$PWD/models/catdog-cnn" in relative.stderr
    assert absolute.returncode == 0, absolute.stderr
    assert filecmp.cmp(tmp_path / "model" / "model.tflite", REPO / "models" / "catdog-cnn" / "model.tflite")
