"""One log line and the CloudWatch metrics for each label record, the same from every handler.

Dashboards and alarms are built on these names (``ImagesClassified`` by ``label``, ``ImageErrors`` by
``code``, ``InferenceMs``, ``DuplicatesSkipped``, ``StaleLabelsKept``, ``SupersededSkipped``, the queue's
``MessagesFailed`` and the batch function's ``TasksFailed`` by ``reason``), so the S3, Batch Operations
and SQS functions all report through this module rather than each choosing its own. An object deleted
after it was labelled is an ``ImageErrors`` ``not_found``, as one never labelled is, and so is a task's
version that is gone.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric


def report(record: dict, *, logger: Logger, metrics: Metrics) -> None:
    """Log ``record`` (a ``Labeler.label`` result) with its key and outcome, and count it."""
    where = {"bucket": record.get("bucket"), "key": record.get("key")}
    if record.get("gone"):  # missing, as a photo never labelled is: counted and logged as that one
        logger.warning("gone: the object no longer exists, its label made before is kept", extra=where)
        _count("ImageErrors", "code", "not_found", metrics)
    elif record.get("stale"):  # not current, and no relabel can be done: a backfill must not call it done
        logger.warning(
            "kept: the object is archived and its label is another model's: restore it to label it again",
            extra={**where, "model": record["model"].get("version")},
        )
        metrics.add_metric(name="StaleLabelsKept", unit=MetricUnit.Count, value=1)
    elif record.get("skipped"):
        logger.info("already labelled: this object version, this model", extra=where)
        metrics.add_metric(name="DuplicatesSkipped", unit=MetricUnit.Count, value=1)
    elif record.get("superseded") and "error" not in record:
        version = (record.get("source") or {}).get("version_id")
        logger.info("not written: a newer version is current", extra={**where, "version_id": version})
        metrics.add_metric(name="SupersededSkipped", unit=MetricUnit.Count, value=1)
    elif "error" in record:  # a version a task named that is gone or archived too, whatever is current
        code = record["error"]["code"]
        logger.warning("not classifiable", extra={**where, "error": record["error"]})
        _count("ImageErrors", "code", code, metrics)
    else:
        logger.info(
            "classified",
            extra={**where, "label": record["label"], "confidence": record["confidence"]},
        )
        _count("ImagesClassified", "label", record["label"], metrics)
        metrics.add_metric(
            name="InferenceMs", unit=MetricUnit.Milliseconds, value=record["timing_ms"]["inference"]
        )


def message_failed(reason: str, metrics: Metrics) -> None:
    """Count a work-queue message that failed and goes back to the queue, by ``reason`` (an S3 error code,
    or the exception's class): retries show as a rate long before a message reaches the dead letters."""
    _count("MessagesFailed", "reason", reason, metrics)


def task_failed(reason: str, metrics: Metrics) -> None:
    """Count a Batch Operations task answered ``TemporaryFailure`` or ``PermanentFailure`` for an S3 error,
    by ``reason`` (its code): the function does not raise for it, so Lambda's ``Errors`` never sees it."""
    _count("TasksFailed", "reason", reason, metrics)


def _count(name: str, dimension: str, value: str, metrics: Metrics) -> None:
    """A count split by one dimension: emitted on its own, so other records' values do not mix in."""
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=1,
        namespace=metrics.namespace,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        metric.add_dimension(name=dimension, value=value)
