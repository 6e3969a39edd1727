"""Turn what a user names (files, folders, ``s3://bucket/prefix``) into the images to classify.

Shared by ``catdog classify`` and ``catdog enqueue`` so both walk an S3 prefix the same way: paginated,
accepted image names only (``catdog.imagetypes``), and never our labels (``labels/``, ``bulk-labels/``):
classifying our own results would be garbage and, behind a queue, an endless loop.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.exceptions import ConnectionError as EndpointError

from catdog.imagetypes import is_image_name
from catdog.settings import Settings


class UsageError(ValueError):
    """The user asked for something malformed (exit code 2), as opposed to an image that failed."""


#: botocore's errors of not reaching an endpoint at all, its retries spent: refused, no such host, timed
#: out, cut off mid-answer. Not an answer about one bucket or object (a ``ClientError``: NoSuchKey,
#: AccessDenied), nor a photo that does not decode.
CONNECTION_ERRORS = (EndpointError, HTTPClientError)
#: No credentials, region or profile: a setting of this machine, which every prefix would meet alike.
SETUP_ERRORS = (NoCredentialsError, PartialCredentialsError, NoRegionError, ProfileNotFound)


class Unreachable(Exception):
    """An endpoint that could not be reached before anything was done (exit code 2, as for a bad
    setting: nothing was classified or sent, and the cause is the environment, not an image)."""


@dataclass(frozen=True)
class S3Ref:
    bucket: str
    key: str
    #: The listing's ETag: a re-run skips an object whose label already records it, without a download.
    etag: str | None = None

    @property
    def path(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Missing:
    """A named path that yields nothing to classify: reported as one failed line, never raised."""

    path: str
    code: str
    message: str


Item = Path | S3Ref | Missing


#: What the AWS SDK lets through as a bucket name (new buckets are stricter; old ones in us-east-1 may
#: hold capitals and underscores): checked before any request, so a typo is a usage error, not a failure.
BUCKET_NAME = re.compile(r"[A-Za-z0-9._-]{1,255}")


#: A missing local path that was meant as an S3 prefix (``S3://``, ``s3:/``): told how to write one.
LIKE_S3 = re.compile(r"s3:/", re.IGNORECASE)


def check_bucket_name(bucket: str) -> str:
    if not BUCKET_NAME.fullmatch(bucket):
        raise UsageError(f"{bucket!r} is not a bucket name (letters, digits, '.', '-' and '_' only)")
    return bucket


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``."""
    if not url.startswith("s3://"):
        raise UsageError(f"not an s3:// URL: {url}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise UsageError(f"no bucket in {url}")
    if printable(prefix, "replace") != prefix:  # bytes of another encoding kept as surrogates (os.fsdecode)
        raise UsageError(f"{printable(url)}: the prefix is not UTF-8 text, as every S3 key is")
    return check_bucket_name(bucket), prefix


def list_images(s3, bucket: str, prefix: str, settings: Settings) -> Iterator[S3Ref]:
    """Every image key under ``prefix``, page by page (1,000 keys a request), labels excluded."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", ()):
            key = obj["Key"]
            if settings.is_photo(key, bucket):
                yield S3Ref(bucket, key, obj.get("ETag"))


def expand(paths: Iterable[str], s3_factory, settings: Settings) -> Iterator[Item]:
    """Files as given (whatever their suffix), folders recursively (sorted, image names only), S3
    prefixes listed.

    ``s3_factory`` makes the S3 client only when an ``s3://`` path is named, so local runs need no
    AWS configuration at all.
    """
    s3 = None
    for path in paths:
        if path.startswith("s3://"):
            bucket, prefix = parse_s3_url(path)
            s3 = s3 or s3_factory()
            yield from _expand_s3(s3, bucket, prefix, path, settings)
        else:
            yield from _expand_local(path)


#: What a path that is there but no regular file is, for its row's message.
_FILE_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
}


def not_a_file(path: str, mode: int) -> Missing | None:
    """The row of a path that is there but is no regular file (``/dev/null``, a named pipe): it gives no
    image, as a missing one does."""
    if stat.S_ISREG(mode):
        return None
    what = _FILE_KINDS.get(stat.S_IFMT(mode), "not a file")
    return Missing(path, "not_a_file", f"not a regular file ({what})")


def _expand_local(path: str) -> Iterator[Path | Missing]:
    try:
        mode = os.stat(path).st_mode
        is_folder = stat.S_ISDIR(mode)
    except (FileNotFoundError, NotADirectoryError):
        hint = " (an S3 prefix is written s3://bucket/prefix)" if LIKE_S3.match(path) else ""
        yield Missing(path, "not_found", f"no such file or folder{hint}")
        return
    except OSError as exc:  # a folder on the way that this user may not enter, a loop of links
        yield Missing(path, "unreadable", f"cannot read it: {exc.strerror}")
        return
    if not is_folder:
        yield not_a_file(path, mode) or Path(path)
        return
    found = photos_in(Path(path))
    yield from found or [Missing(path, "no_images", "no image files in this folder")]


def printable(text: str, errors: str = "backslashreplace") -> str:
    """A path, or a message naming one, as UTF-8 text. A file name that is not valid UTF-8 keeps its bytes
    as surrogates (``os.fsdecode``), which no UTF-8 output takes: they become ``\\xff`` escapes (for a row
    or the terminal, which still name the file) or, with ``errors="replace"``, "\ufffd" (for a key)."""
    return os.fsencode(text).decode("utf-8", errors)


def photos_in(folder: Path, keep: Callable[[str], bool] = is_image_name) -> list[Path | Missing]:
    """Every file name under ``folder`` and its subfolders that ``keep`` accepts (an image name), sorted
    (``catdog classify DIR``, ``catdog serve --samples DIR`` and training's class folders find photos
    so): linked folders are followed (each real folder once), and a folder that cannot be read is a row
    of its own, never a silent gap. A name that is no file (a link to nothing) is kept, and its row
    says so."""
    found: list[Path | Missing] = []
    walked: set[str] = set()

    def unreadable(exc: OSError) -> None:
        found.append(Missing(exc.filename, "unreadable", f"cannot read this folder: {exc.strerror}"))

    for root, folders, files in os.walk(folder, onerror=unreadable, followlinks=True):
        real = os.path.realpath(root)
        if real in walked:  # a link back up the tree, or a second link to one folder
            folders.clear()
            continue
        walked.add(real)
        found += [Path(root, name) for name in files if keep(name)]
    return sorted(found, key=lambda item: Path(item.path) if isinstance(item, Missing) else item)


def _expand_s3(s3, bucket: str, prefix: str, url: str, settings: Settings) -> Iterator[Item]:
    """A prefix's images; a prefix S3 refuses to list (no such bucket, access denied) is one ``Missing``
    row, an endpoint that cannot be reached stops the run (``Unreachable``): every prefix would fail."""
    found = False
    try:
        for ref in list_images(s3, bucket, prefix, settings):
            found = True
            yield ref
    except CONNECTION_ERRORS as exc:
        raise Unreachable(f"cannot list {url}: {type(exc).__name__}: {exc}") from exc
    except SETUP_ERRORS:
        raise  # not a fact about this prefix: the command says it once
    except ClientError as exc:
        error = exc.response.get("Error", {})
        yield Missing(url, error.get("Code", "ClientError"), error.get("Message", str(exc)))
        return
    except BotoCoreError as exc:
        yield Missing(url, type(exc).__name__, str(exc))
        return
    if not found:
        yield Missing(url, "no_images", "no image objects under this prefix")
