"""The upload page and its API as a Flask app, for ``catdog serve``; AWS serves the same through
``functions/web/app.py``. Both are thin routes over ``catdog.web.api``."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from flask import Flask, Response, jsonify, request

from catdog.labeling import Settings
from catdog.web import api


def create_app(s3, bucket: str, settings: Settings, *, s3_port_for_browsers: int | None = None) -> Flask:
    """Routes over ``s3`` (a client of the bucket's S3) for ``bucket``.

    With ``s3_port_for_browsers``, presigned URLs name the host the browser reached this app by (and that
    port) instead of the loopback address: how a phone on the LAN reaches the embedded S3.
    """
    app = Flask(__name__, static_folder=None)

    @app.errorhandler(api.ApiError)
    def api_error(error: api.ApiError):
        return jsonify(error.as_dict()), error.status

    @app.get("/")
    def index():
        return _asset("index.html")

    @app.get("/static/<name>")
    def static_file(name: str):
        return _asset(name)

    @app.get("/api/health")
    def health():
        return jsonify(api.health(bucket, settings))

    @app.post("/api/uploads")
    def create_upload():
        upload = api.create_upload(s3, bucket, request.get_json(silent=True), settings)
        if s3_port_for_browsers:
            netloc = f"{urlsplit(request.host_url).hostname}:{s3_port_for_browsers}"
            upload["url"] = urlunsplit(urlsplit(upload["url"])._replace(netloc=netloc))
        return jsonify(upload), 201

    @app.get("/api/labels/<path:key>")
    def label(key: str):
        return jsonify(api.read_label(s3, bucket, key, settings))

    return app


def _asset(name: str) -> Response:
    body, content_type = api.asset(name)
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-cache"})
