"""S3 errors sorted by what a retry can do, and the JSON documents catdog keeps in S3.

Shared by the labelling functions and the web API; only botocore's exception types are needed here,
so importing it costs the web function nothing it does not already load.
"""

from __future__ import annotations

import json

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

NOT_FOUND_CODES = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}
#: The object is in S3 Glacier Flexible Retrieval or Deep Archive and not restored: no retry reads it.
ARCHIVED_CODES = {"InvalidObjectState"}
#: A conditional write lost to another writer (412), or met one in flight (409): read again, decide again.
CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict"}
TRANSIENT_CODES = CONFLICT_CODES | {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "ServiceUnavailable",
    "503",
    "500",
}
#: The largest document ``read_json`` reads: a label is a few kB. Anything larger at a label key is no
#: label of catdog's, and reading it whole could exhaust the function's memory on every retry.
MAX_DOCUMENT_BYTES = 256 * 1024


def _code(exc: BaseException) -> str | None:
    """The error code S3 answered with; None for anything that is not an S3 answer."""
    return exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None


def failure_reason(exc: BaseException) -> str:
    """What a failure is counted under: the S3 error code (SlowDown, AccessDenied), else the exception's
    class (ReadTimeoutError, a bug's KeyError)."""
    return _code(exc) or type(exc).__name__


def is_transient(exc: BaseException) -> bool:
    """Whether a retry can cure ``exc`` (throttling, a 5xx, a dropped connection)."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return _code(exc) in TRANSIENT_CODES or status >= 500
    # a request botocore refuses to send (an empty key, a bad parameter) fails the same way every time
    return isinstance(exc, BotoCoreError) and not isinstance(exc, ParamValidationError)


def is_not_found(exc: BaseException) -> bool:
    return _code(exc) in NOT_FOUND_CODES


def is_archived(exc: BaseException) -> bool:
    return _code(exc) in ARCHIVED_CODES


def is_customer_encrypted(exc: BaseException) -> bool:
    """The object is encrypted with a key its writer kept (SSE-C): S3 answers 400 ``InvalidRequest``,
    "The object was stored using a form of Server Side Encryption…", and no retry can read it. Other
    ``InvalidRequest`` answers name server side encryption too (a KMS object read without SigV4)."""
    message = exc.response.get("Error", {}).get("Message", "") if isinstance(exc, ClientError) else ""
    return (
        _code(exc) == "InvalidRequest" and "stored using a form of server side encryption" in message.lower()
    )


def parse_json(text: str | bytes) -> object:
    """``json.loads`` whose every refusal is a ``ValueError``: arrays nested a few thousand deep (a 4 kB
    body) exhaust the parser's recursion, a ``RecursionError`` that callers catching ``ValueError`` miss."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deep") from exc


def read_json(s3, bucket: str, key: str) -> tuple[object | None, str | None]:
    """The parsed document at ``key`` and its ETag: ``(None, None)`` when there is none, ``(None, etag)``
    when it is not JSON, larger than ``MAX_DOCUMENT_BYTES``, archived by a lifecycle rule or encrypted
    with a key only its writer has (then it is replaced, on the condition that it is still that object)."""
    try:
        stored = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_not_found(exc):
            return None, None
        if is_archived(exc):
            return None, s3.head_object(Bucket=bucket, Key=key)["ETag"]
        if is_customer_encrypted(exc):  # S3 answers its HEAD only with the key, its listing without
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
            return None, next((item["ETag"] for item in listed if item["Key"] == key), None)
        raise
    if stored.get("ContentLength", 0) > MAX_DOCUMENT_BYTES:
        stored["Body"].close()
        return None, stored["ETag"]
    text = stored["Body"].read()
    try:
        return parse_json(text), stored["ETag"]
    except ValueError:
        return None, stored["ETag"]


class WriteConflict(Exception):
    """``write_json`` found another document than the one its caller read: read again and decide again.
    The S3 error is the exception's ``__cause__``."""


def write_json(s3, bucket: str, key: str, document: dict, *, replaces: str | None) -> None:
    """Write ``document`` only if ``key`` still holds what the caller read: the object of ETag ``replaces``,
    or nothing when ``replaces`` is None (S3 conditional writes). Otherwise ``WriteConflict``."""
    condition = {"IfMatch": replaces} if replaces else {"IfNoneMatch": "*"}
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(document, ensure_ascii=False, indent=1).encode(),
            ContentType="application/json",
            **condition,
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in CONFLICT_CODES or (replaces and is_not_found(exc)):  # replaced, or deleted, meanwhile
            raise WriteConflict(f"{key} changed since it was read ({code})") from exc
        raise
