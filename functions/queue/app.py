"""SQS fan-out: label the S3 objects named by queue messages, reporting failures message by message.

A message is an S3 event notification delivered to SQS (one or more records; S3's ``s3:TestEvent``
is dropped), an EventBridge "Object Created" event (the stack's ``QueueEventPrefix`` rule), or
``{"bucket", "key"[, "etag"]}`` from ``catdog enqueue``. With
``ReportBatchItemFailures`` only the messages that raised go back to the queue: a transient S3 error
is retried alone, and a malformed message reaches the dead-letter queue after ``maxReceiveCount``
receives without ever re-running its neighbours.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from catdog.events import s3_objects
from catdog.labeling import TIMEOUT_MARGIN_SECONDS, WORST_LABEL_SECONDS, Labeler
from catdog.storage import failure_reason, parse_json
from catdog.telemetry import message_failed, report

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# A batch whose every message failed is answered like any other (all listed as failures), not raised:
# the queue sees the same outcome, and the function's Errors metric stays meaningful (bugs only).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

labeler = Labeler.from_env()


#: A message is begun only with this much of the invocation left: its S3 calls and reads stalling and the
#: largest photo's classification (WORST_LABEL_SECONDS), with the margin the other labelling functions'
#: timeouts have. One not begun fails alone and comes back; the invocation timing out instead would report
#: nothing, and all ten messages would come back and count a receive towards the dead-letter queue.
START_MARGIN_MS = (WORST_LABEL_SECONDS + TIMEOUT_MARGIN_SECONDS) * 1000


class PoisonMessage(ValueError):
    """A message that names no S3 object: it fails, and after enough receives lands in the DLQ."""


class NotStarted(RuntimeError):
    """Too little of the invocation was left to begin a message: it is retried as it is."""


def targets(body: str) -> list[tuple[str, str, str | None, str | None]]:
    """``(bucket, key, etag, version_id)`` for each object a message names; ``[]`` for S3's test event."""
    try:
        message = parse_json(body)
    except ValueError as exc:
        raise PoisonMessage(f"not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise PoisonMessage("not a JSON object")
    if message.get("Event") == "s3:TestEvent":
        return []
    if "Records" in message or message.get("source") == "aws.s3":  # an S3 notification, an EventBridge event
        return [(o.bucket, o.key, o.etag, o.version_id) for o in s3_objects(message) if o.created]
    bucket, key, etag = message.get("bucket"), message.get("key"), message.get("etag")
    if not (isinstance(bucket, str) and bucket and isinstance(key, str) and key):
        raise PoisonMessage('expected an S3 or EventBridge event, or {"bucket": ..., "key": ...}')
    if not isinstance(etag, str | None):
        raise PoisonMessage("etag must be a string")
    return [(bucket, key, etag, None)]


@tracer.capture_method
def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    """Raises (so the message is retried, and after QueueMaxReceiveCount receives kept in WorkDeadLetters)
    when an S3 call fails or the message is malformed, and logs why first: the batch processor keeps a
    message's exception to itself, so without this line a message back in the queue, and at last in
    WorkDeadLetters, left no reason in the function's log."""
    receives = (record.get("attributes") or {}).get("ApproximateReceiveCount")  # never a KeyError here
    message = {"message_id": record.get("messageId"), "receive_count": receives}
    where: dict = {}
    try:
        left = lambda_context.get_remaining_time_in_millis()
        if left < START_MARGIN_MS:
            raise NotStarted(f"{left} ms of the invocation left, not begun")
        found = targets(record.body)
        if not found:
            logger.info("dropped: no object to label", extra=message)
        for bucket, key, etag, version_id in found:
            where = {"bucket": bucket, "key": key}
            skipped = labeler.settings.never_labelled(key, bucket)
            if skipped:
                logger.info(f"ignored: {skipped}", extra=where)
                continue
            labelled = labeler.label(bucket, key, etag=etag, version_id=version_id)
            report(labelled, logger=logger, metrics=metrics)
    except Exception as exc:
        expected = isinstance(exc, PoisonMessage | NotStarted | ClientError | BotoCoreError)
        message_failed(failure_reason(exc), metrics)  # SlowDown, AccessDenied, PoisonMessage, ...
        logger.warning(
            "message failed: it goes back to the queue (WorkDeadLetters after QueueMaxReceiveCount receives)",
            extra={**message, **where, "reason": f"{type(exc).__name__}: {exc}"},
            exc_info=not expected,  # a bug's traceback; an S3 error or a bad message is its reason
        )
        raise


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
