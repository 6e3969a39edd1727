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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from werkzeug.datastructures import Headers
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

#: Form fields that the policy does not have to mention (AWS's own list, lower case).
EXEMPT_FIELDS = {"policy", "x-amz-signature", "file"}
#: The form fields before the file may be this long in all (the web API's presigned ones take ~1.5 kB).
MAX_PRE_DATA_BYTES = 20 * 1024
#: Room for the multipart boundaries and part headers around the fields and the file.
MULTIPART_SLACK = 16 * 1024


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


@dataclass
class Upload:
    """A browser upload read off the wire: its form fields, its file's size, and the raw request body."""

    fields: dict[str, str]
    file_size: int
    body: bytes


def read_upload(environ: dict, max_file_bytes: int, chunk_bytes: int = 64 * 1024) -> Upload:
    """Read a multipart POST while bounding it, or raise ``PolicyViolation`` as soon as it is too big.

    The whole request may be at most ``max_file_bytes`` + ``MAX_PRE_DATA_BYTES`` + ``MULTIPART_SLACK``:
    a declared Content-Length above that is refused before a byte is read, a body without a length
    (chunked) as soon as it crosses it. The fields before the file may be at most
    ``MAX_PRE_DATA_BYTES``, as S3 bounds them. So memory is bounded by the limit, not by the request.
    """
    max_request = max_file_bytes + MAX_PRE_DATA_BYTES + MULTIPART_SLACK
    too_large = PolicyViolation(
        400,
        "EntityTooLarge",
        f"Your proposed upload exceeds the maximum allowed size of {max_file_bytes:,} bytes",
    )
    declared = environ.get("CONTENT_LENGTH")
    if declared:
        if not declared.isdigit():
            raise PolicyViolation(400, "InvalidArgument", "Content-Length is not a size")
        if int(declared) > max_request:
            raise too_large
        remaining = int(declared)
    elif environ.get("wsgi.input_terminated"):
        remaining = None  # chunked: read to the end, but never more than the bound
    else:
        raise PolicyViolation(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
    _, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
    if not options.get("boundary"):
        raise _malformed("no multipart boundary")
    decoder = MultipartDecoder(options["boundary"].encode("latin-1"))
    stream, body = environ["wsgi.input"], io.BytesIO()
    values: dict[str, bytearray] = {}
    charsets: dict[str, str] = {}
    names: set[str] = set()
    part, pre_data, file_size, seen_file = "", 0, 0, False
    while True:
        size = chunk_bytes if remaining is None else min(chunk_bytes, remaining)
        chunk = stream.read(size) if size else b""
        if remaining is not None:
            remaining -= len(chunk)
        if body.tell() + len(chunk) > max_request:
            raise too_large
        body.write(chunk)
        try:
            decoder.receive_data(chunk or None)
            event = decoder.next_event()
            while not isinstance(event, NeedData | Epilogue):
                if isinstance(event, Field | File):
                    _check_part(event, names, seen_file)
                    if isinstance(event, File):  # the last part (_check_part): its data is the file's
                        seen_file = True
                    else:
                        part = event.name
                        values[part], charsets[part] = bytearray(), _part_charset(event.headers)
                        pre_data += len(part)
                elif isinstance(event, Data):
                    if seen_file:
                        file_size += len(event.data)
                    else:
                        values[part] += event.data
                        pre_data += len(event.data)
                if pre_data > MAX_PRE_DATA_BYTES:
                    raise PolicyViolation(
                        400,
                        "MaxPostPreDataLengthExceeded",
                        f"Your POST request fields preceding the upload file were too large "
                        f"(more than {MAX_PRE_DATA_BYTES:,} bytes)",
                    )
                event = decoder.next_event()
        except ValueError as exc:
            raise _malformed(str(exc)) from None
        if isinstance(event, Epilogue) or not chunk:
            break
    if not seen_file:
        raise PolicyViolation(400, "InvalidArgument", "POST requires exactly one file upload per request.")
    fields = {name: bytes(value).decode(charsets[name], "replace") for name, value in values.items()}
    return Upload(fields, file_size, body.getvalue())


#: The form fields moto looks up by their lower-case names only, where the check reads any spelling
MOTO_READS_AS_WRITTEN = {"key", "file"}


def _check_part(event: Field | File, names: set[str], seen_file: bool) -> None:
    """One reading of the form for the check and for moto: the policy is checked on the fields as S3
    reads them, and moto stores what it reads itself, so a form the two would read differently could
    store what no policy allowed (a second ``KEY`` field beside the signed ``key``, a second file part,
    a field after the file, which S3 ignores and moto does not). Such a form is refused."""
    if not event.name:  # moto looks every part up by its name: a nameless one is a 500 there
        raise _malformed("a part has no name")
    name = event.name.lower()
    if seen_file:
        raise PolicyViolation(400, "InvalidArgument", "the file must be the form's last part")
    if isinstance(event, File) != (name == "file"):  # a file part is the file, and the file a file part
        raise PolicyViolation(400, "InvalidArgument", "POST requires exactly one file upload per request.")
    if name in names:
        raise PolicyViolation(400, "InvalidArgument", f"the form field {name!r} is given more than once")
    if name in MOTO_READS_AS_WRITTEN and event.name != name:  # `Key` or `FILE`: a KeyError in moto, a 500
        raise PolicyViolation(
            400, "InvalidArgument", f"the form field {event.name!r} must be written {name!r}"
        )
    names.add(name)


def _part_charset(headers: Headers) -> str:
    """The charset in which moto (werkzeug's form parser) reads a field: its part's declared one if
    werkzeug takes it, else UTF-8. The policy is checked on the same text, so that a key part declared
    ``charset=iso-8859-1`` cannot pass as the signed ``uploads/…/é.jpg`` and be stored as ``…/Ã©.jpg``."""
    charset = parse_options_header(headers.get("content-type", ""))[1].get("charset", "").lower()
    return charset if charset in {"ascii", "us-ascii", "utf-8", "iso-8859-1"} else "utf-8"


def _malformed(reason: str) -> PolicyViolation:
    return PolicyViolation(
        400,
        "MalformedPOSTRequest",
        f"The body of your POST request is not well-formed multipart/form-data ({reason}).",
    )
