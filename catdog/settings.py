"""Where results go, what input is accepted and where the model is: read from the environment that
``template.yaml`` gives each function, with the same defaults everywhere else.

Kept free of numpy, Pillow and LiteRT so that the web function, which loads no model, does not pay
for them at cold start.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Settings:
    """Defaults match ``template.yaml``."""

    uploads_prefix: str = "uploads/"
    labels_prefix: str = "labels/"
    max_image_bytes: int = 20 * 1024 * 1024
    max_pixels: int = DEFAULT_MAX_PIXELS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
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

    def is_photo(self, key: str) -> bool:
        """Whether a bulk job should classify ``key``: an accepted image name, never one of our labels."""
        return is_image_name(key) and not self.is_label(key)


def model_path_from_env(default: str | os.PathLike | None = LAMBDA_MODEL_PATH) -> Path | None:
    """``MODEL_PATH`` if set, else ``default``."""
    value = os.environ.get("MODEL_PATH") or default
    return None if value is None else Path(value)
