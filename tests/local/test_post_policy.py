"""The embedded S3's POST policy check against policies that boto3 signs, as the web API's are signed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.config import Config

from local.post_policy import PolicyViolation, check_post_policy

SECRET = "unit-test-secret"
BUCKET = "photos"


def signed_form(conditions: list, fields: dict | None = None, expires_in: int = 60) -> dict:
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key=SECRET,
        config=Config(signature_version="s3v4"),
    )
    post = s3.generate_presigned_post(
        BUCKET, "uploads/a.jpg", Fields=fields, Conditions=conditions, ExpiresIn=expires_in
    )
    return post["fields"]


def refusal(form: dict, size: int = 10, **kwargs) -> str:
    with pytest.raises(PolicyViolation) as refused:
        check_post_policy(form, kwargs.pop("bucket", BUCKET), size, SECRET, **kwargs)
    return refused.value.code


def test_given_a_starts_with_condition_when_the_field_matches_then_it_passes_and_otherwise_not():
    form = signed_form([["starts-with", "$Content-Type", "image/"]], {"Content-Type": "image/png"})

    check_post_policy(form, BUCKET, 10, SECRET)
    assert refusal({**form, "Content-Type": "text/html"}) == "AccessDenied"


def test_given_a_size_range_when_the_file_is_outside_then_too_large_or_too_small():
    form = signed_form([["content-length-range", 5, 100]])

    check_post_policy(form, BUCKET, 100, SECRET)
    assert refusal(form, size=101) == "EntityTooLarge"
    assert refusal(form, size=4) == "EntityTooSmall"


def test_given_an_expired_policy_when_checked_then_access_is_denied():
    form = signed_form([], expires_in=60)
    assert refusal(form, now=datetime.now(UTC) + timedelta(minutes=2)) == "AccessDenied"


def test_given_a_field_the_policy_does_not_mention_when_checked_then_access_is_denied():
    assert refusal({**signed_form([]), "acl": "public-read"}) == "AccessDenied"


def test_given_another_bucket_or_no_policy_when_checked_then_access_is_denied():
    assert refusal(signed_form([]), bucket="elsewhere") == "AccessDenied"
    assert refusal({"key": "uploads/a.jpg"}) == "AccessDenied"
