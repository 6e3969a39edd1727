"""What ``catdog classify`` and ``catdog enqueue`` make of the paths a user names."""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3
import pytest
from conftest import AS_A_USER
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


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("S3://bucket/uploads/", "no such file or folder (an S3 prefix is written s3://bucket/prefix)"),
        ("s3:/bucket/uploads/", "no such file or folder (an S3 prefix is written s3://bucket/prefix)"),
        ("gone/cat.jpg", "no such file or folder"),
    ],
)
def test_given_a_missing_path_like_an_s3_prefix_when_expanded_then_its_row_says_how_to_write_one(
    path, message, tmp_path, monkeypatch
):
    # GIVEN a path that names nothing here, written like an S3 prefix or not
    monkeypatch.chdir(tmp_path)

    # WHEN it is expanded (no S3 client is made: it is not an s3:// path)
    (item,) = expand([path], no_s3, Settings())

    # THEN it is one not_found row, and the S3-like one tells the spelling S3 prefixes need
    assert (item.code, item.message) == ("not_found", message)


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


def test_given_the_stacks_batch_prefix_when_buckets_are_listed_then_only_its_own_batch_folder_is_left_out(
    monkeypatch,
):
    # GIVEN the stack's settings (its functions' environment) and a photo under batch/ in two buckets
    settings = Settings.from_env({"BATCH_PREFIX": "batch/", "EXISTING_BUCKET_NAME": "photo-archive"})
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3")
        for bucket in ("catdog-photos", "photo-archive"):
            s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key="batch/2019/cat.jpg", Body=b"x")

        # WHEN each bucket is listed for a bulk run
        listed = {
            bucket: list(list_images(s3, bucket, "", settings))
            for bucket in ("catdog-photos", "photo-archive")
        }

    # THEN the stack's batch/ holds its jobs' files; another bucket's batch/ is photos
    assert listed["catdog-photos"] == []
    assert [ref.key for ref in listed["photo-archive"]] == ["batch/2019/cat.jpg"]


def test_given_linked_folders_a_loop_and_a_dangling_link_when_expanded_then_each_photo_once_none_dropped(
    tmp_path, cat_photos
):
    photos = tmp_path / "elsewhere"
    photos.mkdir()
    shutil.copy(cat_photos[0], photos / "a.jpg")
    walked = tmp_path / "walked"
    walked.mkdir()
    (walked / "linked").symlink_to(photos)  # a folder of links to the real data, as data sets are made
    (walked / "again").symlink_to(photos)
    (walked / "loop").symlink_to(walked)  # a link back up the tree
    (walked / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")

    items = list(expand([str(walked)], no_s3, Settings()))

    assert items == [walked / "again" / "a.jpg", walked / "gone.jpg"]


def test_given_a_folder_and_a_file_this_user_may_not_read_when_expanded_then_each_is_an_unreadable_row(
    tmp_path, cat_photos
):
    """A locked folder was walked as empty, silently, and a photo inside it was "not_found"."""
    import subprocess
    import sys

    (tmp_path / "open" / "locked").mkdir(parents=True)
    shutil.copy(cat_photos[0], tmp_path / "open" / "a.jpg")
    shutil.copy(cat_photos[1], tmp_path / "open" / "locked" / "x.jpg")
    (tmp_path / "open" / "locked").chmod(0o000)
    script = (
        "import sys; from catdog.inputs import expand; from catdog.settings import Settings\n"
        "for item in expand(sys.argv[1:], None, Settings()):\n"
        "    print(getattr(item, 'code', 'photo'), getattr(item, 'path', item))\n"
    )
    named = [str(tmp_path / "open"), str(tmp_path / "open" / "locked" / "x.jpg")]
    try:
        result = subprocess.run(
            [*AS_A_USER, sys.executable, "-c", script, *named],
            cwd=Path(__file__).parents[2],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    finally:
        (tmp_path / "open" / "locked").chmod(0o755)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"photo {tmp_path}/open/a.jpg",
        f"unreadable {tmp_path}/open/locked",
        f"unreadable {tmp_path}/open/locked/x.jpg",
    ]
