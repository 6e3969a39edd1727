"""``scripts/invoke.sh`` without Docker: every event of ``events/`` through Lambda's runtime emulator.

One ``sam build`` for the module; then ``python -m local.invoke FUNCTION EVENT --emulator`` runs, as
a user runs it, against that build: the built function and layers under the Runtime Interface
Emulator with awslambdaric, AWS calls to the embedded moto server it prepares from the event. Each
test reads what the command prints - the answer on stdout, the REPORT line, the measured peak memory
and the label JSON it wrote on stderr - and checks the answer and every label.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RELEASED_MODEL, REPO

from catdog.settings import Settings

pytestmark = pytest.mark.tools

TOOLS = REPO / ".venv-tools"
SPECIAL_KEY = "my pets/Rex + Minou été 🐶.jpg"  # events/s3-put-special-key.json, decoded
ARCHIVE_CAT = "archive/2019/garden cat é.jpg"  # events/batch-job*.json and events/sqs-batch.json
ARCHIVE_DOG = "archive/2020/dog + ball.jpg"  # events/sqs-batch.json (an S3 notification body)
LABEL_KEY = Settings().label_key  # uploads/x -> labels/x.json, any other key -> bulk-labels/<key>.json


@pytest.fixture(scope="module", autouse=True)
def tools_installed():
    if not (TOOLS / "bin" / "sam").exists():
        pytest.skip("no .venv-tools: run scripts/setup.sh --tools")


@pytest.fixture(scope="module")
def built(tmp_path_factory, serving_model) -> Path:
    """``sam build`` of the application into a temporary folder, with the model under test."""
    build_dir = tmp_path_factory.mktemp("sam-build")
    cache_dir = tmp_path_factory.mktemp("sam-cache")
    script = "import sys; from pathlib import Path; from local.invoke import sam_build; "
    script += "sam_build(Path(sys.argv[1]), Path(sys.argv[2]))"
    env = {"CATDOG_MODEL_DIR": str(serving_model.resolve())}
    result = run_python("-c", script, str(build_dir), str(cache_dir), extra_env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return build_dir


def run_python(
    *args: str, extra_env: dict | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, **(extra_env or {})}
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def invoke(built: Path, function: str, event: str, *options: str) -> subprocess.CompletedProcess:
    return run_python(
        "-m", "local.invoke", function, f"events/{event}", "--build-dir", str(built), "--emulator", *options
    )


def labels_written(stderr: str) -> dict[str, dict]:
    """``{label key: label JSON}`` from the ``label s3://bucket/key {...}`` lines."""
    labels = {}
    for line in stderr.splitlines():
        if line.startswith("label s3://"):
            uri, body = line.removeprefix("label s3://").split(" {", 1)
            labels[uri.partition("/")[2]] = json.loads("{" + body)
    return labels


def check_label(label: dict, key: str, expected: str) -> None:
    """The released model's right answer for ``key``."""
    card = json.loads((RELEASED_MODEL / "model.json").read_text())
    assert (label["key"], label["label"]) == (key, expected)
    assert label["model"]["sha256"] == card["sha256"]


# function, event file, expected answer, {photo key: expected label or error code}
CASES = [
    (
        "ClassifyFunction",
        "s3-put.json",
        {"written": 1, "skipped": 0, "ignored": 0},
        {"pets/whiskers.jpg": "cat"},
    ),
    ("classify", "s3-put-special-key.json", {"written": 1, "skipped": 0, "ignored": 0}, {SPECIAL_KEY: "cat"}),
    (
        "classify",
        "eventbridge-object-created.json",
        {"written": 1, "skipped": 0, "ignored": 0},
        {"pets/whiskers.jpg": "cat"},
    ),
    (
        "classify",
        "s3-put-not-image.json",
        {"written": 1, "skipped": 0, "ignored": 0},
        {"docs/notes.txt": "invalid_image"},
    ),
    ("classify", "s3-put-label.json", {"written": 0, "skipped": 0, "ignored": 1}, {}),
    ("QueueFunction", "sqs-batch.json", {"batchItemFailures": []}, {ARCHIVE_CAT: "cat", ARCHIVE_DOG: "dog"}),
]


@pytest.mark.parametrize(("function", "event", "answer", "labels"), CASES, ids=[c[1] for c in CASES])
def test_given_a_sam_build_when_an_event_is_invoked_under_the_emulator_then_the_answer_and_labels_are_right(
    built, function, event, answer, labels
):
    result = invoke(built, function, event)

    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == answer
    written = labels_written(result.stderr)
    keys = {key: key if key.startswith("archive/") else f"uploads/{key}" for key in labels}
    assert sorted(written) == sorted(LABEL_KEY(key) for key in keys.values())
    for key, expected in labels.items():
        label = written[LABEL_KEY(keys[key])]
        if expected == "invalid_image":
            assert label["error"]["code"] == "invalid_image"
        else:
            check_label(label, keys[key], expected)


@pytest.mark.parametrize("event", ["batch-job.json", "batch-job-v1.json"])
def test_given_a_batch_operations_event_of_either_schema_when_invoked_then_the_task_succeeds_with_its_label(
    built, event
):
    result = invoke(built, "BatchFunction", event)

    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout)
    schema = json.loads((REPO / "events" / event).read_text())["invocationSchemaVersion"]
    assert answer["invocationSchemaVersion"] == schema
    [task] = answer["results"]
    assert task["resultCode"] == "Succeeded"
    assert json.loads(task["resultString"])["labels_key"] == LABEL_KEY(ARCHIVE_CAT)
    check_label(labels_written(result.stderr)[LABEL_KEY(ARCHIVE_CAT)], ARCHIVE_CAT, "cat")


def test_given_the_classify_function_when_invoked_then_the_report_has_the_template_memory_and_a_measured_peak(
    built,
):
    result = invoke(built, "classify", "s3-put.json")

    [report] = [line for line in result.stderr.splitlines() if line.startswith("REPORT RequestId:")]
    memory = re.search(
        r"ClassifyMemorySize:\n(?:.*\n)*?\s+Default: (\d+)", (REPO / "template.yaml").read_text()
    )
    assert f"Memory Size: {memory.group(1)} MB" in report  # ClassifyMemorySize's default, from the template
    measured = re.search(r"^invoke: init ([0-9.]+) ms, peak memory ([0-9.]+) MB", result.stderr, re.M)
    assert measured, result.stderr[-3000:]
    init_ms, peak_mb = map(float, measured.groups())
    assert 10 < init_ms < 30_000  # a real Python start plus the handler's imports and model load
    assert 30 < peak_mb < int(memory.group(1))  # the process's own peak, not the configured size
    assert "Traceback" not in result.stderr


def test_given_the_web_function_and_a_bucket_parameter_when_invoked_then_it_presigns_an_upload(built):
    result = invoke(built, "web", "web-create-upload.json", "--parameter-overrides", "BucketName=my-bucket")

    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout)
    assert answer["statusCode"] == 201
    upload = json.loads(answer["body"])
    assert upload["key"].startswith("uploads/") and upload["url"].endswith("/my-bucket")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NoSuchFunction", "events/s3-put.json"], "unknown function 'NoSuchFunction'"),
        (["classify", "events/no-such-event.json"], "no such event file"),
        (["classify", "events/s3-put.json", "--env-vars", "no-such-file.json"], "no such file"),
        (
            ["web", "events/web-create-upload.json"],
            "WebFunction needs BucketName, which has no default: pass --parameter-overrides BucketName=...",
        ),
    ],
    ids=["unknown-function", "missing-event", "missing-env-vars", "parameter-without-default"],
)
def test_given_a_bad_argument_when_the_script_runs_then_it_is_a_one_line_error_with_status_2(
    built, args, message
):
    result = subprocess.run(
        [str(REPO / "scripts" / "invoke.sh"), *args, "--build-dir", str(built), "--emulator"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert message in result.stderr


def test_given_a_working_docker_when_invoked_then_it_is_sam_local_invoke_with_the_same_arguments(
    built, tmp_path
):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "docker").write_text("#!/bin/sh\nexit 0\n")  # `docker info` succeeds
    (fake_bin / "docker").chmod(0o755)
    env_vars = tmp_path / "env.json"
    env_vars.write_text('{"ClassifyFunction": {"MAX_PIXELS": "1000"}}')
    path = f"{fake_bin}:{os.environ['PATH']}"

    result = run_python(
        "-m",
        "local.invoke",
        "classify",
        "events/s3-put.json",
        "--env-vars",
        str(env_vars),
        "--build-dir",
        str(built),
        extra_env={"PATH": path},
    )

    delegated = f"sam local invoke ClassifyFunction --event {REPO / 'events' / 's3-put.json'} --template"
    assert delegated in result.stderr
    assert f"--env-vars {env_vars}" in result.stderr
    assert "under the Lambda emulator" not in result.stderr


@pytest.mark.parametrize("section", ["ClassifyFunction", "Parameters"])
def test_given_env_vars_for_a_declared_variable_when_invoked_then_the_function_runs_with_them(
    built, tmp_path, section
):
    env_vars = tmp_path / "env.json"
    env_vars.write_text(json.dumps({section: {"MAX_PIXELS": "1000", "NOT_DECLARED": "x"}}))

    result = invoke(built, "classify", "s3-put.json", "--env-vars", str(env_vars))

    assert result.returncode == 0, result.stderr[-3000:]
    label = labels_written(result.stderr)["labels/pets/whiskers.jpg.json"]
    assert label["error"]["code"] == "too_many_pixels"  # the 180 x 180 sample is above 1000 pixels


def test_given_a_photo_when_invoked_then_the_object_the_event_names_holds_it(built):
    result = invoke(built, "classify", "s3-put.json", "--photo", str(REPO / "samples" / "dog-2103.jpg"))

    assert result.returncode == 0, result.stderr[-3000:]
    check_label(
        labels_written(result.stderr)["labels/pets/whiskers.jpg.json"], "uploads/pets/whiskers.jpg", "dog"
    )


def test_given_aws_and_an_endpoint_when_invoked_then_the_function_uses_that_s3_as_it_is(
    built, moto_endpoint, monkeypatch
):
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)  # the caller's AWS: this test's and the command's
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="catdog-photos")
    photo = (REPO / "samples" / "dog-678.jpg").read_bytes()
    s3.put_object(Bucket="catdog-photos", Key="uploads/pets/whiskers.jpg", Body=photo)

    result = invoke(built, "classify", "s3-put.json", "--aws")

    assert result.returncode == 0, result.stderr[-3000:]
    stored = s3.get_object(Bucket="catdog-photos", Key="labels/pets/whiskers.jpg.json")["Body"].read()
    assert labels_written(result.stderr)["labels/pets/whiskers.jpg.json"] == json.loads(stored)
    check_label(json.loads(stored), "uploads/pets/whiskers.jpg", "dog")


def test_given_aws_and_a_bucket_that_is_not_there_when_invoked_then_one_line_and_status_2(
    built, moto_endpoint, monkeypatch, tmp_path
):
    # GIVEN --aws, and an event naming a bucket that this S3 does not have
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    event = (REPO / "events" / "s3-put.json").read_text().replace('"catdog-photos"', '"catdog-not-there"')
    assert "catdog-not-there" in event
    (tmp_path / "event.json").write_text(event)

    # WHEN the event is invoked
    result = run_python(
        "-m",
        "local.invoke",
        "classify",
        str(tmp_path / "event.json"),
        "--build-dir",
        str(built),
        "--aws",
        "--emulator",
    )

    # THEN one line names the bucket and S3's answer, with the status of a bad argument, no traceback
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("invoke: --aws: cannot list s3://catdog-not-there/labels/: NoSuchBucket"), line


@pytest.mark.parametrize(
    ("key", "photo"),
    [("uploads/dog.JPE", True), ("uploads/cat.heic", False), ("uploads/dog.txt", False)],
)
def test_given_a_key_an_event_names_when_its_object_is_made_then_a_photo_for_each_name_the_pipeline_reads(
    key, photo
):
    from local.invoke import DOG_PHOTO, NOT_AN_IMAGE, content_for

    # a suffix the pipeline accepts (.jpe too, which the emulator's own list lacked) holds a photo
    assert content_for(key, None) == (DOG_PHOTO.read_bytes() if photo else NOT_AN_IMAGE)
