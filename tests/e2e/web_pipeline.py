"""``catdog serve`` as a user runs it: a real process, its printed URL, its embedded S3 over HTTP."""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[2]
#: Small, so that an oversized upload is cheap to send; real 180 px photos are about 10 KB.
MAX_IMAGE_BYTES = 200_000
START_TIMEOUT = 90


@dataclass
class ServedPipeline:
    url: str
    s3_endpoint: str
    secret_key: str
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)

    def api(self, path: str, body: dict | None = None) -> tuple[int, dict]:
        """Call the JSON API; returns the status and the decoded body, errors included."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def s3(self, secret_key: str | None = None, access_key: str = "catdog-local"):
        """A boto3 S3 client of the embedded S3, signing with ``secret_key`` (this run's by default)."""
        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
        )

    def wait_for_label(self, key: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.api(f"api/labels?key={urllib.request.quote(key, safe='')}")
            if status == 200:
                return body
            assert status == 404, body
            time.sleep(0.2)
        raise AssertionError(f"no label for {key} within {timeout} s")


def start(model: Path, log: Path, extra_args: tuple[str, ...] = ()) -> ServedPipeline:
    """Start ``catdog serve --port 0`` and wait for the line with its URL."""
    secret_key = secrets.token_urlsafe(30)  # what catdog serve would pick; the test needs to know it
    env = {
        **os.environ,
        "MAX_IMAGE_BYTES": str(MAX_IMAGE_BYTES),
        "PYTHONUNBUFFERED": "1",
        "CATDOG_SERVE_SECRET_KEY": secret_key,
    }
    command = [sys.executable, "-m", "catdog", "serve", "--port", "0", "--model", str(model)]
    process = subprocess.Popen(
        [*command, "--function-log", str(log), *extra_args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Ctrl+C as in a terminal, even when this test run was started in the background (a
        # non-interactive shell starts background jobs with SIGINT ignored, and children inherit that)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        for line in process.stdout:
            output.append(line.rstrip("\n"))
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    endpoint = None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            raise AssertionError("catdog serve exited:\n" + "\n".join(output))
        if found := re.search(r"embedded S3 at (\S+),", line):
            endpoint = found.group(1)
        if found := re.search(r"serving the upload page on (\S+)", line):
            return ServedPipeline(found.group(1), endpoint, secret_key, process, output)
    stop(process)
    raise AssertionError("catdog serve did not start:\n" + "\n".join(output))


def stop(process: subprocess.Popen) -> int:
    """Ctrl+C, as a user stops it; returns the exit code."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
