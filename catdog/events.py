"""The S3 objects an event is about, whichever way S3 delivered it.

S3 event notifications (to Lambda directly, or as an SQS message body) and EventBridge "Object
Created" events carry the same facts in two shapes. Keys arrive URL-encoded (``a b+c.jpg`` becomes
``a+b%2Bc.jpg``) and powertools' ``S3Event`` records hand them over raw, so every handler gets them
decoded here, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, S3EventBridgeNotificationEvent

EVENTBRIDGE_CREATED = "Object Created"


@dataclass(frozen=True)
class S3ObjectEvent:
    bucket: str
    key: str
    etag: str | None
    event_name: str
    #: in a versioned bucket, the version the event is about
    version_id: str | None = None

    @property
    def created(self) -> bool:
        """Only a new object is worth a label; deletions, restores and tier changes are not."""
        return self.event_name.startswith("ObjectCreated") or self.event_name == EVENTBRIDGE_CREATED


def s3_objects(event: Mapping) -> list[S3ObjectEvent]:
    """Every object in an S3 notification or an EventBridge S3 event; nothing for other shapes."""
    if "Records" in event:
        return [
            S3ObjectEvent(
                bucket=record.s3.bucket.name,
                key=unquote_plus(record.s3.get_object.key),
                etag=record.s3.get_object.etag or None,
                event_name=record.event_name,
                version_id=record.s3.get_object.version_id or None,
            )
            for record in S3Event(dict(event)).records
            if "s3" in record
        ]
    if event.get("source") == "aws.s3" and "detail" in event:
        bridge = S3EventBridgeNotificationEvent(dict(event))
        return [
            S3ObjectEvent(
                bucket=bridge.detail.bucket.name,
                key=bridge.detail.object.key,  # powertools decodes EventBridge keys itself
                etag=bridge.detail.object.etag or None,
                event_name=bridge.detail_type,
                version_id=bridge.detail.object.get("version-id") or None,
            )
        ]
    return []
