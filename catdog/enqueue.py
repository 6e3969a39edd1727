"""Feed an SQS queue with ``{"bucket", "key"}`` messages, ten to a request (the SQS maximum).

``send_message_batch`` can succeed for some entries and fail others in the same call; entries that a
retry can cure (SQS says it was not the sender's fault) are resent with backoff, the rest are returned
to the caller so no object is silently skipped.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from catdog.inputs import S3Ref, UsageError

BATCH_SIZE = 10  # SQS SendMessageBatch takes at most 10 entries
RETRIES = 5
#: An AWS queue URL names its region: ``https://sqs.eu-west-1.amazonaws.com/123456789012/name``.
QUEUE_URL_REGION = re.compile(r"https://sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")
#: What SQS answers for a queue URL that names no queue: the JSON protocol's name, and the query one's.
NO_QUEUE_CODES = ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")


@dataclass
class EnqueueReport:
    sent: int = 0
    #: messages SQS rejected, each with its reason
    failed: list[tuple[S3Ref, str]] = field(default_factory=list)
    #: prefixes that gave no message (S3 refused to list them, or no image is under them), with why
    prefixes_failed: list[tuple[S3Ref, str]] = field(default_factory=list)


def queue_region(queue_url: str) -> str | None:
    """The region in an AWS queue URL, so that ``catdog enqueue`` needs no region configured (S3 needs
    none); None for a URL that names none (an S3-compatible or local endpoint)."""
    match = QUEUE_URL_REGION.match(queue_url)
    return match[1] if match else None


def queue_endpoint(queue_url: str) -> str | None:
    """Where to send: None for an AWS queue URL (the SDK's endpoint, or what ``AWS_ENDPOINT_URL`` names),
    the URL's own scheme and host for any other (a local or S3-compatible SQS). botocore sends every
    request to its client's endpoint, whatever host the ``QueueUrl`` parameter names."""
    parts = urlsplit(queue_url)
    if (parts.hostname or "").endswith((".amazonaws.com", ".amazonaws.com.cn")):
        return None
    return f"{parts.scheme}://{parts.netloc}"


def check_queue_url(queue_url: str) -> None:
    """A queue URL is ``http(s)://host/.../name``; anything else is a usage error before any request, so
    that ``notaurl`` is not blamed on a missing region."""
    parts = urlsplit(queue_url)
    if parts.scheme not in ("https", "http") or not parts.netloc or not parts.path.strip("/"):
        raise UsageError(
            f"{queue_url!r} is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, "
            "the stack's WorkQueueUrl output)"
        )


def no_queue_code(exc: Exception) -> str | None:
    """The code of an SQS error saying the queue URL names no queue (a typo, a deleted stack), else None."""
    if not isinstance(exc, ClientError):
        return None
    code = exc.response.get("Error", {}).get("Code", "")
    return next((name for name in (type(exc).__name__, code) if name in NO_QUEUE_CODES), None)


def message_body(ref: S3Ref) -> str:
    """JSON in ASCII: S3 keys may hold U+FFFE and U+FFFF, characters SQS refuses in a message body."""
    message = {"bucket": ref.bucket, "key": ref.key}
    if ref.etag:
        message["etag"] = ref.etag
    return json.dumps(message)


def batches(refs: Iterable[S3Ref], size: int = BATCH_SIZE) -> Iterator[list[S3Ref]]:
    iterator = iter(refs)
    while batch := list(islice(iterator, size)):
        yield batch


def send_batch(
    sqs,
    queue_url: str,
    batch: list[S3Ref],
    *,
    retries: int = RETRIES,
    backoff: float = 0.2,
    report: EnqueueReport | None = None,
):
    """Send up to ten refs; returns ``(sent, [(ref, reason), ...])`` after retrying what can be retried.
    Each request's outcome is added to ``report`` as it comes, so that when a retry raises (the endpoint
    gone) the messages an earlier request sent or SQS rejected are still counted and told."""
    report = EnqueueReport() if report is None else report
    sent_before, failed_before = report.sent, len(report.failed)
    pending = {str(i): ref for i, ref in enumerate(batch)}
    for attempt in range(retries + 1):
        entries = [{"Id": i, "MessageBody": message_body(ref)} for i, ref in pending.items()]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        report.sent += len(response.get("Successful", []))
        retry = {}
        for failure in response.get("Failed", []):
            ref = pending[failure["Id"]]
            reason = f"{failure.get('Code', 'Failed')}: {failure.get('Message', '')}".strip(": ")
            if failure.get("SenderFault") or attempt == retries:
                report.failed.append((ref, reason))
            else:
                retry[failure["Id"]] = ref
        if not retry:
            break
        pending = retry
        time.sleep(backoff * 2**attempt)
    return report.sent - sent_before, report.failed[failed_before:]


def enqueue(
    sqs, queue_url: str, refs: Iterable[S3Ref], on_batch=None, report: EnqueueReport | None = None
) -> EnqueueReport:
    """Send every ref; ``on_batch(n)`` is called after each request (for a progress bar). Counts go to
    ``report`` as they come, so that a caller still has them when an AWS error ends the run."""
    report = EnqueueReport() if report is None else report
    for batch in batches(refs):
        send_batch(sqs, queue_url, batch, report=report)
        if on_batch:
            on_batch(len(batch))
    return report
