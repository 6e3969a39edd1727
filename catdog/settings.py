"""Where results go, what input is accepted and where the model is: read from the environment that
``template.yaml`` gives each function, with the same defaults everywhere else.

Kept free of numpy, Pillow and LiteRT so that the web function, which loads no model, does not pay
for them at cold start.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from catdog.imagetypes import is_image_name

#: Where the model layer unpacks on Lambda. Elsewhere set ``MODEL_PATH`` or pass ``--model``.
LAMBDA_MODEL_PATH = "/opt/model"
#: Default pixel cap (width x height). A 180 px photo is 32 kpx, a 48 MP phone photo 48 Mpx;
#: anything bigger is refused before it is decoded, so a crafted file cannot exhaust memory.
DEFAULT_MAX_PIXELS = 50_000_000
#: S3's limit on a key, in UTF-8 bytes. A label key that would exceed it is hashed (``Settings.label_key``).
MAX_KEY_BYTES = 1024
#: The folder of a labels prefix that holds the labels of keys too long to mirror, named by a hash.
LONG_KEYS_FOLDER = "_long/"


@dataclass(frozen=True)
class Settings:
    """Defaults match ``template.yaml``."""

    uploads_prefix: str = "uploads/"
    labels_prefix: str = "labels/"
    #: Labels of objects outside ``uploads_prefix`` (bulk jobs), so they never share a key with an upload's.
    bulk_labels_prefix: str = "bulk-labels/"
    #: The stack's Batch Operations manifests, inventories and job reports (template.yaml sets it for
    #: its functions; elsewhere a folder named batch/ may well hold photos): never classified.
    batch_prefix: str | None = None
    #: The stack's ``ExistingBucketName``: a bucket made outside the stack, whose ``batch_prefix`` folder
    #: is photos like any other (the stack's job files are in its own bucket).
    existing_bucket: str | None = None
    max_image_bytes: int = 20 * 1024 * 1024
    max_pixels: int = DEFAULT_MAX_PIXELS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            uploads_prefix=env.get("UPLOADS_PREFIX", cls.uploads_prefix),
            labels_prefix=env.get("LABELS_PREFIX", cls.labels_prefix),
            bulk_labels_prefix=env.get("BULK_LABELS_PREFIX", cls.bulk_labels_prefix),
            batch_prefix=env.get("BATCH_PREFIX", cls.batch_prefix),
            existing_bucket=env.get("EXISTING_BUCKET_NAME") or cls.existing_bucket,  # "": none
            max_image_bytes=_count(env, "MAX_IMAGE_BYTES", cls.max_image_bytes),
            max_pixels=_count(env, "MAX_PIXELS", cls.max_pixels),
        )

    def __post_init__(self) -> None:
        for name, value in (("MAX_IMAGE_BYTES", self.max_image_bytes), ("MAX_PIXELS", self.max_pixels)):
            if value < 1:  # a limit of 0 would refuse every upload, silently, as "too large"
                raise ValueError(f"{name}={value}: a limit is a whole number of at least 1")
        prefixes = {
            "UPLOADS_PREFIX": self.uploads_prefix,
            "LABELS_PREFIX": self.labels_prefix,
            "BULK_LABELS_PREFIX": self.bulk_labels_prefix,
        }
        if self.batch_prefix is not None:
            prefixes["BATCH_PREFIX"] = self.batch_prefix
        for name, prefix in prefixes.items():
            others = [(n, p) for n, p in prefixes.items() if n != name]
            if not prefix or any(p.startswith(prefix) for _, p in others):
                raise ValueError(
                    f"{name}={prefix!r}: the uploads, labels, bulk labels (and batch) prefixes must be "
                    f"non-empty, and none may start with another ({dict(others)})"
                )

    def label_key(self, key: str) -> str:
        """Where the label of the object ``key`` is, for every writer and for the web API.

        An upload keeps its relative path under the labels prefix (``uploads/a/b c.jpg`` ->
        ``labels/a/b c.jpg.json``, the product's contract); any other key keeps its whole path under
        the bulk labels prefix (``archive/a.jpg`` -> ``bulk-labels/archive/a.jpg.json``), so an upload
        and a bulk object never share a label. A label key longer than S3 allows (1,024 UTF-8 bytes)
        becomes ``<prefix>_long/<sha256 of the whole key>.json``; so does a path that starts with
        ``_long/`` itself, so that no other key can land on a hashed one. The label holds the full key.
        """
        if key.startswith(self.uploads_prefix):
            prefix, relative = self.labels_prefix, key[len(self.uploads_prefix) :]
        else:
            prefix, relative = self.bulk_labels_prefix, key
        label_key = f"{prefix}{relative}.json"
        if len(label_key.encode()) <= MAX_KEY_BYTES and not relative.startswith(LONG_KEYS_FOLDER):
            return label_key
        return f"{prefix}{LONG_KEYS_FOLDER}{hashlib.sha256(key.encode()).hexdigest()}.json"

    def is_label(self, key: str) -> bool:
        """Whether ``key`` is one of our labels (an upload's or a bulk object's): never classified."""
        return key.startswith(self.labels_prefix) or key.startswith(self.bulk_labels_prefix)

    def never_labelled(self, key: str, bucket: str | None = None) -> str | None:
        """Why ``key`` (in ``bucket``; None: the stack's) gets no label, whichever path asks: one of our
        labels (so writes cannot recurse), a Batch Operations manifest, inventory or report, outside the
        ``existing_bucket`` (a backfill over an inventory of the whole bucket lists them), or a folder
        marker (``uploads/2024/``, what the S3 console's "Create folder" writes); else None."""
        if self.is_label(key):
            return "a label, not a photo"
        job_files = bucket is None or bucket != self.existing_bucket
        if self.batch_prefix and key.startswith(self.batch_prefix) and job_files:
            return "a batch job's manifest or report, not a photo"
        if key.endswith("/"):
            return "a folder marker, not a photo"
        return None

    def is_upload(self, key: str) -> bool:
        """Whether an event for ``key`` should be labelled: under the uploads prefix, and not a key that
        is ``never_labelled``."""
        return key.startswith(self.uploads_prefix) and self.never_labelled(key) is None

    def is_photo(self, key: str, bucket: str | None = None) -> bool:
        """Whether a bulk job should classify ``key``: an image name that is not ``never_labelled``."""
        return is_image_name(key) and self.never_labelled(key, bucket) is None


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, str(default)).strip()
    if not (text.isascii() and text.isdigit()):  # "²" and "٣" are digits to str.isdigit, not to int()
        raise ValueError(f"{name}={text!r}: a limit is a whole number of at least 1")
    return int(text)


def model_path_from_env(default: str | os.PathLike | None = LAMBDA_MODEL_PATH) -> Path | None:
    """``MODEL_PATH`` if set, else ``default``."""
    value = os.environ.get("MODEL_PATH") or default
    return None if value is None else Path(value)
