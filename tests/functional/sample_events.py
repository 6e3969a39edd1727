"""The sample events of ``events/`` (the files ``sam local invoke -e`` takes), aimed at a test bucket."""

from __future__ import annotations

from urllib.parse import quote_plus, unquote_plus

from conftest import load_event


def sample_event(name: str, bucket: str, key: str | None = None, etag: str | None = None) -> dict:
    """``events/<name>`` for ``bucket``; ``key`` (plain text, encoded here as S3 does) and ``etag``
    replace the sample's own when given."""
    event = load_event(name)
    objects = []
    for record in event.get("Records", []):
        record["s3"]["bucket"] = {**record["s3"]["bucket"], "name": bucket, "arn": f"arn:aws:s3:::{bucket}"}
        objects.append((record["s3"]["object"], "eTag"))
    if "detail" in event:
        event["detail"]["bucket"]["name"] = bucket
        objects.append((event["detail"]["object"], "etag"))
    for obj, etag_field in objects:
        if key is not None:
            obj["key"] = quote_plus(key, safe="/")
        if etag is not None:
            obj[etag_field] = etag
    return event


def event_key(event: dict) -> str:
    """The plain key of the event's (first) object."""
    obj = event["Records"][0]["s3"]["object"] if "Records" in event else event["detail"]["object"]
    return unquote_plus(obj["key"])
