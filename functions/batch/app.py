"""S3 Batch Operations: label every object of a manifest (CSV or S3 Inventory) with the released model.

Batch Operations invokes once per object and reads the answer's ``resultCode``: ``Succeeded`` ends the
task, ``TemporaryFailure`` makes Batch Operations retry it, ``PermanentFailure`` lists it in the job's
failure report. A photo that cannot be decoded is a *fact* about the object, so it is ``Succeeded`` with
its error JSON written. A missing object is ``PermanentFailure``: its error JSON is written, unless a
label made before holds an answer, which is kept. ``TemporaryFailure`` is for what a retry can cure
(``catdog.storage.is_transient``): throttling, timeouts, 5xx, network errors, and a conditional write
that lost a race with another writer (412, 409) too often within the task.
"""

from __future__ import annotations

import json

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.data_classes import S3BatchOperationEvent, event_source
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    S3BatchOperationResponse,
    S3BatchOperationResponseRecord,
    S3BatchOperationTask,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from catdog.labeling import Labeler
from catdog.storage import failure_reason, is_transient
from catdog.telemetry import report, task_failed

logger = Logger()
tracer = Tracer()
metrics = Metrics()

labeler = Labeler.from_env()

#: The longest ``resultString`` answered, in UTF-8 bytes.
RESULT_STRING_BYTES = 1024
#: The longest string field of a ``resultString`` (a label, an error code, a model version), in
#: characters: the fields of the longest answer fit in ``RESULT_STRING_BYTES`` without its label key.
FIELD_CHARS = 64


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@event_source(data_class=S3BatchOperationEvent)
def lambda_handler(event: S3BatchOperationEvent, context: LambdaContext) -> dict:
    """Answer schema 1.0 and 2.0 alike: powertools reads the bucket from ``s3BucketArn`` or
    ``s3Bucket`` and URL-decodes ``s3Key`` (manifest keys are URL-encoded in both versions)."""
    count = len(event["tasks"])
    if count != 1:  # Batch Operations sends one; its answer holds one result, so others would be lost
        raise ValueError(f"an S3 Batch Operations invocation names one task, this one names {count}")
    response = S3BatchOperationResponse(
        event.invocation_schema_version, event.invocation_id, treat_missing_keys_as="PermanentFailure"
    )
    response.add_result(label_task(event.task))
    return response.asdict()


def label_task(task: S3BatchOperationTask) -> S3BatchOperationResponseRecord:
    bucket, key = task.s3_bucket, task.s3_key
    logger.append_keys(bucket=bucket, key=key, task_id=task.task_id, version_id=task.s3_version_id)
    if not key:  # a manifest line without a key: no retry can give it one
        logger.warning("refused: the task names no key")
        task_failed("NoKey", metrics)
        return task.build_task_batch_response("PermanentFailure", "refused: the task names no key")
    # An inventory of the whole bucket lists the labels and folder markers too: done, not failed, or
    # they would count towards the share of failed tasks at which Batch Operations stops a job.
    skipped = labeler.settings.never_labelled(key, bucket)
    if skipped:
        logger.info(f"ignored: {skipped}")
        return task.build_task_batch_response("Succeeded", f"skipped: {skipped}")
    try:
        version_id = task.s3_version_id
        record = labeler.label_version(bucket, key, version_id) if version_id else labeler.label(bucket, key)
    except (ClientError, BotoCoreError) as exc:
        transient = is_transient(exc)
        logger.warning("S3 call failed", extra={"transient": transient, "reason": str(exc)})
        task_failed(failure_reason(exc), metrics)
        return task.build_task_batch_response(
            "TemporaryFailure" if transient else "PermanentFailure", _clip(f"{type(exc).__name__}: {exc}")
        )
    report(record, logger=logger, metrics=metrics)
    label_key = labeler.settings.label_key(key)
    # what the report tells of each object: whether its label was (re)written and by which model, or why
    # not (a version that is no longer the key's current one; an archived object's older model's label)
    written = not (record.get("skipped") or record.get("superseded"))
    state = {"written": written, "model": (record.get("model") or {}).get("version")}
    state |= {flag: True for flag in ("superseded", "stale") if record.get(flag)}
    if record.get("gone"):  # deleted since its label was made: the label stays, the task failed as any
        return task.build_task_batch_response(  # missing object's does
            "PermanentFailure", _summary(label_key, error="not_found", kept="the label made before")
        )
    if "error" in record:
        code = "PermanentFailure" if record["error"]["code"] == "not_found" else "Succeeded"
        return task.build_task_batch_response(
            code, _summary(label_key, error=record["error"]["code"], **state)
        )
    return task.build_task_batch_response(
        "Succeeded", _summary(label_key, label=record["label"], confidence=record["confidence"], **state)
    )


def _summary(label_key: str, **fields) -> str:
    """The job report's ``resultString``: what happened and where the full record is, always whole JSON.
    A label key is up to 1,024 bytes itself: when it does not fit, it is left out (clipped, the answer was
    not JSON); the report's row names the object, whose label is at ``Settings.label_key`` of it. A kept
    label is a document anyone who may write labels wrote: its strings are cut to ``FIELD_CHARS``."""
    fields = {name: _cut(value) for name, value in fields.items()}
    whole = json.dumps({**fields, "labels_key": label_key}, ensure_ascii=False)
    return whole if len(whole.encode()) <= RESULT_STRING_BYTES else json.dumps(fields, ensure_ascii=False)


def _cut(value: object) -> object:
    return value[:FIELD_CHARS] if isinstance(value, str) else value


def _clip(text: str, limit: int = RESULT_STRING_BYTES) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[: limit - 3].decode(errors="ignore") + "..."
