"""Classify one S3 object and record the outcome as its label JSON in the same bucket.

This is the single place that turns an object into its label JSON: the S3-triggered function, the
S3 Batch Operations function, the SQS consumer and ``catdog classify --write-labels`` all call
``Labeler.label``, so every path writes the same document, at ``Settings.label_key``.

Facts about the object (not an image, empty, too big, gone) are recorded as an error JSON and never
raised: retrying cannot change them. Only AWS errors that a retry can cure (throttling, 5xx, network)
propagate, so that Lambda retries them.

A label is never overwritten by the answer for an older version of its object: it is written only if
it is still the label read before classifying (S3 conditional writes, ``If-Match`` /
``If-None-Match``); when another writer got there first, the object is read and decided again.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from catdog.classifier import Classifier
from catdog.images import InvalidImage, model_input
from catdog.settings import Settings, model_path_from_env
from catdog.storage import (
    WriteConflict,
    is_archived,
    is_customer_encrypted,
    is_not_found,
    read_json,
    write_json,
)

#: How often one object is read and decided again when other writers keep changing its label meanwhile.
WRITE_ATTEMPTS = 4
#: The functions' S3 client. In-region S3 connects in milliseconds and sends a label or a photo's next
#: bytes at once; botocore's defaults (60 s to connect and 60 s for each read, every attempt) let one
#: stalled connection outlast the function's own timeout, which then failed with nothing reported. Here
#: one call gives up after 3 x (2 + 5) = 21 s and raises, which a retry can cure.
S3_CONNECT_SECONDS, S3_READ_SECONDS, S3_ATTEMPTS = 2, 5, 3
FUNCTION_S3_CONFIG = Config(
    connect_timeout=S3_CONNECT_SECONDS,
    read_timeout=S3_READ_SECONDS,
    # total_max_attempts, not max_attempts: as a client option botocore counts that one in retries, so
    # 3 made 4 attempts, 28 s a call
    retries={"mode": "standard", "total_max_attempts": S3_ATTEMPTS},  # a client rewrites this dict in place
)
#: The S3 requests one label can make, each retried by botocore until FUNCTION_S3_CONFIG gives up: the
#: label's GET (and its HEAD when a lifecycle rule archived it, or its listing when it is SSE-C), the
#: object's GET, the HEAD of the key's current version (whether a task's version is still current, or
#: which object S3 refused to hand over), and the label's PUT.
S3_CALLS_PER_LABEL = 5
#: The bodies one label reads after its GET answered (the label's and the photo's). A read that stalls
#: gives up after S3_READ_SECONDS and raises; botocore does not retry it.
S3_BODY_READS_PER_LABEL = 2
#: The slowest accepted photo: about 6 s at 640 MB (docs/deploy.md).
SLOWEST_PHOTO_SECONDS = 6
#: A write conflict starts the label again (WRITE_ATTEMPTS) only this soon after the label began: the new
#: attempt's calls may stall as the first one's could, so a later start would let a label outlast the
#: bound below. Conflicts come after S3 answered, in well under a second when nothing stalls.
CONFLICT_RETRY_SECONDS = 5
#: The longest one label takes before it ends in a label or an error: its last attempt begun within
#: CONFLICT_RETRY_SECONDS, then each of that attempt's S3 calls and body reads stalling until
#: FUNCTION_S3_CONFIG gives up, and the slowest accepted photo. A bound: an archived label has no body to
#: read (5 calls and 1 read, or 4 and 2). The queue function begins a message only with this and
#: TIMEOUT_MARGIN_SECONDS left.
WORST_LABEL_SECONDS = (
    CONFLICT_RETRY_SECONDS
    + S3_CALLS_PER_LABEL * S3_ATTEMPTS * (S3_CONNECT_SECONDS + S3_READ_SECONDS)
    + S3_BODY_READS_PER_LABEL * S3_READ_SECONDS
    + SLOWEST_PHOTO_SECONDS
)
#: What the labelling functions' timeouts (template.yaml) add to WORST_LABEL_SECONDS: the slowest photo
#: is a measurement at 640 MB, not a bound, and the handler still logs and flushes its metrics after it.
TIMEOUT_MARGIN_SECONDS = 20
#: Errors that depend on a setting (MAX_IMAGE_BYTES, MAX_PIXELS) as well as on the object: never current,
#: so that raising the limit and asking again labels the photo.
SETTING_ERRORS = frozenset({"too_large", "too_many_pixels"})


def _c_malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl, Windows)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError, TypeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_MALLOC_TRIM = _c_malloc_trim()


def release_free_memory() -> None:
    """Hand the memory a label freed back to the system (glibc's ``malloc_trim(0)``; about a millisecond).

    Once a large decode's buffer is freed, glibc raises its mmap threshold (up to 32 MiB) and its trim
    threshold (twice that), so later large buffers come from the heap, and stay resident when freed. A warm
    function labels photo after photo in one process: without this, up to 118 MB freed by earlier photos
    was still resident when the next began, and a sequence of the worst accepted photos peaked about 100 MB
    above any one of them in a fresh process (benchmarks/bench_memory.py, ``warm_sequence``).
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


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
        s3 = boto3.client("s3", config=FUNCTION_S3_CONFIG)
        return cls(s3, Classifier(model_path_from_env()), Settings.from_env())

    def label(self, bucket: str, key: str, *, etag: str | None = None, version_id: str | None = None) -> dict:
        """Classify the current version of ``s3://bucket/key`` and write its label JSON, unless the label
        is current: made from this object version (ETag and version id) by this release of the model
        (name, version and sha256: a release may change only the card's threshold).

        ``etag`` and ``version_id`` are what the triggering event or listing saw, if anything: when the
        existing label was made from them by this model, the duplicate costs one small GET and nothing is
        downloaded or rewritten. Returns the record, with ``"skipped": True`` (not stored) when nothing
        was written, and ``"gone": True`` besides when the object no longer exists and its label made
        before was kept, or ``"stale": True`` when the object is archived and its label, kept, is another
        model's.
        """
        seen = _Seen(_clean_etag(etag) if etag else None, version_id)
        return self._attempts(bucket, key, seen, pinned=False)

    def label_version(self, bucket: str, key: str, version_id: str) -> dict:
        """Classify exactly the version ``version_id`` of ``s3://bucket/key`` (a Batch Operations task
        that names ``s3VersionId``). Its label is written only while it is the key's current version:
        otherwise the record comes back with ``"superseded": True`` and the newer version's label stays.
        """
        return self._attempts(bucket, key, _Seen(None, version_id), pinned=True)

    def _attempts(self, bucket: str, key: str, seen: _Seen, *, pinned: bool) -> dict:
        try:
            return self._until_no_conflict(bucket, key, seen, pinned=pinned)
        finally:  # the photo's bytes and its decode are garbage by now
            release_free_memory()

    def _until_no_conflict(self, bucket: str, key: str, seen: _Seen, *, pinned: bool) -> dict:
        """A label is replaced only if it is still the one read: when another writer changed it meanwhile
        (two versions of one key labelled at once), read again and decide again, within the time that
        WORST_LABEL_SECONDS allows for it."""
        began, attempts = time.monotonic(), 1
        while True:
            try:
                return self._label_once(bucket, key, seen, pinned=pinned)
            except WriteConflict as conflict:
                if attempts == WRITE_ATTEMPTS or time.monotonic() - began >= CONFLICT_RETRY_SECONDS:
                    raise conflict.__cause__ from None  # the S3 error (412/409): a later retry can cure it
            attempts += 1

    def _label_once(self, bucket: str, key: str, seen: _Seen, *, pinned: bool) -> dict:
        job = _Job(self, bucket, key)
        label_key = self.settings.label_key(key)
        document, label_etag = read_json(self.s3, bucket, label_key)
        existing = document if is_sound_label(document, key) else None  # a damaged label is replaced
        if existing is not None and self._made_from(existing, seen):
            return {**existing, "skipped": True}

        version = {"VersionId": seen.version_id} if pinned else {}
        try:
            obj = self.s3.get_object(Bucket=bucket, Key=key, **version)
        except ClientError as exc:
            if is_not_found(exc):
                record = job.error("not_found", "the object no longer exists")
                if pinned:  # that version is gone: say so, and leave the key's label to its current version
                    return {**record, "superseded": True}
                if existing is not None and "error" not in existing:  # a result made before beats "gone";
                    return {**existing, "skipped": True, "gone": True}  # a job is still told it is gone
            elif is_archived(exc) or is_customer_encrypted(exc):
                record = _unreadable(job, exc)
                current = self._current_object(bucket, key)
                # an older version: the current one's label stays. A current version S3 will not describe
                # ({}: SSE-C) may be this one only if this one was refused as SSE-C too
                maybe_this = current == {} and is_customer_encrypted(exc)
                if pinned and not maybe_this and not _is_version(current, seen.version_id):
                    return {**record, "superseded": True}
                if existing is not None and "error" not in existing and _is_from(existing, current):
                    # made before a lifecycle rule archived this object: kept, and said to be stale when
                    # another model made it (a backfill cannot relabel it until it is restored)
                    stale = {} if self._by_this_model(existing) else {"stale": True}
                    return {**existing, "skipped": True, **stale}
            else:
                raise
            write_json(self.s3, bucket, label_key, record, replaces=label_etag)
            return record

        job.source = {
            "etag": _clean_etag(obj.get("ETag", "")),
            "version_id": obj.get("VersionId"),
            "size": obj.get("ContentLength", 0),
        }
        if existing is not None and self._made_from(
            existing, _Seen(job.source["etag"], job.source["version_id"]), exact=True
        ):
            obj["Body"].close()
            return {**existing, "skipped": True}

        record = job.classify(obj)
        if pinned and not self._is_current_version(bucket, key, job.source["version_id"]):
            return {**record, "superseded": True}
        write_json(self.s3, bucket, label_key, record, replaces=label_etag)
        return record

    def _made_from(self, label: dict, seen: _Seen, *, exact: bool = False) -> bool:
        """Whether ``label`` was made by this release of the model from the object version ``seen``
        names, and does not depend on a setting (``SETTING_ERRORS``). Unless ``exact`` (``seen`` is what
        S3 just answered), a part ``seen`` does not know is not compared."""
        if seen.etag is None and seen.version_id is None:
            return False
        source = label.get("source") or {}
        return (
            self._by_this_model(label)
            and label.get("error", {}).get("code") not in SETTING_ERRORS
            and (seen.etag is None or source.get("etag") == seen.etag)
            and ((seen.version_id is None and not exact) or source.get("version_id") == seen.version_id)
        )

    def _by_this_model(self, label: dict) -> bool:
        model = self.classifier.info
        return {name: label["model"].get(name) for name in model} == model

    def _is_current_version(self, bucket: str, key: str, version_id: str | None) -> bool:
        return _is_version(self._current_object(bucket, key), version_id)

    def _current_object(self, bucket: str, key: str) -> dict | None:
        """The HEAD of the key's current version; None when there is none (deleted: a delete marker is the
        current version), ``{}`` when S3 refuses it a bare 400: a current version written with a customer
        key (SSE-C), whose metadata S3 gives only to a request with that key."""
        try:
            return self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if is_not_found(exc):
                return None
            if exc.response.get("Error", {}).get("Code") == "400":
                return {}
            raise


def _unreadable(job: _Job, exc: ClientError) -> dict:
    """The error record of an object S3 will not hand over: archived (labelled again once restored: an
    error label is never current) or encrypted with a key only its writer has (SSE-C)."""
    if is_archived(exc):
        storage = exc.response["Error"].get("StorageClass", "an archive")
        return job.error("archived", f"the object is in {storage} storage: restore it, then label it")
    return job.error(
        "encrypted", "the object is encrypted with a customer-provided key (SSE-C): it cannot be read"
    )


def _is_version(head: dict | None, version_id: str | None) -> bool:
    return head is not None and head.get("VersionId") == version_id


def _is_from(label: dict, head: dict | None) -> bool:
    """Whether ``label`` was made from the object version ``head`` describes (its ETag and version id)."""
    source = label.get("source") or {}
    return (
        bool(head)
        and source.get("etag") == _clean_etag(head.get("ETag", ""))
        and source.get("version_id") == head.get("VersionId")
    )


@dataclass(frozen=True)
class _Seen:
    """What a caller knows about the object version to label: its ETag and/or version id, or nothing."""

    etag: str | None
    version_id: str | None


def is_sound_label(document: object, key: str) -> bool:
    """Whether ``document`` is a label of ``key`` as this module writes them: a result (label, confidence,
    probabilities) or an error (with its code), with the model and the source it came from. Anything
    else at a label key (``[]``, ``{"source": "x"}``, another object's label) is damaged and replaced."""
    if not isinstance(document, dict) or document.get("key") != key:
        return False
    model, source, error = document.get("model"), document.get("source"), document.get("error")
    if not isinstance(model, dict) or not (source is None or isinstance(source, dict)):
        return False
    if "error" in document:
        return isinstance(error, dict) and isinstance(error.get("code"), str)
    return (
        isinstance(document.get("label"), str)
        and isinstance(document.get("confidence"), int | float)
        and isinstance(document.get("probabilities"), dict)
    )


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
            pixels = model_input(data, classifier.input_size, max_pixels=settings.max_pixels)
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
