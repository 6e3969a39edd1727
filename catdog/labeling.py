"""Classify one S3 object and record the outcome as ``labels/<key>.json`` in the same bucket.

This is the single place that turns an object into its label JSON: the S3-triggered function, the
S3 Batch Operations function, the SQS consumer and ``catdog classify --write-labels`` all call
``Labeler.label``, so every path writes the same document.

Facts about the object (not an image, empty, too big, gone) are recorded as an error JSON and never
raised: retrying cannot change them. Only AWS errors that a retry can cure (throttling, 5xx, network)
propagate, so that Lambda retries them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import boto3
from botocore.exceptions import ClientError

from catdog.classifier import Classifier
from catdog.images import InvalidImage, load_image, preprocess
from catdog.settings import Settings, model_path_from_env
from catdog.storage import is_not_found, read_json, write_json


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Labeler:
    """The S3 client, model and settings that label objects; a Lambda handler makes one at cold start."""

    s3: object
    classifier: Classifier
    settings: Settings

    @classmethod
    def from_env(cls) -> Labeler:
        """What a handler builds once at cold start: the model at ``MODEL_PATH`` (the model layer)."""
        return cls(boto3.client("s3"), Classifier(model_path_from_env()), Settings.from_env())

    def label(self, bucket: str, key: str, *, etag: str | None = None) -> dict:
        """Classify ``s3://bucket/key`` and write its label JSON, unless that ETag is labelled already.

        ``etag`` is the one the triggering event saw, if any: when the existing label records it, the
        duplicate event costs one small GET and nothing is downloaded or rewritten. Returns the record,
        with ``"skipped": True`` (not stored) when nothing was written.
        """
        job = _Job(self, bucket, key)
        label_key = self.settings.label_key(key)
        existing = read_json(self.s3, bucket, label_key)
        existing = existing if isinstance(existing, dict) else None
        if existing is not None and etag and _etag_of(existing) == _clean_etag(etag):
            return {**existing, "skipped": True}

        try:
            obj = self.s3.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if not is_not_found(exc):
                raise
            if existing is not None and "error" not in existing:
                return {**existing, "skipped": True}  # a result for an older version beats "gone"
            record = job.error("not_found", "the object no longer exists")
            write_json(self.s3, bucket, label_key, record)
            return record

        job.source = {
            "etag": _clean_etag(obj.get("ETag", "")),
            "version_id": obj.get("VersionId"),
            "size": obj.get("ContentLength", 0),
        }
        if existing is not None and _etag_of(existing) == job.source["etag"]:
            obj["Body"].close()
            return {**existing, "skipped": True}

        record = job.classify(obj)
        write_json(self.s3, bucket, label_key, record)
        return record


@dataclass
class _Job:
    """One object being labelled: where it is, what S3 said about it, and when the work started."""

    labeler: Labeler
    bucket: str
    key: str
    source: dict | None = None
    started: float = field(default_factory=time.perf_counter)

    def error(self, code: str, message: str) -> dict:
        record = {
            "bucket": self.bucket,
            "key": self.key,
            "error": {"code": code, "message": message},
            "model": self.labeler.classifier.info,
            "classified_at": now_iso(),
        }
        return record if self.source is None else {**record, "source": self.source}

    def classify(self, obj: dict) -> dict:
        settings, classifier = self.labeler.settings, self.labeler.classifier
        refused = refuse_oversized(obj, settings)
        if refused:
            return self.error("too_large", refused)
        data = obj["Body"].read()
        downloaded = time.perf_counter()
        try:
            image = load_image(data, max_pixels=settings.max_pixels, size=classifier.input_size)
            pixels = preprocess(image, classifier.input_size)[0]
        except InvalidImage as exc:
            return self.error(exc.code, str(exc))
        decoded = time.perf_counter()
        prediction = classifier.classify_pixels(pixels)
        inferred = time.perf_counter()
        return {
            "bucket": self.bucket,
            "key": self.key,
            **prediction.as_dict(),
            "model": classifier.info,
            "source": self.source,
            "timing_ms": {
                "download": round((downloaded - self.started) * 1000, 2),
                "decode": round((decoded - downloaded) * 1000, 2),
                "inference": round((inferred - decoded) * 1000, 2),
            },
            "classified_at": now_iso(),
        }


def refuse_oversized(obj: dict, settings: Settings) -> str | None:
    """Why a ``get_object`` response is too large to download (its body is then closed unread), or None."""
    size = obj.get("ContentLength", 0)
    if size <= settings.max_image_bytes:
        return None
    obj["Body"].close()
    return f"{size:,} bytes is above the limit of {settings.max_image_bytes:,}"


def _clean_etag(etag: str) -> str:
    return etag.strip('"')


def _etag_of(record: dict) -> str | None:
    source = record.get("source")
    return source.get("etag") if isinstance(source, dict) else None
