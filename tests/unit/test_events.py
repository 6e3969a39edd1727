"""Which objects an S3 notification or an EventBridge S3 event is about, with keys decoded."""

from __future__ import annotations

from conftest import load_event as sample

from catdog.events import S3ObjectEvent, s3_objects


def test_given_an_s3_put_event_when_parsed_then_bucket_key_and_etag_are_read():
    (obj,) = s3_objects(sample("s3-put.json"))

    assert obj == S3ObjectEvent(
        bucket="catdog-photos",
        key="uploads/pets/whiskers.jpg",
        etag="5d41402abc4b2a76b9719d911017c592",
        event_name="ObjectCreated:Put",
    )
    assert obj.created


def test_given_an_url_encoded_key_when_parsed_then_spaces_plus_and_unicode_are_restored():
    (obj,) = s3_objects(sample("s3-put-special-key.json"))

    assert obj.key == "uploads/my pets/Rex + Minou été 🐶.jpg"


def test_given_an_eventbridge_object_created_event_when_parsed_then_it_reads_like_a_notification():
    (bridge,) = s3_objects(sample("eventbridge-object-created.json"))
    (notification,) = s3_objects(sample("s3-put.json"))

    assert (bridge.bucket, bridge.key, bridge.etag) == (
        notification.bucket,
        notification.key,
        notification.etag,
    )
    assert bridge.created


def test_given_events_from_a_versioned_bucket_when_parsed_then_the_version_is_read_from_both_shapes():
    notification, bridge = sample("s3-put.json"), sample("eventbridge-object-created.json")
    notification["Records"][0]["s3"]["object"]["versionId"] = "v-2"
    bridge["detail"]["object"]["version-id"] = "v-2"

    assert [obj.version_id for event in (notification, bridge) for obj in s3_objects(event)] == ["v-2", "v-2"]
    assert s3_objects(sample("s3-put.json"))[0].version_id is None  # an unversioned bucket's event


def test_given_a_removal_when_parsed_then_the_object_is_not_a_new_upload():
    event = sample("s3-put.json")
    event["Records"][0]["eventName"] = "ObjectRemoved:Delete"

    (obj,) = s3_objects(event)

    assert not obj.created


def test_given_an_s3_test_event_or_an_unrelated_payload_when_parsed_then_there_is_no_object():
    s3_test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "catdog-photos"}

    assert s3_objects(s3_test_event) == []
    assert s3_objects({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}) == []
