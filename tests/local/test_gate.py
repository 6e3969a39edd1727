"""The gate of the embedded S3: CORS when the page is reached over the LAN (``catdog serve --host
0.0.0.0``), and the SigV4 checks a signed request passes before the signature itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.test import Client, EnvironBuilder

from local.gate import S3Gate, check_signature
from local.post_policy import PolicyViolation


def moto(environ, start_response):
    start_response("200 OK", [])
    return [b""]


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://192.0.2.7:8000", True),  # the page, reached by the address the phone used for S3 too
        ("http://192.0.2.8:8000", False),  # another machine
        ("http://192.0.2.7:8001", False),  # another port of this machine
        ("https://192.0.2.7:8000", False),
        ("http://evil.example", False),
    ],
)
def test_given_a_page_on_the_lan_when_a_phone_preflights_an_upload_then_only_the_pages_origin_is_allowed(
    origin, allowed
):
    client = Client(S3Gate(moto, "secret", 1000, page_port=lambda: 8000))

    response = client.options(
        "/catdog-local",
        headers={"Host": "192.0.2.7:5555", "Origin": origin, "Access-Control-Request-Method": "POST"},
    )

    assert response.status_code == (200 if allowed else 403)
    assert response.headers.get("Access-Control-Allow-Origin") == (origin if allowed else None)


def signed_get(secret_key: str = "secret") -> tuple[dict, datetime]:
    """A GET of an object signed by botocore as boto3 signs it, as the WSGI environ the gate sees, and
    the time it was signed at (its X-Amz-Date)."""
    request = AWSRequest(method="GET", url="http://127.0.0.1:5555/catdog-local/uploads/a.jpg?versionId=1")
    S3SigV4Auth(Credentials("local", secret_key), "s3", "us-east-1").add_auth(request)
    environ = EnvironBuilder(
        path="/catdog-local/uploads/a.jpg",
        query_string="versionId=1",
        base_url="http://127.0.0.1:5555",
        headers=dict(request.headers),
    ).get_environ()
    stamp = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return environ, stamp


@pytest.mark.parametrize("minutes", [14, -14])
def test_given_a_signed_request_within_15_minutes_of_now_when_checked_then_it_is_let_through(minutes):
    environ, stamp = signed_get()

    check_signature(environ, "secret", now=stamp + timedelta(minutes=minutes))


@pytest.mark.parametrize("minutes", [16, -16])
def test_given_a_signed_request_over_15_minutes_from_now_when_checked_then_403_request_time_too_skewed(
    minutes,
):
    environ, stamp = signed_get()

    with pytest.raises(PolicyViolation) as refused:
        check_signature(environ, "secret", now=stamp + timedelta(minutes=minutes))

    assert (refused.value.status, refused.value.code) == (403, "RequestTimeTooSkewed")


def test_given_a_credential_scope_dated_another_day_than_the_request_when_checked_then_400_malformed():
    environ, stamp = signed_get()
    day = stamp.strftime("%Y%m%d")
    other_day = (stamp - timedelta(days=1)).strftime("%Y%m%d")
    environ["HTTP_AUTHORIZATION"] = environ["HTTP_AUTHORIZATION"].replace(f"/{day}/", f"/{other_day}/")

    with pytest.raises(PolicyViolation) as refused:
        check_signature(environ, "secret", now=stamp)

    assert (refused.value.status, refused.value.code) == (400, "AuthorizationHeaderMalformed")
    assert refused.value.message == "malformed credential scope"
