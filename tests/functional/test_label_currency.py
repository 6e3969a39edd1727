"""When a label is current, and what replaces it: damaged labels, object versions, two versions labelled
at once, a new model. The classify and batch handlers over one moto bucket, real photos, the released
model."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from urllib.parse import quote_plus

import boto3
import pytest
from botocore.exceptions import ClientError
from lambda_harness import LambdaContext, aws_environment, load_handler, read_json
from moto import mock_aws
from sample_events import sample_event

from catdog import labeling
from catdog.labeling import WRITE_ATTEMPTS

BUCKET = "catdog-currency-test"
KEY, LABEL_KEY = "uploads/pets/rex.jpg", "labels/pets/rex.jpg.json"


@pytest.fixture
def handlers(monkeypatch, serving_model):
    """The classify and batch functions, cold-started on one bucket."""
    aws_environment(monkeypatch, serving_model)
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield load_handler("classify"), load_handler("batch")


@pytest.fixture
def versioned(handlers):
    boto3.client("s3").put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return handlers


def put(key: str, body: bytes) -> dict:
    return boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)


def put_event(key: str, etag: str, version_id: str | None = None) -> dict:
    event = sample_event("s3-put.json", BUCKET, key=key, etag=etag.strip('"'))
    if version_id:
        event["Records"][0]["s3"]["object"]["versionId"] = version_id
    return event


def batch_task(key: str, version_id: str | None = None) -> dict:
    task = {"taskId": "t", "s3Key": quote_plus(key), "s3VersionId": version_id, "s3Bucket": BUCKET}
    event = {
        "invocationSchemaVersion": "2.0",
        "invocationId": "i",
        "job": {"id": "j", "userArguments": {}},
        "tasks": [task],
    }
    return event


def run_task(batch, key: str, version_id: str | None = None) -> dict:
    (result,) = batch.lambda_handler(batch_task(key, version_id), LambdaContext())["results"]
    return {**result, "answer": json.loads(result["resultString"]) if "{" in result["resultString"] else None}


def real_label_with(**fields):
    """The label the labeler wrote for the photo with ``fields`` replaced: the right key, ETag and model,
    so that every check of a sound label before the spoilt field passes."""
    return lambda label: {**label, **fields}


@pytest.mark.parametrize(
    "damaged",
    [
        [],
        {"source": "x"},
        "a string",
        # the right ETag and this model, but not a label: no answer, or an error that is not {code, message}
        {"key": KEY, "source": {"etag": "ETAG"}, "model": "MODEL", "error": "x"},
        {"key": KEY, "source": {"etag": "ETAG"}, "model": "MODEL"},
        # JSON nested too deep to parse: a RecursionError on every retry once (a classify retry loop, a
        # failed Batch invocation)
        b"[" * 100_000,
        # the label the labeler wrote for this photo, one part spoilt: taken for sound, it would be compared
        # with the object (an AttributeError on every retry) or kept as the photo's current answer
        real_label_with(model="a string"),
        real_label_with(source="x"),
        real_label_with(error={"code": 3}),
        real_label_with(label=None),
        real_label_with(confidence="0.9"),
        real_label_with(probabilities=[0.9, 0.1, 0.0]),
    ],
    ids=[
        "a list",
        "no source",
        "a string",
        "an error not code and message",
        "no answer",
        "nested too deep",
        "a model not a dict",
        "a source not a dict",
        "an error code not a string",
        "a label not a string",
        "a confidence not a number",
        "probabilities not a dict",
    ],
)
@pytest.mark.parametrize("handler", ["classify", "batch"])
def test_given_a_damaged_label_when_the_object_is_labelled_again_then_it_is_replaced(
    handlers, cat_photos, damaged, handler
):
    # GIVEN a photo whose label key holds a damaged label: a document, or the photo's real label spoilt
    classify, batch = handlers
    etag = put(KEY, cat_photos[0].read_bytes())["ETag"].strip('"')
    model = json.dumps(classify.labeler.classifier.info)
    if callable(damaged):
        classify.lambda_handler(put_event(KEY, etag), LambdaContext())
        damaged = json.dumps(damaged(read_json(BUCKET, LABEL_KEY))).encode()
    elif not isinstance(damaged, bytes):
        damaged = json.dumps(damaged).replace("ETAG", etag).replace('"MODEL"', model).encode()
    damaged_etag = put(LABEL_KEY, damaged)["ETag"]

    # WHEN the object is labelled again, by an event naming its ETag or by a job's task
    if handler == "classify":
        assert classify.lambda_handler(put_event(KEY, etag), LambdaContext())["written"] == 1
    else:
        assert run_task(batch, KEY)["resultCode"] == "Succeeded"

    # THEN a new label replaced the damaged one
    label = read_json(BUCKET, LABEL_KEY)
    assert label["label"] == "cat" and label["source"]["etag"] == etag
    assert boto3.client("s3").head_object(Bucket=BUCKET, Key=LABEL_KEY)["ETag"] != damaged_etag


def test_given_a_current_label_larger_than_any_label_when_labelled_again_then_it_is_replaced_unread(
    handlers, cat_photos
):
    # GIVEN this object's current label, padded past any size catdog writes: a document that large is no
    # label of catdog's, and reading whole whatever sits at a label key could exhaust the function's memory
    classify, _ = handlers
    etag = put(KEY, cat_photos[0].read_bytes())["ETag"].strip('"')
    classify.lambda_handler(put_event(KEY, etag), LambdaContext())
    put(LABEL_KEY, json.dumps({**read_json(BUCKET, LABEL_KEY), "pad": "x" * 300_000}).encode())

    # WHEN the object is labelled again: a current label of this model would be kept
    answer = classify.lambda_handler(put_event(KEY, etag), LambdaContext())

    assert answer["written"] == 1 and "pad" not in read_json(BUCKET, LABEL_KEY)


def cat_then_dog(cat_photos, dog_photos) -> tuple[str, str, str]:
    """A key whose first version is a cat and whose current one a dog: (key, cat's id, dog's id)."""
    key = "archive/a.jpg"
    return (
        key,
        put(key, cat_photos[0].read_bytes())["VersionId"],
        put(key, dog_photos[0].read_bytes())["VersionId"],
    )


def test_given_a_task_naming_an_older_version_when_run_then_it_is_classified_and_not_written_over_the_newer(
    versioned, cat_photos, dog_photos
):
    _, batch = versioned
    key, v1, v2 = cat_then_dog(cat_photos, dog_photos)

    newer = run_task(batch, key, v2)
    older = run_task(batch, key, v1)

    assert (newer["resultCode"], newer["answer"]["label"]) == ("Succeeded", "dog")
    assert (older["resultCode"], older["answer"]["label"]) == ("Succeeded", "cat")  # v1 itself
    assert older["answer"]["superseded"] is True
    label = read_json(BUCKET, "bulk-labels/archive/a.jpg.json")
    assert (label["label"], label["source"]["version_id"]) == ("dog", v2)  # the key's current version


def test_given_a_task_naming_an_older_version_since_deleted_when_run_then_the_current_label_stays(
    versioned, cat_photos, dog_photos, capsys, caplog
):
    _, batch = versioned
    key, v1, v2 = cat_then_dog(cat_photos, dog_photos)
    run_task(batch, key, v2)
    boto3.client("s3").delete_object(Bucket=BUCKET, Key=key, VersionId=v1)
    capsys.readouterr()
    caplog.clear()

    older = run_task(batch, key, v1)

    assert older["resultCode"] == "PermanentFailure"
    assert older["answer"]["error"] == "not_found" and older["answer"]["superseded"] is True
    label = read_json(BUCKET, "bulk-labels/archive/a.jpg.json")
    assert (label["label"], label["source"]["version_id"]) == ("dog", v2)
    # counted and logged as any missing object (it was an INFO "a newer version is current" and a
    # SupersededSkipped, as if the task had been answered)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    metrics = [line for line in lines if "_aws" in line]
    assert [m.get("code") for m in metrics if "ImageErrors" in m] == ["not_found"]
    assert not any("SupersededSkipped" in m for m in metrics)
    (warned,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert (warned.message, warned.key) == ("not classifiable", key)


def test_given_a_labelled_photo_deleted_since_when_an_event_comes_then_its_result_is_kept(
    handlers, cat_photos
):
    classify, _ = handlers
    classify.lambda_handler(put_event(KEY, put(KEY, cat_photos[0].read_bytes())["ETag"]), LambdaContext())
    boto3.client("s3").delete_object(Bucket=BUCKET, Key=KEY)

    result = classify.lambda_handler(put_event(KEY, "an-etag-never-read"), LambdaContext())

    assert result == {"written": 0, "skipped": 1, "ignored": 0}
    assert read_json(BUCKET, LABEL_KEY)["label"] == "cat"  # "gone" does not replace an answer


@pytest.mark.parametrize("handler", ["classify", "batch"])
def test_given_a_photo_refused_with_an_error_deleted_since_when_labelled_again_then_its_label_says_gone(
    handlers, handler
):
    # GIVEN an upload labelled with an error (not a photo), then deleted
    classify, batch = handlers
    classify.lambda_handler(put_event(KEY, put(KEY, b"not a photo")["ETag"]), LambdaContext())
    assert read_json(BUCKET, LABEL_KEY)["error"]["code"] == "invalid_image"
    boto3.client("s3").delete_object(Bucket=BUCKET, Key=KEY)

    # WHEN it is labelled again: an event for an ETag its label was not made from, or a job's task
    if handler == "classify":
        answer = classify.lambda_handler(put_event(KEY, "an-etag-never-read"), LambdaContext())
        assert answer == {"written": 1, "skipped": 0, "ignored": 0}
    else:
        task = run_task(batch, KEY)
        assert (task["resultCode"], task["answer"]) == (
            "PermanentFailure",
            {
                "error": "not_found",
                "written": True,
                "model": classify.labeler.classifier.info["version"],
                "labels_key": LABEL_KEY,
            },
        )

    # THEN only an answer outlives its photo ("gone" keeps a result): the error made before is replaced
    # by one saying the object no longer exists
    label = read_json(BUCKET, LABEL_KEY)
    assert label["error"]["code"] == "not_found" and "source" not in label


def test_given_a_task_naming_the_current_version_when_run_then_its_label_records_that_version(
    versioned, cat_photos
):
    _, batch = versioned
    version = put("archive/b.jpg", cat_photos[1].read_bytes())["VersionId"]

    assert run_task(batch, "archive/b.jpg", version)["answer"]["label"] == "cat"

    assert read_json(BUCKET, "bulk-labels/archive/b.jpg.json")["source"]["version_id"] == version


def test_given_two_versions_labelled_at_once_when_the_older_finishes_last_then_the_newer_label_stays(
    handlers, cat_photos, dog_photos, monkeypatch
):
    """Event 1 (the cat) downloads its photo; meanwhile the dog replaces it and event 2 labels the dog
    completely; then event 1 classifies its cat and writes last."""
    classify, _ = handlers
    s3 = classify.labeler.s3
    first = put(KEY, cat_photos[0].read_bytes())["ETag"]
    get_object, interleaved = s3.get_object, []

    def slow_first_download(**kwargs):
        response = get_object(**kwargs)
        if kwargs["Key"] == KEY and not interleaved:
            interleaved.append(True)
            second = put(KEY, dog_photos[0].read_bytes())["ETag"]
            assert classify.lambda_handler(put_event(KEY, second), LambdaContext())["written"] == 1
        return response

    monkeypatch.setattr(s3, "get_object", slow_first_download)
    classify.lambda_handler(put_event(KEY, first), LambdaContext())

    label = read_json(BUCKET, LABEL_KEY)
    current = boto3.client("s3").head_object(Bucket=BUCKET, Key=KEY)["ETag"].strip('"')
    assert interleaved and (label["label"], label["source"]["etag"]) == ("dog", current)


def test_given_the_label_deleted_while_the_photo_downloads_when_it_is_written_then_it_is_written_anew(
    handlers, cat_photos, dog_photos, monkeypatch
):
    # GIVEN a photo labelled cat, then replaced by a dog photo
    classify, _ = handlers
    s3 = classify.labeler.s3
    classify.lambda_handler(put_event(KEY, put(KEY, cat_photos[0].read_bytes())["ETag"]), LambdaContext())
    cat_label = boto3.client("s3").head_object(Bucket=BUCKET, Key=LABEL_KEY)["ETag"]
    new = put(KEY, dog_photos[0].read_bytes())["ETag"].strip('"')
    # ... whose label, once read, is deleted while the dog downloads (a clean-up of the labels prefix)
    get_object, put_object, deleted, writes = s3.get_object, s3.put_object, [], []

    def label_deleted_meanwhile(**kwargs):
        response = get_object(**kwargs)
        if kwargs["Key"] == KEY and not deleted:
            deleted.append(boto3.client("s3").delete_object(Bucket=BUCKET, Key=LABEL_KEY))
        return response

    def noting_conditions(**kwargs):
        writes.append(kwargs.get("IfNoneMatch") or kwargs["IfMatch"])
        return put_object(**kwargs)

    monkeypatch.setattr(s3, "get_object", label_deleted_meanwhile)
    monkeypatch.setattr(s3, "put_object", noting_conditions)

    # WHEN the dog's event is handled
    answer = classify.lambda_handler(put_event(KEY, new), LambdaContext())

    # THEN the write over the cat's label (If-Match, which S3 answers 404 NoSuchKey when nothing is there) is
    # a conflict like a lost race: the label is read again, found missing, and written where there is none
    assert answer == {"written": 1, "skipped": 0, "ignored": 0}
    assert deleted and writes == [cat_label, "*"]
    label = read_json(BUCKET, LABEL_KEY)
    assert (label["label"], label["source"]["etag"]) == ("dog", new)


def _losing_every_race(writes: list):
    """A ``put_object`` that S3 refuses as another writer's label had come first, noting each condition."""

    def lost_the_race(**kwargs):
        writes.append(kwargs.get("IfNoneMatch") or kwargs["IfMatch"])
        error = {"Code": "PreconditionFailed", "Message": "At least one of the preconditions failed"}
        raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 412}}, "PutObject")

    return lost_the_race


@pytest.mark.parametrize("window", ["open", "passed"])
def test_given_the_label_keeps_changing_under_the_writer_when_run_then_the_task_is_retried_later(
    handlers, cat_photos, monkeypatch, window
):
    # GIVEN every write of the label losing the race to another writer, within the time a label may take
    # to start again (CONFLICT_RETRY_SECONDS) or after it, as if its S3 calls had been that slow
    _, batch = handlers
    put("archive/c.jpg", cat_photos[0].read_bytes())
    writes = []
    monkeypatch.setattr(batch.labeler.s3, "put_object", _losing_every_race(writes))
    if window == "passed":
        monkeypatch.setattr(labeling, "CONFLICT_RETRY_SECONDS", 0)

    # THEN it is read and decided again each time, then left to a retry; after the window, at once (another
    # attempt could stall past the function's timeout, which WORST_LABEL_SECONDS bounds)
    assert run_task(batch, "archive/c.jpg")["resultCode"] == "TemporaryFailure"
    assert writes == ["*"] * (WRITE_ATTEMPTS if window == "open" else 1)


@pytest.mark.parametrize("outcome", ["Succeeded", "TemporaryFailure"])
def test_given_a_label_when_it_ends_then_the_memory_it_freed_is_handed_back(
    handlers, cat_photos, monkeypatch, outcome
):
    # GIVEN glibc's malloc_trim recorded; a task that is labelled, or whose every write loses a race
    _, batch = handlers
    trims = []
    monkeypatch.setattr(labeling, "_MALLOC_TRIM", trims.append)
    if outcome == "TemporaryFailure":
        monkeypatch.setattr(batch.labeler.s3, "put_object", _losing_every_race([]))
    put("archive/trim.jpg", cat_photos[0].read_bytes())

    # THEN the memory is handed back once, when the label ends (a warm function peaked 100 MB higher without)
    assert run_task(batch, "archive/trim.jpg")["resultCode"] == outcome
    assert trims == [0]


@pytest.mark.parametrize(
    "other",
    [{"version": "1.2.0", "sha256": "0" * 64}, {"version": "2.3.9"}],
    ids=["another network", "the same network, another release (its card's threshold)"],
)
def test_given_a_label_made_by_another_model_when_the_same_event_comes_again_then_it_is_redone(
    handlers, dog_photos, other
):
    classify, _ = handlers
    event = put_event(KEY, put(KEY, dog_photos[0].read_bytes())["ETag"])
    classify.lambda_handler(event, LambdaContext())
    old = read_json(BUCKET, LABEL_KEY)
    old["model"] |= other
    put(LABEL_KEY, json.dumps(old).encode())

    result = classify.lambda_handler(event, LambdaContext())

    assert result == {"written": 1, "skipped": 0, "ignored": 0}
    assert read_json(BUCKET, LABEL_KEY)["model"] == classify.labeler.classifier.info
    assert classify.lambda_handler(event, LambdaContext())["skipped"] == 1  # now current: not redone


def test_given_the_same_bytes_uploaded_again_as_a_new_version_when_its_event_arrives_then_the_label_names_it(
    versioned, cat_photos
):
    classify, _ = versioned
    body = cat_photos[2].read_bytes()
    first = put(KEY, body)
    classify.lambda_handler(put_event(KEY, first["ETag"], first["VersionId"]), LambdaContext())
    second = put(KEY, body)
    assert second["ETag"] == first["ETag"]

    result = classify.lambda_handler(put_event(KEY, second["ETag"], second["VersionId"]), LambdaContext())

    assert result["written"] == 1
    assert read_json(BUCKET, LABEL_KEY)["source"]["version_id"] == second["VersionId"]


@pytest.mark.parametrize(
    ("setting", "code"), [("max_image_bytes", "too_large"), ("max_pixels", "too_many_pixels")]
)
def test_given_a_photo_refused_by_a_limit_when_the_limit_is_raised_and_asked_again_then_it_is_classified(
    handlers, cat_photos, monkeypatch, setting, code
):
    # GIVEN a photo refused under a limit below its size
    classify, _ = handlers
    event = put_event(KEY, put(KEY, cat_photos[0].read_bytes())["ETag"])
    raised = classify.labeler
    monkeypatch.setattr(
        classify, "labeler", replace(raised, settings=replace(raised.settings, **{setting: 1}))
    )
    classify.lambda_handler(event, LambdaContext())
    assert read_json(BUCKET, LABEL_KEY)["error"]["code"] == code

    # WHEN the limit is raised and the same event comes again (a retry, or a backfill)
    monkeypatch.setattr(classify, "labeler", raised)
    result = classify.lambda_handler(event, LambdaContext())

    # THEN the refusal was not current: the photo is classified
    assert result["written"] == 1
    assert read_json(BUCKET, LABEL_KEY)["label"] == "cat"


def test_given_an_older_version_in_glacier_when_its_task_runs_then_the_current_versions_label_stays(
    versioned, cat_photos
):
    _, batch = versioned
    s3 = boto3.client("s3")
    key = "archive/a.jpg"
    older = s3.put_object(Bucket=BUCKET, Key=key, Body=cat_photos[0].read_bytes(), StorageClass="GLACIER")
    current = put(key, b"not a photo")["VersionId"]
    run_task(batch, key, current)

    task = run_task(batch, key, older["VersionId"])

    assert task["answer"]["error"] == "archived" and task["answer"]["superseded"] is True
    label = read_json(BUCKET, "bulk-labels/archive/a.jpg.json")
    assert (label["error"]["code"], label["source"]["version_id"]) == ("invalid_image", current)


def test_given_a_label_moved_to_glacier_when_its_photo_is_labelled_again_then_the_label_is_replaced(
    handlers, cat_photos
):
    _, batch = handlers
    put("archive/b.jpg", cat_photos[1].read_bytes())
    run_task(batch, "archive/b.jpg")
    label_key = "bulk-labels/archive/b.jpg.json"
    s3 = boto3.client("s3")
    s3.copy_object(
        Bucket=BUCKET, Key=label_key, CopySource={"Bucket": BUCKET, "Key": label_key}, StorageClass="GLACIER"
    )

    task = run_task(batch, "archive/b.jpg")

    assert (task["resultCode"], task["answer"]["label"]) == ("Succeeded", "cat")
    assert s3.head_object(Bucket=BUCKET, Key=label_key).get("StorageClass", "STANDARD") == "STANDARD"


def test_given_s3_that_accepts_and_never_answers_when_a_function_labels_then_it_raises_within_its_timeout(
    tiny_model_dir, monkeypatch
):
    import socket
    import time

    from botocore.exceptions import ReadTimeoutError

    from catdog.labeling import Labeler

    # GIVEN the functions' labeler on an S3 endpoint that accepts connections and never answers
    with socket.create_server(("127.0.0.1", 0), backlog=8) as stalled:
        aws_environment(monkeypatch, tiny_model_dir)
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{stalled.getsockname()[1]}")
        labeler = Labeler.from_env()

        # WHEN it labels an upload
        started = time.monotonic()
        with pytest.raises(ReadTimeoutError):
            labeler.label("catdog-photos", "uploads/cat.jpg")
        waited = time.monotonic() - started

    # THEN it gives up with an error a retry can cure, inside the classify function's 30 s (botocore's
    # defaults waited 60 s for each of 3 reads: the function timed out instead); 3 x 5 s plus backoff
    assert 15 <= waited < 25, waited


def test_given_s3_that_never_answers_when_a_function_reads_then_it_tries_as_often_as_its_timeouts_assume(
    tiny_model_dir, monkeypatch
):
    import socket
    import threading

    from botocore.exceptions import ReadTimeoutError

    from catdog.labeling import S3_ATTEMPTS, Labeler

    # GIVEN the functions' labeler on an S3 endpoint that accepts each connection and never answers
    with socket.create_server(("127.0.0.1", 0), backlog=8) as stalled:
        accepted = []

        def accept() -> None:
            with contextlib.suppress(OSError):  # the listening socket closed at the end of the test
                while True:
                    accepted.append(stalled.accept()[0])

        threading.Thread(target=accept, daemon=True).start()
        aws_environment(monkeypatch, tiny_model_dir)
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{stalled.getsockname()[1]}")
        labeler = Labeler.from_env()

        # WHEN it reads an upload's label
        with pytest.raises(ReadTimeoutError):
            labeler.label("catdog-photos", "uploads/cat.jpg")
        for connection in accepted:
            connection.close()

    # THEN it tried S3_ATTEMPTS times, as the functions' timeouts (WORST_LABEL_SECONDS) assume: botocore's
    # client option "max_attempts" counts retries, so 3 of them made 4 attempts, 28 s a call, not 21
    assert len(accepted) == S3_ATTEMPTS


def refuse_with_sse_c(
    s3, monkeypatch, key: str = KEY, version_id: str | None = None, *, current: bool = False
) -> None:
    """``s3`` answers for ``key`` (only its version ``version_id``, if given; and requests that name no
    version, if that version is the ``current`` one) as S3 does for an object written with a customer key
    (SSE-C): GetObject 400 ``InvalidRequest``, and HeadObject a bare 400, as a HEAD has no body; moto does
    not enforce SSE-C."""

    def refused(kwargs) -> bool:
        named = kwargs.get("VersionId")
        return kwargs["Key"] == key and (version_id in (None, named) or (current and named is None))

    def needs_the_key(call, operation: str, error: dict):
        def answer(**kwargs):
            if not refused(kwargs):
                return call(**kwargs)
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)

        return answer

    message = (
        "The object was stored using a form of Server Side Encryption. The correct parameters must be "
        "provided to retrieve the object."
    )
    get_refusal = {"Code": "InvalidRequest", "Message": message}
    monkeypatch.setattr(s3, "get_object", needs_the_key(s3.get_object, "GetObject", get_refusal))
    head_refusal = {"Code": "400", "Message": "Bad Request"}
    monkeypatch.setattr(s3, "head_object", needs_the_key(s3.head_object, "HeadObject", head_refusal))


def test_given_a_labelled_photo_moved_to_glacier_when_labelled_again_then_its_result_is_kept(
    handlers, cat_photos
):
    # GIVEN a photo labelled cat, which a lifecycle rule then moved to Glacier (the same object, unreadable)
    classify, batch = handlers
    s3 = boto3.client("s3")
    classify.lambda_handler(put_event(KEY, put(KEY, cat_photos[0].read_bytes())["ETag"]), LambdaContext())
    label = read_json(BUCKET, LABEL_KEY)
    label_etag = s3.head_object(Bucket=BUCKET, Key=LABEL_KEY)["ETag"]
    assert label["label"] == "cat"
    s3.copy_object(Bucket=BUCKET, Key=KEY, CopySource={"Bucket": BUCKET, "Key": KEY}, StorageClass="GLACIER")
    with pytest.raises(ClientError, match="InvalidObjectState"):
        s3.get_object(Bucket=BUCKET, Key=KEY)

    # WHEN an event naming an ETag its label was not made from (so the object must be read), and a job's
    # task (no ETag: always read), ask for it again
    event = classify.lambda_handler(put_event(KEY, "an-etag-never-read"), LambdaContext())
    task = run_task(batch, KEY)

    # THEN the answer made before from this very object beats the "archived" error: nothing is written,
    # and the job is told the kept label, done
    assert event == {"written": 0, "skipped": 1, "ignored": 0}
    assert (task["resultCode"], task["answer"]["label"]) == ("Succeeded", "cat")
    assert "stale" not in task["answer"] and task["answer"]["written"] is False  # this model's: current
    assert read_json(BUCKET, LABEL_KEY) == label
    assert s3.head_object(Bucket=BUCKET, Key=LABEL_KEY)["ETag"] == label_etag


@pytest.mark.parametrize(
    ("version", "said"),
    [("2.3.0", "2.3.0"), (None, None), ("9" * 1100, "9" * 64)],
    ids=["an older release", "a model without a version", "a version longer than the report takes"],
)
def test_given_an_archived_photo_labelled_by_an_older_model_when_a_backfill_runs_then_it_is_reported_stale(
    handlers, cat_photos, capsys, caplog, version, said
):
    # GIVEN a photo labelled by an older release (or a label whose model anyone who may write labels
    # edited), which a lifecycle rule then moved to Glacier
    classify, batch = handlers
    s3 = boto3.client("s3")
    classify.lambda_handler(put_event(KEY, put(KEY, cat_photos[0].read_bytes())["ETag"]), LambdaContext())
    older = read_json(BUCKET, LABEL_KEY)
    older["model"]["version"] = version
    if version is None:
        del older["model"]["version"]
    put(LABEL_KEY, json.dumps(older).encode())
    s3.copy_object(Bucket=BUCKET, Key=KEY, CopySource={"Bucket": BUCKET, "Key": KEY}, StorageClass="GLACIER")
    capsys.readouterr()
    caplog.clear()

    # WHEN the backfill after the new release runs a task for it
    task = run_task(batch, KEY)

    # THEN the old answer is kept (the photo cannot be read until restored), and the report (whole JSON in
    # 1,024 bytes), the log and a metric of its own say it is another model's, not "already labelled by
    # this model"
    assert task["resultCode"] == "Succeeded" and len(task["resultString"].encode()) <= 1024
    assert {k: task["answer"][k] for k in ("label", "written", "model", "stale")} == {
        "label": "cat",
        "written": False,
        "model": said,
        "stale": True,
    }
    assert read_json(BUCKET, LABEL_KEY) == older
    (warned,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warned.message.startswith("kept: the object is archived and its label is another model's")
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [m for m in metrics if "StaleLabelsKept" in m] and not [
        m for m in metrics if "DuplicatesSkipped" in m
    ]


def _replace_with_one_s3_refuses(key: str, photo: bytes, refusal: str, handlers, monkeypatch) -> dict:
    """Write ``photo`` over ``key`` as an object S3 refuses to read: straight into Glacier (``aws s3 cp
    --storage-class GLACIER``), or encrypted with its writer's key (SSE-C)."""
    if refusal == "archived":
        return boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=photo, StorageClass="GLACIER")
    written = put(key, photo)
    for handler in handlers:
        refuse_with_sse_c(handler.labeler.s3, monkeypatch, key)
    return written


@pytest.mark.parametrize("refusal", ["archived", "encrypted"])
def test_given_a_labelled_photo_replaced_by_one_s3_refuses_to_read_when_labelled_then_its_label_says_so(
    handlers, cat_photos, dog_photos, monkeypatch, refusal
):
    # GIVEN a photo labelled cat by an event and by a job's task
    classify, batch = handlers
    classify.lambda_handler(put_event(KEY, put(KEY, cat_photos[0].read_bytes())["ETag"]), LambdaContext())
    put("archive/pet.jpg", cat_photos[0].read_bytes())
    run_task(batch, "archive/pet.jpg")

    # ... then replaced by a dog photo S3 will not hand over: archived on upload, or SSE-C
    new = _replace_with_one_s3_refuses(KEY, dog_photos[0].read_bytes(), refusal, handlers, monkeypatch)
    _replace_with_one_s3_refuses(
        "archive/pet.jpg", dog_photos[0].read_bytes(), refusal, handlers, monkeypatch
    )

    # WHEN the new object's event and a task for it come
    event = classify.lambda_handler(put_event(KEY, new["ETag"]), LambdaContext())
    task = run_task(batch, "archive/pet.jpg")

    # THEN both labels say the new object cannot be read: the cat label was kept as the dog photo's
    # answer ("already labelled"), and the job's report said "cat" for it
    assert event == {"written": 1, "skipped": 0, "ignored": 0}
    assert read_json(BUCKET, LABEL_KEY)["error"]["code"] == refusal
    assert task["answer"]["error"] == refusal
    assert read_json(BUCKET, "bulk-labels/archive/pet.jpg.json")["error"]["code"] == refusal


@pytest.mark.parametrize("refusal", ["archived", "encrypted"])
def test_given_a_task_naming_the_current_version_s3_refuses_to_read_when_run_then_its_label_says_so(
    versioned, cat_photos, dog_photos, monkeypatch, refusal
):
    # GIVEN a version labelled cat, then a current version S3 will not hand over
    _, batch = versioned
    key = "archive/pet.jpg"
    run_task(batch, key, put(key, cat_photos[0].read_bytes())["VersionId"])
    current = _replace_with_one_s3_refuses(key, dog_photos[0].read_bytes(), refusal, [batch], monkeypatch)

    # WHEN a task names the current version
    task = run_task(batch, key, current["VersionId"])

    # THEN it is answered for that version, not with the older version's "cat"
    assert task["answer"]["error"] == refusal and "superseded" not in task["answer"]
    assert read_json(BUCKET, "bulk-labels/archive/pet.jpg.json")["error"]["code"] == refusal


def test_given_a_task_naming_an_older_version_encrypted_with_a_customer_key_then_the_current_label_stays(
    versioned, cat_photos, monkeypatch
):
    # GIVEN an older version written with a customer key (SSE-C), and the current version labelled
    _, batch = versioned
    key = "archive/a.jpg"
    older = put(key, cat_photos[0].read_bytes())["VersionId"]
    current = put(key, b"not a photo")["VersionId"]
    run_task(batch, key, current)
    refuse_with_sse_c(batch.labeler.s3, monkeypatch, key, older)

    # WHEN a task names the older version (an inventory of every version)
    task = run_task(batch, key, older)

    # THEN it is answered, superseded, and the current version's label stays (it was written over with an
    # "encrypted" label naming no version)
    assert task["answer"]["error"] == "encrypted" and task["answer"]["superseded"] is True
    label = read_json(BUCKET, "bulk-labels/archive/a.jpg.json")
    assert (label["error"]["code"], label["source"]["version_id"]) == ("invalid_image", current)


@pytest.mark.parametrize("handler", ["classify", "batch"])
def test_given_a_label_encrypted_with_a_customer_key_when_its_photo_is_labelled_then_it_is_replaced(
    handlers, cat_photos, monkeypatch, handler
):
    # GIVEN an object at the photo's label key that S3 will not hand over (written with SSE-C)
    classify, batch = handlers
    etag = put(KEY, cat_photos[0].read_bytes())["ETag"]
    put(LABEL_KEY, b"{}")
    for each in handlers:
        refuse_with_sse_c(each.labeler.s3, monkeypatch, LABEL_KEY)

    # WHEN the photo is labelled
    if handler == "classify":
        outcome = classify.lambda_handler(put_event(KEY, etag), LambdaContext())
    else:
        outcome = run_task(batch, KEY)["resultCode"]

    # THEN the unreadable document is replaced like any damaged label (every event raised: Lambda's
    # retries, then the failure queue; a task failed)
    assert outcome in ({"written": 1, "skipped": 0, "ignored": 0}, "Succeeded")
    assert read_json(BUCKET, LABEL_KEY)["label"] == "cat"


class ReadCountingBody:
    """A GetObject body that records each read: whether the photo was downloaded."""

    def __init__(self, body, reads: list):
        self.body, self.reads = body, reads

    def read(self, *args):
        self.reads.append(args)
        return self.body.read(*args)

    def close(self):
        self.body.close()


def test_given_a_task_done_on_an_unversioned_bucket_when_it_runs_again_then_nothing_is_downloaded_or_written(
    handlers, cat_photos, monkeypatch
):
    # GIVEN a job's task done once on a bucket without versioning (no version id, and a task has no ETag)
    _, batch = handlers
    s3 = boto3.client("s3")
    put(KEY, cat_photos[0].read_bytes())
    first = run_task(batch, KEY)
    label_etag = s3.head_object(Bucket=BUCKET, Key=LABEL_KEY)["ETag"]
    get_object, reads = batch.labeler.s3.get_object, []

    def counting_reads(**kwargs):
        response = get_object(**kwargs)
        if kwargs["Key"] == KEY:
            response["Body"] = ReadCountingBody(response["Body"], reads)
        return response

    monkeypatch.setattr(batch.labeler.s3, "get_object", counting_reads)

    # WHEN the same task runs again (a retried invocation, a second job over the same manifest)
    second = run_task(batch, KEY)

    # THEN the label, compared with the object's ETag, is current: the photo's bytes are not read and the
    # label is not rewritten, as the report says
    assert first["resultCode"] == second["resultCode"] == "Succeeded"
    assert (first["answer"]["written"], second["answer"]["written"]) == (True, False)
    assert {**second["answer"], "written": True} == first["answer"]
    assert reads == []
    assert s3.head_object(Bucket=BUCKET, Key=LABEL_KEY)["ETag"] == label_etag


@pytest.mark.parametrize("label", ["stale", "archived"])
def test_given_a_task_naming_a_version_when_it_labels_then_its_s3_calls_and_reads_fit_the_worst_label(
    versioned, cat_photos, monkeypatch, label
):
    from catdog.labeling import (
        S3_ATTEMPTS,
        S3_CONNECT_SECONDS,
        S3_READ_SECONDS,
        SLOWEST_PHOTO_SECONDS,
        WORST_LABEL_SECONDS,
    )

    # GIVEN a job's task naming the current version of a photo whose label must be replaced: one made by
    # another model, or one a lifecycle rule moved to an archive (read, then asked for its ETag)
    _, batch = versioned
    s3 = boto3.client("s3")
    version = put("archive/d.jpg", cat_photos[0].read_bytes())["VersionId"]
    label_key = "bulk-labels/archive/d.jpg.json"
    run_task(batch, "archive/d.jpg", version)
    if label == "stale":
        stale = {**read_json(BUCKET, label_key), "model": {"name": "another"}}
        s3.put_object(Bucket=BUCKET, Key=label_key, Body=json.dumps(stale).encode())
    else:
        source = {"Bucket": BUCKET, "Key": label_key}
        s3.copy_object(Bucket=BUCKET, Key=label_key, CopySource=source, StorageClass="GLACIER")
    calls, reads = [], []
    batch.labeler.s3.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    get_object = batch.labeler.s3.get_object

    def counting_reads(**kwargs):
        response = get_object(**kwargs)
        response["Body"] = ReadCountingBody(response["Body"], reads)
        return response

    monkeypatch.setattr(batch.labeler.s3, "get_object", counting_reads)

    # WHEN the task runs
    task = run_task(batch, "archive/d.jpg", version)

    # THEN it wrote the label, and its S3 calls and body reads, each stalling until the functions' client
    # gives up (a body read is not retried), and the slowest photo fit in WORST_LABEL_SECONDS, which the
    # functions' timeouts outlast (test_template.py): a stalled read of the label and of the photo were
    # left out, and 4 calls and 2 reads (100 s) overran the 90 s counted
    assert (task["resultCode"], task["answer"]["label"]) == ("Succeeded", "cat")
    assert calls.count("PutObject") == 1
    stalled = len(calls) * S3_ATTEMPTS * (S3_CONNECT_SECONDS + S3_READ_SECONDS) + len(reads) * S3_READ_SECONDS
    assert stalled + SLOWEST_PHOTO_SECONDS <= WORST_LABEL_SECONDS, (calls, len(reads))


def test_given_an_older_version_in_glacier_and_a_current_one_with_a_customer_key_when_run_then_superseded(
    versioned, cat_photos, monkeypatch
):
    # GIVEN an older version in Glacier, and a current version written with SSE-C (labelled "encrypted")
    _, batch = versioned
    key = "archive/a.jpg"
    s3 = boto3.client("s3")
    older = s3.put_object(Bucket=BUCKET, Key=key, Body=cat_photos[0].read_bytes(), StorageClass="GLACIER")
    current = put(key, cat_photos[1].read_bytes())["VersionId"]
    refuse_with_sse_c(batch.labeler.s3, monkeypatch, key, current, current=True)
    run_task(batch, key, current)
    assert read_json(BUCKET, "bulk-labels/archive/a.jpg.json")["error"]["code"] == "encrypted"

    # WHEN a task names the older version
    task = run_task(batch, key, older["VersionId"])

    # THEN it is superseded: the current version's HEAD is refused (SSE-C), but the older version was
    # refused as archived, so it is not the current one ("archived" was written over the current label)
    assert task["answer"]["error"] == "archived" and task["answer"]["superseded"] is True
    assert read_json(BUCKET, "bulk-labels/archive/a.jpg.json")["error"]["code"] == "encrypted"
