"""S3 errors sorted by what a retry can do."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from catdog.storage import is_customer_encrypted, is_transient, parse_json


def s3_error(code: str | None, status: int, message: str = "…") -> ClientError:
    """What botocore raises for an S3 answer of HTTP ``status``, error ``code`` (none: an empty body) and
    ``message``."""
    error = {"Message": message} | ({"Code": code} if code is not None else {})
    return ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


def test_given_a_request_botocore_refuses_to_send_when_sorted_then_a_retry_cannot_cure_it():
    assert not is_transient(ParamValidationError(report="Invalid length for parameter Key, value: 0"))
    assert is_transient(EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"))


@pytest.mark.parametrize(
    ("code", "status"),
    [("BadGateway", 502), (None, 503), ("GatewayTimeout", 504)],
    ids=["an unlisted code", "no code at all", "a gateway timeout"],
)
def test_given_an_s3_answer_of_any_5xx_when_sorted_then_a_retry_can_cure_it(code, status):
    # a 5xx is the service's failure, whatever its code says: the code list covers only the common ones
    assert is_transient(s3_error(code, status))


@pytest.mark.parametrize(
    ("code", "status"), [("AccessDenied", 403), ("InvalidRequest", 400), ("MethodNotAllowed", 405)]
)
def test_given_an_s3_answer_of_an_unlisted_4xx_when_sorted_then_a_retry_cannot_cure_it(code, status):
    assert not is_transient(s3_error(code, status))


@pytest.mark.parametrize(
    "text", ["{not json", "[" * 100_000, b"\xff\xfe"], ids=["broken", "too deep", "bytes"]
)
def test_given_text_that_is_no_json_document_when_parsed_then_the_refusal_is_a_value_error(text):
    # a RecursionError escaped every caller that catches ValueError: a retry loop, a failed invocation
    with pytest.raises(ValueError):
        parse_json(text)


@pytest.mark.parametrize(
    ("message", "encrypted"),
    [
        (
            "The object was stored using a form of Server Side Encryption. The correct parameters must be "
            "provided to retrieve the object.",
            True,
        ),
        (
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
            False,
        ),
        ("Missing required header for this request: x-amz-content-sha256", False),
        (
            "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature "
            "Version 4.",
            False,
        ),
    ],
    ids=["a customer key (SSE-C)", "a signature it does not take", "a missing header", "kms without sigv4"],
)
def test_given_an_s3_invalid_request_when_sorted_then_only_a_customer_key_refusal_is_encrypted(
    message, encrypted
):
    # GIVEN S3's 400 InvalidRequest, which it answers for an object written with a customer key and for
    # requests it refuses for other reasons
    # WHEN it is sorted
    # THEN only the customer key's refusal is taken for an object no retry can read ("encrypted")
    assert is_customer_encrypted(s3_error("InvalidRequest", 400, message)) is encrypted
