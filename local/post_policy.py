"""S3's browser-upload (POST) policy check, for the embedded S3 of ``catdog serve``.

moto stores a POST upload without checking its policy, but on AWS the policy is what keeps a 2 GB video
or a tampered form out of the bucket. So that the local pipeline refuses what AWS refuses, with the same
error codes, the embedded S3 runs this check before moto sees the request: the SigV4 signature of the
policy, its expiry, and every condition (exact match, ``starts-with``, ``content-length-range``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from xml.sax.saxutils import escape

from werkzeug.wrappers import Request

#: Form fields that the policy does not have to mention (AWS's own list, lower case).
EXEMPT_FIELDS = {"policy", "x-amz-signature", "file"}


class PolicyViolation(Exception):
    """An upload S3 refuses; ``code`` and ``status`` are those AWS answers with."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def xml(self) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{escape(self.message)}</Message></Error>"
        ).encode()


def check_post_policy(
    form: Mapping[str, str], bucket: str, file_size: int, secret_key: str, now: datetime | None = None
) -> None:
    """Raise ``PolicyViolation`` unless the form's policy is genuine, current and satisfied."""
    fields = {name.lower(): value for name, value in form.items()}
    if "policy" not in fields:
        raise PolicyViolation(403, "AccessDenied", "an anonymous upload needs a signed policy")
    _check_signature(fields, secret_key)
    try:
        policy = json.loads(base64.b64decode(fields["policy"]))
        expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
        conditions = policy["conditions"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PolicyViolation(400, "InvalidPolicyDocument", f"invalid policy document: {exc}") from exc
    if (now or datetime.now(UTC)) > expiration:
        raise PolicyViolation(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    covered = _check_conditions(conditions, {**fields, "bucket": bucket}, file_size)
    extra = sorted(
        name
        for name in fields
        if name not in covered and name not in EXEMPT_FIELDS and not name.startswith("x-ignore-")
    )
    if extra:
        raise PolicyViolation(
            403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {', '.join(extra)}"
        )


def _check_signature(fields: dict[str, str], secret_key: str) -> None:
    if fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
        raise PolicyViolation(400, "InvalidArgument", "only AWS4-HMAC-SHA256 signed policies are accepted")
    try:
        _, date, region, service, _ = fields["x-amz-credential"].split("/")
        signature = fields["x-amz-signature"]
    except (KeyError, ValueError) as exc:
        raise PolicyViolation(400, "InvalidArgument", "malformed x-amz-credential") from exc
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, fields["policy"].encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise PolicyViolation(
            403, "SignatureDoesNotMatch", "The request signature we calculated does not match"
        )


def _check_conditions(conditions: Iterable, fields: dict[str, str], file_size: int) -> set[str]:
    """Check every condition; return the names of the fields the policy covers."""
    covered = set()
    for condition in conditions:
        if isinstance(condition, dict):
            ((name, expected),) = condition.items()
            condition = ["eq", f"${name}", expected]
        operator, *args = condition
        if operator == "content-length-range":
            low, high = int(args[0]), int(args[1])
            if file_size > high:
                raise PolicyViolation(
                    400,
                    "EntityTooLarge",
                    f"Your proposed upload of {file_size:,} bytes exceeds the maximum allowed size "
                    f"of {high:,} bytes",
                )
            if file_size < low:
                raise PolicyViolation(
                    400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"
                )
            continue
        name, expected = args[0].removeprefix("$").lower(), str(args[1])
        value = fields.get(name, "")
        matches = value.startswith(expected) if operator == "starts-with" else value == expected
        if not matches:
            raise PolicyViolation(
                403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {condition}"
            )
        covered.add(name)
    return covered


class PostPolicyMiddleware:
    """WSGI middleware that checks browser (multipart POST) uploads before the S3 app stores them."""

    def __init__(self, app: Callable, secret_key: str):
        self.app = app
        self.secret_key = secret_key

    def __call__(self, environ: dict, start_response: Callable):
        is_upload = environ.get("REQUEST_METHOD") == "POST" and environ.get("CONTENT_TYPE", "").startswith(
            "multipart/form-data"
        )
        if not is_upload:
            return self.app(environ, start_response)
        request = Request(environ)
        body = request.get_data(cache=True)
        upload = request.files.get("file")
        size = len(upload.read()) if upload else 0
        bucket = environ.get("PATH_INFO", "").strip("/").split("/")[0]
        environ["wsgi.input"] = io.BytesIO(body)  # moto parses the form again from the start
        try:
            check_post_policy(request.form, bucket, size, self.secret_key)
        except PolicyViolation as violation:
            headers = [("Content-Type", "application/xml")]
            if origin := environ.get("HTTP_ORIGIN"):  # so that the page can read why
                headers.append(("Access-Control-Allow-Origin", origin))
            start_response(f"{violation.status} {HTTPStatus(violation.status).phrase}", headers)
            return [violation.xml()]
        return self.app(environ, start_response)
