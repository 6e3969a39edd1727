"""The web function's Lambda handler served over HTTP on this machine, as an API Gateway HTTP API.

Each request becomes the payload-2.0 event that an HTTP API sends to Lambda, and the handler's answer
becomes the response, so ``catdog serve`` runs ``functions/web/app.py`` itself: the routes exist once.
(The other way round, one WSGI app that Lambda runs through an adapter, would put Flask and the adapter
into the function's cold start; see docs/web.md.)
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from catdog.web.api import ApiError, page_policy

#: API requests are small JSON documents (photos go straight to S3): anything bigger is refused unread.
MAX_BODY_BYTES = 64 * 1024
UPLOADS_ROUTE = ("POST", "/api/uploads")
#: The web function's routes in template.yaml (tests/unit/test_template.py holds them equal): on AWS the
#: HTTP API answers a request that matches none of them itself, and the function never sees it.
ROUTES = (
    ("GET", "/"),
    ("HEAD", "/"),
    ("GET", "/static/{name}"),
    ("HEAD", "/static/{name}"),
    ("ANY", "/api/{proxy+}"),
)


def _route_pattern(path: str) -> re.Pattern:
    """An HTTP API route's path as a regular expression: ``{name}`` one segment, ``{proxy+}`` the rest."""
    segments = path.split("/")
    return re.compile(
        "/".join(
            ".+" if s.endswith("+}") else "[^/]+" if s.startswith("{") else re.escape(s) for s in segments
        )
    )


_ROUTE_PATTERNS = [(method, _route_pattern(path)) for method, path in ROUTES]


def is_routed(method: str, path: str) -> bool:
    return any(m in ("ANY", method) and pattern.fullmatch(path) for m, pattern in _ROUTE_PATTERNS)


logger = logging.getLogger(__name__)


class HttpApi:
    """A WSGI app that invokes ``handler(event, context)`` for every request, one at a time as a Lambda
    instance does (powertools' resolver keeps the current event on the module's app object).

    ``around`` wraps each invocation (``catdog serve`` sends the function's logs to a file with it).
    With ``s3_port_for_browsers``, presigned upload URLs name the host the browser reached the page by
    and that port: how a phone on the LAN reaches the embedded S3, and the origin its CORS allows for a
    page opened as ``localhost`` where ``127.0.0.1`` was printed.
    """

    def __init__(
        self,
        handler: Callable[[dict, object], dict],
        context_factory: Callable[[], object],
        *,
        around: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
        s3_port_for_browsers: int | None = None,
    ):
        self.handler, self.context_factory, self.around = handler, context_factory, around
        self.s3_port_for_browsers = s3_port_for_browsers
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        try:
            event = http_api_event(environ)
        except BodyTooLarge as exc:
            return _respond(start_response, _json_error(413, "too_large", str(exc)))
        except BadRequest as exc:
            return _respond(start_response, _json_error(400, "bad_request", str(exc)))
        if not is_routed(event["requestContext"]["http"]["method"], event["rawPath"]):
            not_found = {"statusCode": 404, "headers": {"Content-Type": "application/json"}}
            return _respond(start_response, {**not_found, "body": json.dumps({"message": "Not Found"})})
        try:
            with self._lock, self.around():
                response = self.handler(event, self.context_factory())
        except Exception:  # what API Gateway answers when the function fails, in the API's shape
            logger.exception("the web function failed")
            response = _json_error(500, "internal_error", "the request failed; it can be retried")
        if self.s3_port_for_browsers and (event["requestContext"]["http"]["method"], event["rawPath"]) == (
            UPLOADS_ROUTE
        ):
            response = _public_upload_url(response, environ, self.s3_port_for_browsers)
        elif self.s3_port_for_browsers:
            response = _public_page_policy(response, environ, self.s3_port_for_browsers)
        return _respond(start_response, response)


class BadRequest(ValueError):
    pass


class BodyTooLarge(BadRequest):
    pass


def http_api_event(environ: dict) -> dict:
    """The HTTP API (payload format 2.0) event for one WSGI request."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if length < 0:
        raise BadRequest(f"Content-Length {environ['CONTENT_LENGTH']!r} is not a size")
    if length > MAX_BODY_BYTES:
        raise BodyTooLarge(f"a request body of {length:,} bytes is above the API's {MAX_BODY_BYTES:,}")
    if not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):  # chunked: no length
        body = environ["wsgi.input"].read(MAX_BODY_BYTES + 1)  # one byte past the limit tells it is above
        if len(body) > MAX_BODY_BYTES:
            raise BodyTooLarge(f"a request body above the API's {MAX_BODY_BYTES:,} bytes")
    else:
        body = environ["wsgi.input"].read(length) if length else b""
    headers = {
        name[5:].replace("_", "-").lower(): value
        for name, value in environ.items()
        if name.startswith("HTTP_")
    }
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            headers[name.replace("_", "-").lower()] = environ[name]
    path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
    query = environ.get("QUERY_STRING", "").encode("latin-1").decode("utf-8", "replace")
    text = _is_text(headers.get("content-type", ""))
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        **({"queryStringParameters": _query_parameters(query)} if query else {}),
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "localhost"),
            "http": {
                "method": environ["REQUEST_METHOD"],
                "path": path,
                "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "body": body.decode("utf-8", "replace") if text else base64.b64encode(body).decode(),
        "isBase64Encoded": not text and bool(body),
    }


def _query_parameters(query: str) -> dict[str, str]:
    """As the HTTP API hands them over: a name given twice has its values joined with commas
    (``?key=a&key=b`` is ``"a,b"``, a key no upload has), not the last one alone."""
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    return parameters


def _is_text(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return not media or media.startswith("text/") or media.endswith(("json", "xml", "x-www-form-urlencoded"))


def _respond(start_response, response: dict) -> list[bytes]:
    status = int(response.get("statusCode", 200))
    body = response.get("body") or ""
    payload = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    headers = [(name, str(value)) for name, value in (response.get("headers") or {}).items()]
    headers += [("Set-Cookie", cookie) for cookie in response.get("cookies") or ()]
    if not any(name.lower() == "content-length" for name, _ in headers):  # a HEAD answer states the GET's
        headers.append(("Content-Length", str(len(payload))))
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [payload]


def _json_error(status: int, code: str, message: str) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(ApiError(status, code, message).as_dict()),  # the web API's one error shape
    }


def _public_upload_url(response: dict, environ: dict, s3_port: int) -> dict:
    if response.get("statusCode") != 201:
        return response
    upload = json.loads(response["body"])
    upload["url"] = urlunsplit(urlsplit(upload["url"])._replace(netloc=_s3_netloc(environ, s3_port)))
    return {**response, "body": json.dumps(upload)}


def _public_page_policy(response: dict, environ: dict, s3_port: int) -> dict:
    """The page's policy lets it send to the S3 its upload URLs name (``_public_upload_url``)."""
    headers = response.get("headers") or {}
    if "Content-Security-Policy" not in headers:
        return response
    policy = page_policy(f"{environ['wsgi.url_scheme']}://{_s3_netloc(environ, s3_port)}")
    return {**response, "headers": {**headers, "Content-Security-Policy": policy}}


def _s3_netloc(environ: dict, s3_port: int) -> str:
    host = environ.get("HTTP_HOST", "")
    host = (host if host.endswith("]") else host.rsplit(":", 1)[0]) or environ.get("SERVER_NAME", "localhost")
    return f"{host}:{s3_port}"
