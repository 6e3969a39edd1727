"""What the upload page's API does, independent of the server that routes to it.

The browser never sends a photo through this API: it asks for a presigned POST and uploads straight to
S3, whose POST policy enforces the size limit and the content type, so the web function stays tiny and
cheap whatever the photo size. The label is then read back from ``labels/<key>.json``, written by the
classify function when S3 notifies it.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from importlib import resources
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from catdog.imagetypes import BY_MEDIA_TYPE, IMAGE_TYPES, SUFFIXES, TYPE_NAMES
from catdog.settings import Settings
from catdog.storage import read_json

#: How long a presigned POST stays valid: an hour lets a 20 MB photo through a 6 kB/s phone link (600 s
#: refused one at 29 kB/s); short enough that a leaked form soon expires.
UPLOAD_EXPIRES_SECONDS = 3600
MAX_NAME_CHARS = 120
#: The longest ``filename`` an upload request may send: a file system's names stop at 255 bytes, and
#: Unicode normalisation (``clean_name``) is quadratic in a run of combining marks: a 200 kB name of them
#: took 19 s, past the web function's 10 s timeout.
MAX_FILENAME_CHARS = 1024

ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


class ApiError(Exception):
    """A request the API refuses, with the HTTP status and the JSON the page shows."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def as_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


def create_upload(s3, bucket: str, request: object, settings: Settings) -> dict:
    """A presigned POST for one photo: ``{"url", "fields", "key", "max_bytes", "expires_in"}``.

    ``request`` is the parsed JSON body, ``{"filename", "content_type"}``. The key gets a random folder
    so that uploads never overwrite each other and S3 spreads them over partitions.
    """
    if not isinstance(request, dict):
        raise ApiError(400, "bad_request", 'send a JSON object {"filename": ..., "content_type": ...}')
    filename, content_type = request.get("filename"), request.get("content_type")
    if not isinstance(filename, str) or not isinstance(content_type, str):
        raise ApiError(400, "bad_request", '"filename" and "content_type" must both be strings')
    if len(filename) > MAX_FILENAME_CHARS:
        raise ApiError(400, "bad_request", f'"filename" may be {MAX_FILENAME_CHARS:,} characters at most')
    media_type = content_type.split(";")[0].strip().lower()
    kind = BY_MEDIA_TYPE.get(media_type)
    if kind is None:
        # an iPhone's HEIC is a photo too, of a type not read here: it is told so, not "not a photo"
        what = "an image of a type not read here" if media_type.startswith("image/") else "not a photo"
        raise ApiError(
            415,
            "not_an_image",
            f"{shown(filename) or 'the file'} is {shown(media_type) or 'of an unknown type'}, {what}: "
            f"choose a {TYPE_NAMES} image.",
        )
    media_type = kind.media_type  # image/jpg is signed and stored as image/jpeg, the one S3 serves back
    key = f"{settings.uploads_prefix}{uuid.uuid4().hex}/{safe_name(filename, media_type)}"
    post = s3.generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields={"Content-Type": media_type},
        Conditions=[
            {"Content-Type": media_type},
            ["content-length-range", 1, settings.max_image_bytes],
        ],
        ExpiresIn=UPLOAD_EXPIRES_SECONDS,
    )
    return {
        "url": post["url"],
        "fields": post["fields"],
        "key": key,
        "max_bytes": settings.max_image_bytes,
        "expires_in": UPLOAD_EXPIRES_SECONDS,
    }


def shown(text: str) -> str:
    """``text`` as an error message may quote it: at most ``MAX_NAME_CHARS`` characters. Quoted whole,
    a 2 MB name of emoji came back as 6 MB of JSON escapes (12 bytes for each 4-byte emoji), past
    Lambda's 6 MB response limit: API Gateway's own 500 instead of the API's 415."""
    return text if len(text) <= MAX_NAME_CHARS else f"{text[: MAX_NAME_CHARS - 1]}…"


def safe_name(filename: str, media_type: str) -> str:
    """The last path part of ``filename``, printable, bounded, and ending in its type's suffix.

    Spaces, ``+`` and non-ASCII letters are kept (the pipeline handles them); path separators, control
    characters and a misleading or upper-case suffix are not; nor is ``${``: S3 replaces ``${filename}``
    in a POST form's key with the name the browser sends, which would store the photo under a key the
    page never polls.
    """
    # "${" replaced once the name is clean: "$\u200b{" would become "${" when the cleaning removes the space;
    # every "$" before a "{" goes, or "$${" would leave one "${"
    name = re.sub(r"\$+\{", "{", clean_name(re.split(r"[\\/]", filename)[-1]))
    path, suffixes = PurePosixPath(name), BY_MEDIA_TYPE[media_type].suffixes
    if path.suffix.lower() in suffixes:
        stem, suffix = path.stem, path.suffix.lower()
    else:
        stem, suffix = name, suffixes[0]
    return f"{stem[: MAX_NAME_CHARS - len(suffix)].strip(' .') or 'photo'}{suffix}"


def clean_name(text: str) -> str:
    """``text`` as one printable name: NFC (as a Mac types it or not, one name), without control or format
    characters (a line break, a zero-width space), nor spaces or dots at either end."""
    text = unicodedata.normalize("NFC", text)
    return "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip(" .")


def read_label(s3, bucket: str, key: str, settings: Settings) -> dict:
    """The label JSON of the upload ``key``; a 404 ``pending`` error until the classifier wrote it.

    Only labels of uploads are served (other keys' labels live under another prefix), and only a label
    that names ``key`` itself: anything else at that label key (a label written for another object by
    an older release, a damaged document) is answered exactly like no label, so it neither leaks nor
    tells whether it exists.
    """
    if not key:
        raise ApiError(400, "bad_request", "the key query parameter is required")
    if not key.startswith(settings.uploads_prefix) or len(key) == len(settings.uploads_prefix):
        raise ApiError(400, "bad_key", f"labels exist only for keys under {settings.uploads_prefix}")
    label, _ = read_json(s3, bucket, settings.label_key(key))
    if not isinstance(label, dict) or label.get("key") != key:
        raise ApiError(404, "pending", f"no label for {key} yet")
    return label


def health(bucket: str, settings: Settings) -> dict:
    """What the page needs to check a photo before uploading it."""
    return {
        "status": "ok",
        "bucket": bucket,
        "max_bytes": settings.max_image_bytes,
        "image_types": [kind.media_type for kind in IMAGE_TYPES],
        "type_names": TYPE_NAMES,
        # the file picker's accept list: media types for browsers that know them, suffixes for the rest
        "accept": ",".join([kind.media_type for kind in IMAGE_TYPES] + list(SUFFIXES)),
    }


def page_policy(upload_origin: str) -> str:
    """The page's Content-Security-Policy: it runs only its own script and style and talks only to its
    API and to the bucket its uploads are presigned for, so that a script slipped into it (a file name
    shown unescaped some day) could neither run nor send a photo elsewhere; no other site may frame it."""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob:",  # the thumbnails are the chosen files themselves
            f"connect-src 'self' {upload_origin}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def asset(name: str) -> tuple[bytes, str]:
    """One file of the static page and its content type; only the files the page is made of."""
    if name not in ASSETS:
        raise ApiError(404, "not_found", f"no such page: {name}")
    return resources.files("catdog.web").joinpath("static", name).read_bytes(), ASSETS[name]
