"""local/hosts.py: on a loopback address, catdog serve answers loopback names only (DNS rebinding)."""

from __future__ import annotations

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from local.hosts import LoopbackHostsOnly, guarded, is_loopback_name


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LocalHost.", True),
        ("page.localhost", True),
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("localhost.rebind.example", False),
        ("127.0.0.1.nip.io", False),
        ("rebind.example", False),
        ("192.168.1.5", False),
        ("0.0.0.0", False),
        ("", False),
    ],
)
def test_given_a_host_name_when_asked_then_only_what_browsers_send_to_this_machine_is_loopback(
    host, loopback
):
    assert is_loopback_name(host) is loopback


def hello(environ, start_response):
    return Response("the page")(environ, start_response)


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000"])
def test_given_a_loopback_server_when_its_own_names_ask_then_they_are_answered(host):
    response = Client(guarded(hello, "127.0.0.1")).get("/", headers={"Host": host})

    assert response.status_code == 200 and response.text == "the page"


@pytest.mark.parametrize("host", ["rebind.example:8000", "[::1:8000", "", "192.168.1.5:8000"])
def test_given_a_loopback_server_when_another_name_asks_then_403_says_why(host):
    response = Client(guarded(hello, "localhost")).get("/", headers={"Host": host})

    assert response.status_code == 403 and "start it with --host 0.0.0.0" in response.text
    assert response.text.count("\n") == 1


@pytest.mark.parametrize("listening_on", ["0.0.0.0", "::", "192.168.1.5"])
def test_given_a_server_on_the_network_when_any_name_asks_then_it_is_answered(listening_on):
    app = guarded(hello, listening_on)

    assert not isinstance(app, LoopbackHostsOnly)
    assert Client(app).get("/", headers={"Host": "laptop.local:8000"}).text == "the page"
