"""S3 errors sorted by what a retry can do, and the JSON documents catdog keeps in S3.

Shared by the labelling functions and the web API; only botocore's exception types are needed here,
so importing it costs the web function nothing it does not already load.
"""

from __future__ import annotations

import json

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}
TRANSIENT_CODES = {
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


def is_transient(exc: BaseException) -> bool:
    """Whether a retry can cure ``exc`` (throttling, a 5xx, a dropped connection)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code") in TRANSIENT_CODES or status >= 500
    # a request botocore refuses to send (an empty key, a bad parameter) fails the same way every time
    return isinstance(exc, BotoCoreError) and not isinstance(exc, ParamValidationError)


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in NOT_FOUND_CODES


def read_json(s3, bucket: str, key: str) -> object | None:
    """The parsed document at ``key``; None when there is none or it is not JSON (then it is replaced)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    try:
        return json.loads(body)
    except ValueError:
        return None


def write_json(s3, bucket: str, key: str, document: dict) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(document, ensure_ascii=False, indent=1).encode(),
        ContentType="application/json",
    )
