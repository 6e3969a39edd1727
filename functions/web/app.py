"""The upload page and its JSON API on AWS, behind an HTTP API: the routes of ``catdog serve``.

The function never touches a photo: it presigns a POST so that the browser uploads straight to the
bucket (the POST policy enforces size and type), and it reads back ``labels/<key>.json`` written by the
classify function. All of it is ``catdog.web.api``; ``catdog serve`` runs this very module locally
(``local/http_api.py``), so the routes are defined once, here.
"""

from __future__ import annotations

import functools
import json
import os

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from catdog.settings import Settings
from catdog.storage import parse_json
from catdog.web import api

logger = Logger()
tracer = Tracer()
app = APIGatewayHttpResolver()

# SigV4 is what a presigned POST needs for SSE-KMS buckets and every region opened since 2014.
# The one S3 call (a label GET) gives up after 2 x (1 + 3) = 8 s, inside the function's 10 s (template.yaml),
# and is answered as the API's JSON 500; botocore's defaults (60 s to connect and 60 s for each read, 5
# attempts) let a stalled S3 outlast the function, and the page got API Gateway's error instead.
S3_CONFIG = Config(
    signature_version="s3v4",
    s3={"addressing_style": "virtual"},
    connect_timeout=1,
    read_timeout=3,
    retries={"mode": "standard", "total_max_attempts": 2},  # "max_attempts" would count retries: 3 attempts
)
s3 = boto3.client("s3", config=S3_CONFIG)
bucket = os.environ["BUCKET_NAME"]
settings = Settings.from_env()


@app.exception_handler(api.ApiError)
def api_error(error: api.ApiError) -> Response:
    return Response(error.status, "application/json", json.dumps(error.as_dict()))


# powertools answers an unknown route, and a known one with another method, with its own 404 shape:
# both become the API's error JSON, a wrong method a 405 that names the methods the path takes.
@app.not_found
def no_route(_: NotFoundError) -> Response:
    method, path = app.current_event.http_method, app.current_event.path
    allowed = sorted(
        {r.method for r in app._static_routes + app._dynamic_routes if r.rule.match(path)} - {method}
    )
    if allowed:
        error = api.ApiError(405, "method_not_allowed", f"{path} takes {' or '.join(allowed)}, not {method}")
        return Response(405, "application/json", json.dumps(error.as_dict()), {"Allow": ", ".join(allowed)})
    return api_error(api.ApiError(404, "not_found", f"no route {method} {path}"))


# Anything else (S3 throttling, a bug) is logged and answered in the same shape, not API Gateway's
# {"message": "Internal Server Error"}; its details stay in the log.
@app.exception_handler(Exception)
def internal_error(error: Exception) -> Response:
    logger.exception("unhandled error")
    return api_error(api.ApiError(500, "internal_error", "the request failed; it can be retried"))


@app.route("/", method=["GET", "HEAD"])
def index() -> Response:
    return _asset("index.html")


@app.route("/static/<name>", method=["GET", "HEAD"])
def static_file(name: str) -> Response:
    return _asset(name)


@app.get("/api/health")
def health() -> dict:
    return api.health(bucket, settings)


@app.post("/api/uploads")
def create_upload() -> Response:
    try:
        request = parse_json(app.current_event.decoded_body or "null")
    except ValueError:
        request = None
    upload = api.create_upload(s3, bucket, request, settings)
    logger.info("presigned an upload", extra={"key": upload["key"]})
    return Response(201, "application/json", json.dumps(upload))


# The key travels in the query string, not in the path: an HTTP API hands the function its path
# already URL-decoded (and cut at a decoded "?"), so a name such as "100%25 off.jpg" could not be told
# from "100% off.jpg", while query string values arrive decoded exactly once.
@app.get("/api/labels")
def label() -> dict:
    return api.read_label(s3, bucket, app.current_event.get_query_string_value("key", ""), settings)


def _asset(name: str) -> Response:
    body, content_type = api.asset(name)
    headers = {
        # the page is revalidated on every visit, so that a release reaches browsers at once
        "Cache-Control": "no-cache" if name == "index.html" else "max-age=300",
        "X-Content-Type-Options": "nosniff",
        "Content-Length": str(len(body)),  # the file's, for HEAD too: its answer has no body to count
    }
    if name == "index.html":
        headers["Content-Security-Policy"] = api.page_policy(_upload_origin())
    head = app.current_event.http_method == "HEAD"
    return Response(200, content_type, "" if head else body.decode(), headers=headers)


@functools.cache
def _upload_origin() -> str:
    """Where the page's uploads go: the bucket's own address (presigning is a signature, not a request)."""
    return api.origin(s3.generate_presigned_post(bucket, settings.uploads_prefix)["url"])


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
