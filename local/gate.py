"""What stands between the network and moto in ``catdog serve``'s embedded S3 and SQS.

moto answers every request, signed or not, from any origin. On AWS the bucket is private: the only
request that needs no credentials is the browser's upload, a POST whose policy the web function signed;
everything else is signed with the caller's secret key (SigV4), and CORS lets the page's own origin,
and no other, read an answer. The gate does the same in front of moto:

- a browser upload (multipart POST) is read within its size bound and its policy checked
  (``local.post_policy``);
- any other request must carry a valid SigV4 ``Authorization`` header made with this run's secret key
  (the process's own boto3 clients and the handlers sign with it); anything else gets 403;
- CORS: a preflight is answered, and an upload's answer readable, only for the page's origin: the host
  name by which the browser reached this server, on the page's port (a phone on the LAN reaches both
  by the same address). moto's own CORS headers are dropped;
- moto is told every request is path style, whatever host name it came by.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from urllib.parse import quote, urlsplit

from botocore.utils import normalize_url_path
from werkzeug.http import parse_options_header

from local import http_origin
from local.post_policy import PolicyViolation, check_post_policy, read_upload

#: How far a signed request's X-Amz-Date may be from now, as S3 allows (RequestTimeTooSkewed).
MAX_CLOCK_SKEW = timedelta(minutes=15)
#: Bodies of signed requests without an x-amz-content-sha256 header (SQS's JSON) are hashed in memory.
MAX_HASHED_BODY_BYTES = 1024 * 1024
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<credential>[^,]+), *SignedHeaders=(?P<signed>[^,]+), *"
    r"Signature=(?P<signature>[0-9a-f]+)$"
)


class S3Gate:
    """WSGI middleware in front of moto: browser uploads by policy, everything else by signature.

    ``page_port`` is a callable so that the page's port can be known after the S3 server started.
    """

    def __init__(
        self,
        app: Callable,
        secret_key: str,
        max_file_bytes: int,
        page_port: Callable[[], int | None] = lambda: None,
    ):
        self.app, self.secret_key, self.max_file_bytes = app, secret_key, max_file_bytes
        self.page_port = page_port

    def __call__(self, environ: dict, start_response: Callable):
        origin = environ.get("HTTP_ORIGIN")
        cors = self._cors_headers(origin, environ) if origin else []
        method = environ.get("REQUEST_METHOD")
        try:
            if method == "OPTIONS" and origin:
                return self._preflight(environ, cors, start_response)
            if _is_browser_upload(environ):
                self._check_upload(environ)
            else:
                cors = []  # only the browser's upload is the page's business
                self._check_signature(environ)
        except PolicyViolation as refusal:
            return _refuse(refusal, cors, start_response)

        def respond(status: str, headers: list, exc_info=None):
            headers = [(n, v) for n, v in headers if not n.lower().startswith("access-control-")]
            return start_response(status, headers + cors, exc_info)

        return self.app(_path_style(environ), respond)

    def is_page_origin(self, origin: str, environ: dict) -> bool:
        """Whether ``origin`` is the page's: http, the host this request came to, the page's port."""
        port = self.page_port()
        host = urlsplit(f"//{environ.get('HTTP_HOST', '')}").hostname
        if port is None or not host:
            return False
        return origin == http_origin(host, port)

    def _cors_headers(self, origin: str, environ: dict) -> list[tuple[str, str]]:
        if not self.is_page_origin(origin, environ):
            return []
        return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]

    def _preflight(self, environ: dict, cors: list, start_response: Callable):
        if not cors or environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD") != "POST":
            refusal = PolicyViolation(
                403, "AccessForbidden", "CORSResponse: This CORS request is not allowed."
            )
            return _refuse(refusal, [], start_response)
        headers = [
            *cors,
            ("Access-Control-Allow-Methods", "POST"),
            ("Access-Control-Max-Age", "3600"),
            ("Content-Length", "0"),
        ]
        if requested := environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS"):
            headers.append(("Access-Control-Allow-Headers", requested))
        start_response("200 OK", headers)
        return [b""]

    def _check_upload(self, environ: dict) -> None:
        if any(name == "HTTP_AUTHORIZATION" or name.startswith("HTTP_X_AMZ_") for name in environ):
            # a form POST is authorized by its signed fields; moto acts on these headers (another service,
            # a chunk-signed body) and fails with a traceback
            raise PolicyViolation(
                400,
                "InvalidArgument",
                "a browser upload is authorized by its signed form: no Authorization or X-Amz-* header",
            )
        bucket = environ.get("PATH_INFO", "").strip("/").split("/")[0]
        upload = read_upload(environ, self.max_file_bytes)
        check_post_policy(upload.fields, bucket, upload.file_size, self.secret_key)
        # moto parses the form again, from the bytes read (at most the limit)
        environ.update({"wsgi.input": io.BytesIO(upload.body), "CONTENT_LENGTH": str(len(upload.body))})
        environ.pop("HTTP_TRANSFER_ENCODING", None)

    def _check_signature(self, environ: dict) -> None:
        check_signature(environ, self.secret_key)


def check_signature(environ: dict, secret_key: str, now: datetime | None = None) -> None:
    """Raise ``PolicyViolation`` unless the request carries a SigV4 header signature made with
    ``secret_key``. A body without an ``x-amz-content-sha256`` header is read (bounded) and hashed."""
    found = AUTHORIZATION.match(environ.get("HTTP_AUTHORIZATION", "").strip())
    if not found:
        raise PolicyViolation(
            403, "AccessDenied", "Anonymous access is not allowed: sign the request (SigV4)"
        )
    try:
        _, date, region, service, terminator = found["credential"].split("/")
        stamp = datetime.strptime(environ["HTTP_X_AMZ_DATE"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except (KeyError, ValueError):
        raise PolicyViolation(
            400, "AuthorizationHeaderMalformed", "malformed credential or X-Amz-Date"
        ) from None
    if terminator != "aws4_request" or stamp.strftime("%Y%m%d") != date:
        raise PolicyViolation(400, "AuthorizationHeaderMalformed", "malformed credential scope")
    if abs((now or datetime.now(UTC)) - stamp) > MAX_CLOCK_SKEW:
        raise PolicyViolation(
            403, "RequestTimeTooSkewed", "The difference between the request time and now is too large"
        )
    signed = found["signed"].split(";")
    headers = []
    for name in signed:
        key = name.upper().replace("-", "_")
        value = environ.get(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}")
        if value is None:
            raise PolicyViolation(403, "SignatureDoesNotMatch", f"signed header {name} is missing")
        headers.append(f"{name}:{' '.join(value.split())}")
    payload_hash = environ.get("HTTP_X_AMZ_CONTENT_SHA256") or _body_hash(environ)
    raw_path = environ.get("RAW_URI") or quote(environ.get("PATH_INFO", "/"))
    path = raw_path.split("?", 1)[0]
    if service != "s3":  # S3 signs the path as sent; other services sign it normalized
        path = quote(normalize_url_path(path), safe="/~")
    pairs = sorted(pair.partition("=")[::2] for pair in environ.get("QUERY_STRING", "").split("&") if pair)
    canonical = "\n".join(
        [
            environ["REQUEST_METHOD"],
            path,
            "&".join(f"{k}={v}" for k, v in pairs),
            "\n".join(headers) + "\n",
            found["signed"],
            payload_hash,
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            environ["HTTP_X_AMZ_DATE"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, found["signature"]):
        raise PolicyViolation(
            403, "SignatureDoesNotMatch", "The request signature we calculated does not match"
        )


def _path_style(environ: dict) -> dict:
    """``environ`` as moto should read it: every request here names its bucket in the path, but moto takes
    the first label of a dotted host name for a bucket (``laptop.local`` → ``laptop``), and a page reached
    by such a name had each upload answered 500. ``localhost`` it reads as path style, whatever the port."""
    try:
        port = urlsplit(f"//{environ.get('HTTP_HOST', '')}").port
    except ValueError:  # "host:abc": no port moto could use either
        port = None
    return {**environ, "HTTP_HOST": f"localhost:{port}" if port else "localhost"}


def _is_browser_upload(environ: dict) -> bool:
    """A multipart POST to a bucket's own URL (``/<bucket>``, no query): S3's browser upload."""
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and parse_options_header(environ.get("CONTENT_TYPE", ""))[0].lower() == "multipart/form-data"
        and not environ.get("QUERY_STRING")
        and re.fullmatch(r"/[^/]+/?", environ.get("PATH_INFO", "")) is not None
    )


def _body_hash(environ: dict) -> str:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > MAX_HASHED_BODY_BYTES:
        raise PolicyViolation(
            400, "EntityTooLarge", "a signed body without x-amz-content-sha256 is too large"
        )
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return hashlib.sha256(body).hexdigest()


def _refuse(refusal: PolicyViolation, cors: list, start_response: Callable) -> list[bytes]:
    headers = [("Content-Type", "application/xml"), *cors]
    start_response(f"{refusal.status} {HTTPStatus(refusal.status).phrase}", headers)
    return [refusal.xml()]
