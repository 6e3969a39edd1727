"""S3 errors sorted by what a retry can do."""

from __future__ import annotations

from botocore.exceptions import EndpointConnectionError, ParamValidationError

from catdog.storage import is_transient


def test_given_a_request_botocore_refuses_to_send_when_sorted_then_a_retry_cannot_cure_it():
    assert not is_transient(ParamValidationError(report="Invalid length for parameter Key, value: 0"))
    assert is_transient(EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"))
