"""Classify one S3 object and record the outcome as ``labels/<key>.json`` in the same bucket.

This is the single place that turns an object into its label JSON: the S3-triggered function, the
S3 Batch Operations function, the SQS consumer and ``catdog classify --write-labels`` all call
``label_object``, so every path writes the same document.

Facts about the object (not an image, empty, too big, gone) are recorded as an error JSON and never
raised: retrying cannot change them. Only AWS errors that a retry can cure (throttling, 5xx, network)
propagate, so that Lambda retries them.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from catdog.classifier import Classifier
from catdog.images import DEFAULT_MAX_PIXELS, InvalidImage, load_image, preprocess

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
DEFAULT_MODEL_PATH = "/opt/model"  # where the model layer unpacks on Lambda
#: The released model inside a source checkout: the default of ``catdog classify`` and ``catdog serve``.
REPO_MODEL = Path(__file__).resolve().parent.parent / "models" / "catdog"


@dataclass(frozen=True)
class Settings:
    """Where results go and what input is accepted; defaults match ``template.yaml``."""

    uploads_prefix: str = "uploads/"
    labels_prefix: str = "labels/"
    max_image_bytes: int = 20 * 1024 * 1024
    max_pixels: int = DEFAULT_MAX_PIXELS

    @classmethod
    def from_env(cls, environ: os._Environ | dict | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            uploads_prefix=env.get("UPLOADS_PREFIX", cls.uploads_prefix),
            labels_prefix=env.get("LABELS_PREFIX", cls.labels_prefix),
            max_image_bytes=int(env.get("MAX_IMAGE_BYTES", cls.max_image_bytes)),
            max_pixels=int(env.get("MAX_PIXELS", cls.max_pixels)),
        )

    def label_key(self, key: str) -> str:
        """``uploads/a/b c.jpg`` -> ``labels/a/b c.jpg.json``; a key elsewhere keeps its whole path."""
        relative = key[len(self.uploads_prefix) :] if key.startswith(self.uploads_prefix) else key
        return f"{self.labels_prefix}{relative}.json"

    def is_label(self, key: str) -> bool:
        return key.startswith(self.labels_prefix)

    def is_upload(self, key: str) -> bool:
        """Whether an event for ``key`` should be labelled; a label never is, so writes cannot recurse."""
        return key.startswith(self.uploads_prefix) and not self.is_label(key)


def model_path_from_env(default: str | os.PathLike = DEFAULT_MODEL_PATH) -> Path:
    """``MODEL_PATH`` if set, else ``default`` (the model layer on Lambda, the checkout's model locally)."""
    return Path(os.environ.get("MODEL_PATH") or default)


def handler_resources() -> tuple:
    """The S3 client, settings and classifier that a Lambda handler builds once, at cold start."""
    return boto3.client("s3"), Settings.from_env(), Classifier(model_path_from_env())


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_transient(exc: BaseException) -> bool:
    """Whether a retry can cure ``exc`` (throttling, a 5xx, a dropped connection)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code") in TRANSIENT_CODES or status >= 500
    return isinstance(exc, BotoCoreError)


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in (NOT_FOUND_CODES)


def error_record(bucket: str, key: str, code: str, message: str, model: dict) -> dict:
    return {
        "bucket": bucket,
        "key": key,
        "error": {"code": code, "message": message},
        "model": model,
        "classified_at": now_iso(),
    }


def label_object(
    s3,
    bucket: str,
    key: str,
    classifier: Classifier,
    settings: Settings = Settings(),
    *,
    etag: str | None = None,
) -> dict:
    """Classify ``s3://bucket/key`` and write its label JSON, unless that ETag is labelled already.

    ``etag`` is the one the triggering event saw, if any: when the existing label records it, the
    duplicate event costs one small GET and nothing is downloaded or rewritten. Returns the record,
    with ``"skipped": True`` (not stored) when nothing was written.
    """
    label_key = settings.label_key(key)
    existing = _read_json(s3, bucket, label_key)
    if existing is not None and etag and _etag_of(existing) == _clean_etag(etag):
        return {**existing, "skipped": True}

    started = time.perf_counter()
    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        if existing is not None and "error" not in existing:
            return {**existing, "skipped": True}  # a result for an older version beats "gone"
        record = error_record(bucket, key, "not_found", "the object no longer exists", classifier.info)
        _write_json(s3, bucket, label_key, record)
        return record

    source = {
        "etag": _clean_etag(obj.get("ETag", "")),
        "version_id": obj.get("VersionId"),
        "size": obj.get("ContentLength", 0),
    }
    if existing is not None and _etag_of(existing) == source["etag"]:
        obj["Body"].close()
        return {**existing, "skipped": True}

    record = _classify_body(bucket, key, obj, source, classifier, settings, started)
    _write_json(s3, bucket, label_key, record)
    return record


def refuse_oversized(obj: dict, settings: Settings) -> str | None:
    """Why a ``get_object`` response is too large to download (its body is then closed unread), or None."""
    size = obj.get("ContentLength", 0)
    if size <= settings.max_image_bytes:
        return None
    obj["Body"].close()
    return f"{size:,} bytes is above the limit of {settings.max_image_bytes:,}"


def _classify_body(bucket, key, obj, source, classifier, settings, started) -> dict:
    refused = refuse_oversized(obj, settings)
    if refused:
        return _error_with_source(bucket, key, "too_large", refused, classifier, source)
    data = obj["Body"].read()
    downloaded = time.perf_counter()
    if not data:
        return _error_with_source(bucket, key, "empty", "the object is empty", classifier, source)
    try:
        image = load_image(data, max_pixels=settings.max_pixels)
        pixels = preprocess(image, classifier.input_size)[0]
    except InvalidImage as exc:
        return _error_with_source(bucket, key, exc.code, str(exc), classifier, source)
    decoded = time.perf_counter()
    prediction = classifier.classify_pixels(pixels)
    inferred = time.perf_counter()
    return {
        "bucket": bucket,
        "key": key,
        **prediction.as_dict(),
        "model": classifier.info,
        "source": source,
        "timing_ms": {
            "download": round((downloaded - started) * 1000, 2),
            "decode": round((decoded - downloaded) * 1000, 2),
            "inference": round((inferred - decoded) * 1000, 2),
        },
        "classified_at": now_iso(),
    }


def _error_with_source(bucket, key, code, message, classifier, source) -> dict:
    return {**error_record(bucket, key, code, message, classifier.info), "source": source}


def _clean_etag(etag: str) -> str:
    return etag.strip('"')


def _etag_of(record: dict) -> str | None:
    return (record.get("source") or {}).get("etag")


def _read_json(s3, bucket: str, key: str) -> dict | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    try:
        return json.loads(body)
    except ValueError:
        return None  # a damaged label is replaced, not trusted


def _write_json(s3, bucket: str, key: str, record: dict) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(record, ensure_ascii=False, indent=1).encode(),
        ContentType="application/json",
    )
