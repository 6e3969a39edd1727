"""The image types catdog accepts: one list for every place that decides what a photo is.

The CLI's folder and prefix walk, the classify function's check of an upload's name, the upload page's
file picker and API, and the decoder's format allowlist all read ``IMAGE_TYPES``, so a type is added or
dropped in one line. Names are matched case-insensitively (``.JPG`` and ``.Jpg`` are JPEG too).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageType:
    media_type: str
    #: the suffix a new upload's key gets, then the other suffixes that mean the same type
    suffixes: tuple[str, ...]
    #: Pillow's name of the format; a file of another format is refused even with a good suffix
    pillow_format: str
    name: str
    #: other media types clients send for it (``image/jpg``, ``image/pjpeg``): accepted, and an upload is
    #: stored and signed under ``media_type``
    aliases: tuple[str, ...] = ()


IMAGE_TYPES: tuple[ImageType, ...] = (
    ImageType("image/jpeg", (".jpg", ".jpeg", ".jpe"), "JPEG", "JPEG", ("image/jpg", "image/pjpeg")),
    ImageType("image/png", (".png",), "PNG", "PNG"),
    ImageType("image/webp", (".webp",), "WEBP", "WebP"),
    ImageType("image/gif", (".gif",), "GIF", "GIF"),
    ImageType("image/bmp", (".bmp",), "BMP", "BMP"),
    ImageType("image/tiff", (".tif", ".tiff"), "TIFF", "TIFF"),
)

#: each type by its media type and by each of its aliases
BY_MEDIA_TYPE: dict[str, ImageType] = {
    name: kind for kind in IMAGE_TYPES for name in (kind.media_type, *kind.aliases)
}
SUFFIXES: tuple[str, ...] = tuple(suffix for kind in IMAGE_TYPES for suffix in kind.suffixes)
PILLOW_FORMATS: tuple[str, ...] = tuple(kind.pillow_format for kind in IMAGE_TYPES)
#: "JPEG, PNG, WebP, GIF, BMP or TIFF", for messages
TYPE_NAMES = ", ".join(kind.name for kind in IMAGE_TYPES[:-1]) + f" or {IMAGE_TYPES[-1].name}"


def is_image_name(name: str) -> bool:
    """Whether a file or key name ends in an accepted suffix, in any case."""
    return name.lower().endswith(SUFFIXES)


def type_of_name(name: str) -> ImageType | None:
    """The image type a file or key name's suffix says, in any case; None for another suffix."""
    return next((kind for kind in IMAGE_TYPES if name.lower().endswith(kind.suffixes)), None)
