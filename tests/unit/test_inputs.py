"""What ``catdog classify`` and ``catdog enqueue`` make of the paths a user names."""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from catdog.inputs import Missing, UsageError, expand, list_images, parse_s3_url
from catdog.settings import Settings


def no_s3():
    raise AssertionError("local paths must not create an S3 client")


def test_given_files_folders_and_a_missing_path_when_expanded_then_images_in_order_and_one_missing(
    tmp_path, cat_photos
):
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    shutil.copy(cat_photos[0], tmp_path / "b" / "deep" / "z.JPEG")
    shutil.copy(cat_photos[1], tmp_path / "b" / "a.jpg")
    (tmp_path / "b" / "notes.txt").write_text("skipped in a folder walk")
    explicit = tmp_path / "photo.dat"
    shutil.copy(cat_photos[2], explicit)

    items = list(
        expand(
            [str(tmp_path / "b"), str(explicit), str(tmp_path / "gone"), str(tmp_path / "empty")],
            no_s3,
            Settings(),
        )
    )

    assert items[:3] == [tmp_path / "b" / "a.jpg", tmp_path / "b" / "deep" / "z.JPEG", Path(explicit)]
    assert [(m.code, Path(m.path).name) for m in items[3:]] == [("not_found", "gone"), ("no_images", "empty")]
    assert all(isinstance(m, Missing) for m in items[3:])


@pytest.mark.parametrize("url", ["s3://", "s3:///key", "https://bucket/key"])
def test_given_a_malformed_s3_url_when_parsed_then_a_usage_error(url):
    with pytest.raises(UsageError):
        parse_s3_url(url)


def test_given_more_than_a_page_of_keys_when_listed_then_every_image_but_no_labels(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="photos-b")
        for i in range(1005):
            s3.put_object(Bucket="photos-b", Key=f"photos/{i:04d}.jpg", Body=b"x")
        s3.put_object(Bucket="photos-b", Key="photos/readme.md", Body=b"x")
        s3.put_object(Bucket="photos-b", Key="labels/photos/0001.jpg", Body=b"x")

        whole_bucket = list(list_images(s3, "photos-b", "", Settings()))

    assert len(whole_bucket) == 1005
    assert (whole_bucket[0].bucket, whole_bucket[0].key) == ("photos-b", "photos/0000.jpg")
    assert whole_bucket[0].etag  # carried into messages so that a re-run skips labelled objects
    assert all(not ref.key.startswith("labels/") for ref in whole_bucket)
