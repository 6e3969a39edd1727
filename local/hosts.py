"""Which host names ``catdog serve`` answers to when it listens on this machine alone.

A server on 127.0.0.1 is reachable from any web page the user opens: a site whose name it points at
127.0.0.1 after the page loaded (DNS rebinding) becomes same-origin with the upload page and its embedded
S3, and could upload photos and read labels. Such a request names the site's host in its ``Host`` header,
so on a loopback address the page and the S3 answer only requests to a loopback name, as development
servers do. Listening on the network (``--host 0.0.0.0``) is asking to be reached by other names
(``laptop.local``, the machine's address): there every name is answered, as before.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit


def is_loopback_name(host: str) -> bool:
    """``localhost``, ``*.localhost`` (which browsers never send to DNS), or a loopback address."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LoopbackHostsOnly:
    """WSGI middleware: a request whose ``Host`` is no loopback name gets 403 and one line saying why."""

    def __init__(self, app: Callable, listening_on: str):
        self.app, self.listening_on = app, listening_on

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            host = urlsplit(f"//{environ.get('HTTP_HOST', '')}").hostname or ""
        except ValueError:  # an unclosed "[::1"
            host = ""
        if is_loopback_name(host):
            return self.app(environ, start_response)
        message = (
            f"catdog serve listens on {self.listening_on} and answers only requests to a loopback name "
            f"(localhost, 127.0.0.1, [::1]), not to {host or 'no host'!r} (a page under another name could "
            "be any web site); start it with --host 0.0.0.0 to be reached by other names\n"
        ).encode()
        start_response(
            "403 Forbidden",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(message)))],
        )
        return [message]


def guarded(app: Callable, listening_on: str) -> Callable:
    """``app`` behind ``LoopbackHostsOnly`` when ``listening_on`` is a loopback address, else as it is.

    ``listening_on`` is the address the socket is bound to, not the name it was given: ``--host vm``
    (a name ``/etc/hosts`` maps to 127.0.0.1, as Debian maps the machine's own name to 127.0.1.1) listens
    on loopback as ``--host localhost`` does."""
    return LoopbackHostsOnly(app, listening_on) if is_loopback_name(listening_on) else app
