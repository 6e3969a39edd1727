"""S3-triggered classification: each photo written under ``uploads/`` gets ``labels/<key>.json``.

Everything expensive (the S3 client, the LiteRT interpreter) is created here at import, once per
cold start, and reused by every invocation. The work itself is ``catdog.labeling.Labeler.label``,
shared with the batch and queue functions; this handler only unpacks the event.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from catdog.events import s3_objects
from catdog.labeling import Labeler
from catdog.telemetry import report

logger = Logger()
tracer = Tracer()
metrics = Metrics()

labeler = Labeler.from_env()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """Label every new upload in an S3 notification or EventBridge event.

    A bad photo is a fact, recorded in its label JSON. Only AWS errors raise: throttling and 5xx are
    cured by Lambda's retries, anything else (access denied) ends in the failure queue for a redrive.
    """
    counts = {"written": 0, "skipped": 0, "ignored": 0}
    objects = s3_objects(event)
    if not objects:
        logger.warning("no S3 object in the event", extra={"event_keys": sorted(event)})
    for obj in objects:
        if not obj.created or not labeler.settings.is_upload(obj.key):
            logger.info("ignored: not a new upload", extra={"key": obj.key, "event_name": obj.event_name})
            counts["ignored"] += 1
            continue
        try:
            record = labeler.label(obj.bucket, obj.key, etag=obj.etag, version_id=obj.version_id)
        except Exception as exc:
            where = {"bucket": obj.bucket, "key": obj.key, "reason": f"{type(exc).__name__}: {exc}"}
            if isinstance(exc, ClientError | BotoCoreError):  # its reason says it all
                logger.error("S3 failed; Lambda retries the event", extra=where)
            else:  # a bug: its traceback
                logger.exception("labelling failed; Lambda retries the event", extra=where)
            raise
        report(record, logger=logger, metrics=metrics)
        counts["skipped" if record.get("skipped") or record.get("superseded") else "written"] += 1
    return counts
