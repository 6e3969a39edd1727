"""``send_message_batch`` partial failures: retried when SQS can cure them, reported when it cannot;
and the region a queue URL names.

moto never fails an entry, so these use a recording stand-in that answers like SQS does.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import EndpointConnectionError

from catdog.enqueue import EnqueueReport, enqueue, message_body, queue_region, send_batch
from catdog.inputs import S3Ref


class FlakySQS:
    """Fails the entries whose key is in ``fail`` (``times`` calls in a row), like SQS would."""

    def __init__(self, fail: dict[str, tuple[bool, int]]):
        self.fail = fail
        self.calls: list[list[str]] = []
        self.bodies: list[dict] = []

    def send_message_batch(self, QueueUrl, Entries):
        self.bodies += [json.loads(e["MessageBody"]) for e in Entries]
        keys = [body["key"] for body in self.bodies[-len(Entries) :]]
        self.calls.append(keys)
        successful, failed = [], []
        for entry, key in zip(Entries, keys, strict=True):
            sender_fault, times = self.fail.get(key, (False, 0))
            if times > 0:
                self.fail[key] = (sender_fault, times - 1)
                failed.append(
                    {"Id": entry["Id"], "SenderFault": sender_fault, "Code": "Boom", "Message": "x"}
                )
            else:
                successful.append({"Id": entry["Id"], "MessageId": key})
        return {"Successful": successful, "Failed": failed}


def refs(n: int) -> list[S3Ref]:
    return [S3Ref("bucket", f"uploads/{i}.jpg") for i in range(n)]


def test_given_23_objects_when_enqueued_then_three_requests_of_at_most_ten():
    sqs = FlakySQS({})

    report = enqueue(sqs, "url", refs(23))

    assert [len(call) for call in sqs.calls] == [10, 10, 3]
    assert (report.sent, report.failed) == (23, [])
    assert sqs.bodies[0] == {"bucket": "bucket", "key": "uploads/0.jpg"}


def test_given_a_server_side_failure_when_sent_then_only_that_entry_is_retried():
    sqs = FlakySQS({"uploads/3.jpg": (False, 2)})

    sent, failed = send_batch(sqs, "url", refs(5), backoff=0)

    assert (sent, failed) == (5, [])
    assert sqs.calls[1:] == [["uploads/3.jpg"], ["uploads/3.jpg"]]


def test_given_a_sender_fault_or_endless_failures_when_sent_then_they_are_reported_not_lost():
    sqs = FlakySQS({"uploads/1.jpg": (True, 1), "uploads/2.jpg": (False, 99)})

    sent, failed = send_batch(sqs, "url", refs(4), retries=2, backoff=0)

    assert sent == 2
    assert sorted((ref.key, reason) for ref, reason in failed) == [
        ("uploads/1.jpg", "Boom: x"),
        ("uploads/2.jpg", "Boom: x"),
    ]
    assert len(sqs.calls) == 3


def test_given_the_endpoint_lost_while_retrying_a_batch_when_enqueued_then_what_it_sent_is_counted():
    # GIVEN ten objects: SQS sends eight, rejects one for good and fails one on its side, and the endpoint is
    # gone when that one is sent again
    sqs = FlakySQS({"uploads/1.jpg": (True, 1), "uploads/2.jpg": (False, 1)})
    answer = sqs.send_message_batch

    def then_gone(**kwargs):
        if sqs.calls:
            raise EndpointConnectionError(endpoint_url="https://sqs.example")
        return answer(**kwargs)

    sqs.send_message_batch = then_gone
    report = EnqueueReport()

    # WHEN they are enqueued
    with pytest.raises(EndpointConnectionError):
        enqueue(sqs, "url", refs(10), report=report)

    # THEN the report the CLI summarises counts the eight sent and tells the one rejected: it had neither
    # ("0 messages sent, 0 rejected; stopped"), and with nothing counted the CLI said it reached no endpoint
    assert report.sent == 8
    assert [(ref.key, reason) for ref, reason in report.failed] == [("uploads/1.jpg", "Boom: x")]


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/catdog-WorkQueue-x", "eu-west-1"),
        ("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", "cn-north-1"),
        ("http://127.0.0.1:5000/123456789012/q", None),
        ("https://sqs.example.com/q", None),
    ],
)
def test_given_a_queue_url_when_its_region_is_asked_then_the_region_it_names_or_none(url, region):
    assert queue_region(url) == region


def test_given_a_key_with_characters_sqs_refuses_when_made_a_message_then_the_body_is_ascii_json():
    key = "uploads/caf\u00e9 \uffff\ufffe.jpg"

    body = message_body(S3Ref("bucket", key))

    # SQS accepts #x9, #xA, #xD, #x20-#xD7FF, #xE000-#xFFFD and above: not U+FFFE or U+FFFF
    assert all(ch in "\t\n\r" or 0x20 <= ord(ch) <= 0x7E for ch in body)
    assert json.loads(body) == {"bucket": "bucket", "key": key}
