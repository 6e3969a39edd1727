"""The local stack behind ``catdog serve``: an embedded S3 and SQS (moto) running the same Lambda
handlers as AWS, and the web function behind a local HTTP API.

It lives in a checkout of the repository, beside ``functions/`` and ``models/``, which it imports and
reads by path; none of it is deployed (the runtime layer ships ``catdog/`` alone).
"""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FUNCTIONS = REPO / "functions"
RELEASED_MODEL = REPO / "models" / "catdog"
SAMPLES = REPO / "samples"


def http_origin(host: str, port: int) -> str:
    """``http://host:port``, an IPv6 address in brackets as a URL writes it (``http://[::1]:8000``)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
