"""``catdog serve``'s functions in one process: what its function log says."""

from __future__ import annotations

import copy
import inspect
import io
import json
import sys
import uuid

from conftest import load_event

from catdog.inputs import photos_in
from local import RELEASED_MODEL
from local.embedded import FunctionLog, LocalContext
from local.serve import _load, _sample_keys


def test_given_the_classify_and_web_functions_in_one_process_when_both_log_then_each_line_has_its_own_keys(
    monkeypatch, tmp_path
):
    # GIVEN both functions loaded as serve loads them (a service name of this test's own: loggers persist)
    service = f"catdog-test-{uuid.uuid4().hex[:8]}"
    for name, value in {
        "POWERTOOLS_SERVICE_NAME": service,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "catdog",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "BUCKET_NAME": "catdog-local",
        "MODEL_PATH": str(RELEASED_MODEL),
    }.items():
        monkeypatch.setenv(name, value)
    log = FunctionLog(io.StringIO(), tmp_path / "classify.log")
    monkeypatch.setattr(sys, "stdout", log)
    classify, web = _load("classify", log), _load("web", log)
    classify_logger, web_logger = (
        inspect.unwrap(handler).__globals__["logger"] for handler in (classify, web)
    )

    # WHEN the web function answers a request and the classify function logs in the meantime (its
    # worker thread runs beside the page's requests)
    page = copy.deepcopy(load_event("web-create-upload.json"))
    page["rawPath"] = page["requestContext"]["http"]["path"] = "/"
    page["requestContext"]["http"]["method"] = "GET"
    with log.capture():
        assert web(page, LocalContext.of("web"))["statusCode"] == 200
        classify_logger.info("labelled")
    log.close()

    # THEN the classify line carries none of the web invocation's keys, and each names its function
    lines = [json.loads(line) for line in (tmp_path / "classify.log").read_text().splitlines()]
    (labelled,) = [line for line in lines if line.get("message") == "labelled"]
    assert "function_name" not in labelled and "function_request_id" not in labelled
    assert labelled["service"] == f"{service}-classify"
    assert web_logger.service == f"{service}-web"


def test_given_sample_names_that_clean_to_one_name_when_keyed_then_each_photo_has_a_key_of_its_own(
    tmp_path, cat_photos
):
    # GIVEN photos whose cleaned paths are one (folders "a", "a." and "a " are all "a"; a suffix is lower
    # case in a key) and a photo already named as a repeat would be
    names = ["a/cat.jpg", "a./cat.jpg", "a /cat.jpg", "Cat.JPG", "Cat.jpg", "Cat-2.jpg"]
    for name in names:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(cat_photos[0].read_bytes())
    photos = photos_in(tmp_path)

    # WHEN serve keys them for upload
    keys = _sample_keys(photos, tmp_path, "uploads/samples/")

    # THEN every photo has its own key (one upload replaced another), the first of a name (in the order
    # classify finds them) keeps it and each repeat is numbered before its suffix
    assert dict(zip([p.relative_to(tmp_path).as_posix() for p in photos], keys, strict=True)) == {
        "Cat-2.jpg": "uploads/samples/Cat-2.jpg",
        "Cat.JPG": "uploads/samples/Cat.jpg",
        "Cat.jpg": "uploads/samples/Cat-3.jpg",
        "a/cat.jpg": "uploads/samples/a/cat.jpg",
        "a /cat.jpg": "uploads/samples/a/cat-2.jpg",
        "a./cat.jpg": "uploads/samples/a/cat-3.jpg",
    }


def test_given_samples_labelled_more_slowly_than_the_wait_when_served_then_it_waits_while_labels_come(
    monkeypatch, tmp_path, cat_photos
):
    import threading
    import time

    import boto3
    from moto import mock_aws

    from catdog.settings import Settings
    from local import serve

    # GIVEN a folder of samples whose labels come one every 0.3 s, 1.5 s in all, past a 1 s wait (1,529
    # photos on two shared cores took longer than the 60 s serve waited, and serve stopped)
    monkeypatch.setattr(serve, "LABEL_WAIT_SECONDS", 1)
    for index, photo in enumerate(cat_photos[:5]):
        (tmp_path / f"cat-{index}.jpg").write_bytes(photo.read_bytes())
    settings, printed = Settings(), set()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="catdog-local")

        def labeller():  # the worker: a label, then its line printed
            labelled: set[str] = set()
            deadline = time.monotonic() + 30
            while len(labelled) < 5 and time.monotonic() < deadline:
                listed = s3.list_objects_v2(Bucket="catdog-local", Prefix=settings.uploads_prefix)
                for key in sorted({item["Key"] for item in listed.get("Contents", [])} - labelled):
                    time.sleep(0.3)
                    document = json.dumps({"key": key, "label": "cat"}).encode()
                    s3.put_object(Bucket="catdog-local", Key=settings.label_key(key), Body=document)
                    labelled.add(key)
                    printed.add(key)
                time.sleep(0.05)

        worker = threading.Thread(target=labeller)
        worker.start()

        # WHEN serve uploads them and waits for their labels
        try:
            serve._classify_samples(s3, "catdog-local", tmp_path, settings, printed)
        finally:
            worker.join()

    # THEN it waited while labels kept coming, and every sample was labelled
    assert len(printed) == 5
