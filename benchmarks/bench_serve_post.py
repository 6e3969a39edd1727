"""Resident memory of ``catdog serve``'s embedded S3 while it receives oversized browser (POST) uploads.

Each case starts a fresh embedded S3 (``local.embedded.EmbeddedS3``, the POST policy check in front of
moto) in a child process, presigns a POST as the web API does (limit ``--limit-mib``), streams one
multipart request to it from this process in 1 MiB chunks (so the sender holds no copy), and reads
the child's ``VmRSS`` before and ``VmHWM`` (peak resident set) after from ``/proc``. All on 127.0.0.1.

    mkdir /tmp/catdog-1.3.0 && git archive 4e70ce6 local catdog functions | tar -x -C /tmp/catdog-1.3.0
    .venv/bin/python benchmarks/bench_serve_post.py --checkout /tmp/catdog-1.3.0 --label "1.3.0 (4e70ce6)" \
        --output benchmarks/results/serve_post.json
    .venv/bin/python benchmarks/bench_serve_post.py --label after --output benchmarks/results/serve_post.json

A refused request still costs up to 10 MB for a moment: after answering, werkzeug's server reads and
discards what the client keeps sending (10 MB at a time) so that the client sees the answer.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

MIB = 1024 * 1024
CHUNK = b"\0" * MIB

CHILD = """
import json, sys
import boto3
from botocore.config import Config
from local import embedded
server = embedded.EmbeddedS3()
server.start()
secret = getattr(server, "secret_key", getattr(embedded, "SECRET_KEY", None))
s3 = boto3.client(
    "s3", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=embedded.ACCESS_KEY,
    aws_secret_access_key=secret, config=Config(signature_version="s3v4"),
)
s3.create_bucket(Bucket="bench")
post = s3.generate_presigned_post(
    "bench", "uploads/big.jpg", Fields={"Content-Type": "image/jpeg"},
    Conditions=[{"Content-Type": "image/jpeg"}, ["content-length-range", 1, int(sys.argv[1])]],
)
print(json.dumps(post), flush=True)
sys.stdin.read()
"""


def memory_kib(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status)
    return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}


def send(url: str, fields: dict, parts: list[tuple[str, int]], chunked: bool) -> tuple[int, str]:
    """POST ``fields`` then ``parts`` (name, size in bytes of zeros; "file" is a file part) as multipart."""
    boundary = uuid.uuid4().hex
    pieces: list[bytes | int] = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        pieces.append(f"{head}{value}\r\n".encode())
    for name, size in parts:
        filename = f'; filename="{name}.jpg"' if name in ("file", "extra") else ""
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n\r\n'
        pieces += [head.encode(), size, b"\r\n"]
    pieces.append(f"--{boundary}--\r\n".encode())
    length = sum(p if isinstance(p, int) else len(p) for p in pieces)
    target = urlsplit(url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=600)
    connection.putrequest("POST", target.path or "/")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader(*(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(length))))
    connection.endheaders()

    def write(data: bytes) -> None:
        connection.send(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)

    try:
        for piece in pieces:
            if isinstance(piece, bytes):
                write(piece)
                continue
            for start in range(0, piece, MIB):
                write(CHUNK[: min(MIB, piece - start)])
        if chunked:
            connection.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed before the whole body was sent
    try:
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    except (ConnectionError, http.client.HTTPException) as exc:
        return 0, f"connection closed: {type(exc).__name__}"
    finally:
        connection.close()


def run_case(checkout: Path, limit: int, parts: list[tuple[str, int]], chunked: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(limit)], cwd=checkout, env=env, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        post = json.loads(child.stdout.readline())
        time.sleep(0.5)
        before = memory_kib(child.pid)
        started = time.monotonic()
        status, body = send(post["url"], post["fields"], parts, chunked)
        seconds = time.monotonic() - started
        time.sleep(0.5)
        after = memory_kib(child.pid)
    finally:
        child.stdin.close()
        child.kill()
        child.wait()
    code = body.split("<Code>")[1].split("</Code>")[0] if "<Code>" in body else body[:60]
    sizes = (f"{size / MIB:g} MiB" if size >= MIB else f"{size} B" for _, size in parts)
    return {
        "request": " + ".join(f"{name} {size}" for (name, _), size in zip(parts, sizes, strict=True)),
        "body": "chunked" if chunked else "Content-Length",
        "status": status,
        "answer": code,
        "rss_before_mb": round(before["VmRSS"] / 1000),
        "peak_growth_mb": round((after["VmHWM"] - before["VmRSS"]) / 1000),
        "seconds": round(seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--limit-mib", type=int, default=20, help="the policy's size limit (MAX_IMAGE_BYTES)")
    parser.add_argument("--output", type=Path, help="also write the rows as JSON here, under --label")
    parser.add_argument("--label", default="this checkout", help="the rows' name in --output")
    args = parser.parse_args()
    cases = [
        ([("file", 300 * MIB)], False),
        ([("file", 300 * MIB)], True),
        ([("x-ignore-pad", 25 * MIB), ("file", 1)], False),
        ([("file", 1), ("after", 25 * MIB)], False),
        ([("extra", 25 * MIB), ("file", 1)], False),
        ([("file", 10 * MIB)], False),
    ]
    rows = []
    for parts, chunked in cases:
        row = run_case(args.checkout.resolve(), args.limit_mib * MIB, parts, chunked)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.output:
        results = json.loads(args.output.read_text()) if args.output.exists() else {}
        results[args.label] = rows
        args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
