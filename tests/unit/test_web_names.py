"""Upload keys built from what a browser says a file is called: safe, bounded, with the right suffix."""

from __future__ import annotations

import pytest

from catdog.web.api import MAX_NAME_CHARS, safe_name


@pytest.mark.parametrize(
    ("filename", "media_type", "expected"),
    [
        ("IMG_1234.JPG", "image/jpeg", "IMG_1234.jpg"),  # phones: upper-case suffixes miss S3 filters
        ("whiskers.jpeg", "image/jpeg", "whiskers.jpeg"),
        ("My cat + ça.png", "image/png", "My cat + ça.png"),
        ("../../etc/passwd.png", "image/png", "passwd.png"),
        ("C:\\Users\\me\\dog.webp", "image/webp", "dog.webp"),
        ("cat.png", "image/jpeg", "cat.png.jpg"),  # the suffix follows the type S3 will store
        ("tab\tand\nnewline.gif", "image/gif", "tabandnewline.gif"),
        ("", "image/bmp", "photo.bmp"),
        ("...", "image/jpeg", "photo.jpg"),
        ("${filename}.jpg", "image/jpeg", "{filename}.jpg"),  # S3 substitutes it in POST form keys
        ("$\u200b{filename}.jpg", "image/jpeg", "{filename}.jpg"),  # a "${" once the cleaning is done
        ("$${filename}.jpg", "image/jpeg", "{filename}.jpg"),  # a "${" once one "${" is replaced
    ],
)
def test_given_a_browser_file_name_when_made_safe_then_it_is_one_clean_key_part(
    filename, media_type, expected
):
    assert safe_name(filename, media_type) == expected


def test_given_a_very_long_name_when_made_safe_then_it_is_cut_but_keeps_its_suffix():
    name = safe_name("a" * 500 + ".jpg", "image/jpeg")
    assert len(name) == MAX_NAME_CHARS and name.endswith("a.jpg")
