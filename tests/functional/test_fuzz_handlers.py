"""A seeded, bounded fuzz of every labelling handler: damaged copies of real sample files in every
accepted format, each uploaded and sent through the handler in its sample event (events/s3-put.json,
events/batch-job.json, events/sqs-batch.json). Each object must end with a label JSON holding a
prediction or an error with a known code; the handler never raises and reports no failure."""

from __future__ import annotations

import copy
import json
from urllib.parse import quote_plus

import boto3
import pytest
from conftest import load_event
from lambda_harness import LambdaContext, handler_on_bucket, read_json
from mutations import FUZZ_MAX_PIXELS, IMAGE_ERROR_CODES, Mutant, known_crashers, mutants, seed_files
from sample_events import sample_event

from catdog.settings import Settings

BUCKET = "catdog-photos"  # the bucket of events/batch-job.json and events/sqs-batch.json
MUTANTS_PER_HANDLER = 50
SEEDS = {"classify": 1301, "batch": 1302, "queue": 1303}

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow on each damaged tag it skips


def classify_one(app, key: str, etag: str) -> None:
    assert app.lambda_handler(sample_event("s3-put.json", BUCKET, key=key, etag=etag), LambdaContext()) == {
        "written": 1,
        "skipped": 0,
        "ignored": 0,
    }


def batch_one(app, key: str, etag: str) -> None:
    event = load_event("batch-job.json")
    event["tasks"][0]["s3Key"] = quote_plus(key)
    (result,) = app.lambda_handler(event, LambdaContext())["results"]
    assert result["resultCode"] == "Succeeded", result


def queue_one(app, key: str, etag: str) -> None:
    event = load_event("sqs-batch.json")
    record = copy.deepcopy(event["Records"][0])
    record["body"] = json.dumps({"bucket": BUCKET, "key": key, "etag": etag})
    event["Records"] = [record]
    assert app.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}


INVOKE = {"classify": classify_one, "batch": batch_one, "queue": queue_one}


@pytest.mark.parametrize("function", list(INVOKE))
def test_given_damaged_files_in_every_format_when_each_handler_labels_them_then_each_gets_a_label(
    function, monkeypatch, serving_model, cat_photos, dog_photos
):
    monkeypatch.setenv("MAX_PIXELS", str(FUZZ_MAX_PIXELS))
    seeds = seed_files([cat_photos[0], dog_photos[0], cat_photos[1]])
    wrong, outcomes = [], {"label": 0, **dict.fromkeys(IMAGE_ERROR_CODES, 0)}
    with handler_on_bucket(function, monkeypatch, serving_model, BUCKET) as app:
        s3 = boto3.client("s3")
        damaged = [*known_crashers(seeds), *mutants(seeds, MUTANTS_PER_HANDLER, SEEDS[function])]
        for i, mutant in enumerate(damaged):
            key = f"uploads/fuzz/{i}-{mutant.seed}"
            etag = s3.put_object(Bucket=BUCKET, Key=key, Body=mutant.data)["ETag"].strip('"')
            try:
                INVOKE[function](app, key, etag)
            except Exception as exc:  # the point: whatever escapes is collected and shown
                wrong.append(_describe(mutant, f"{type(exc).__name__}: {exc}"))
                continue
            label = read_json(BUCKET, Settings().label_key(key))
            if "label" in label:
                outcomes["label"] += 1
            elif label.get("error", {}).get("code") in IMAGE_ERROR_CODES:
                outcomes[label["error"]["code"]] += 1
            else:
                wrong.append(_describe(mutant, f"label {label}"))

    assert wrong == [], f"{len(wrong)} of {len(damaged)} went wrong; first: {wrong[:3]}"
    assert outcomes["label"] > 0 and outcomes["invalid_image"] > 0


def _describe(mutant: Mutant, what: str) -> str:
    return f"{mutant.seed} {mutant.how}: {what}"[:500]
