"""``catdog serve``: the whole pipeline on this machine, and the upload page in front of it.

It starts an embedded S3 (see ``local.embedded``) whose uploads feed the classify function, classifies the
bundled sample photos through it so that the terminal alone shows the pipeline working, then serves the
web function (``local.http_api``) until Ctrl+C.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import re
import socket
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from catdog.card import missing_model
from catdog.cli import model_folder
from catdog.events import s3_objects
from catdog.imagetypes import type_of_name
from catdog.inputs import Missing, UsageError, photos_in, printable
from catdog.settings import Settings, model_path_from_env
from catdog.web.api import ApiError, clean_name, read_label, safe_name
from local import RELEASED_MODEL, SAMPLES, http_origin

#: How long serve waits for the next sample's label before it gives up.
LABEL_WAIT_SECONDS = 60
WILDCARD_HOSTS = ("0.0.0.0", "", "::")  # listening on every address of this machine
#: The handler's powertools settings outside Lambda; any of them can be overridden from the environment.
POWERTOOLS_DEFAULTS = {
    "POWERTOOLS_SERVICE_NAME": "catdog",
    "POWERTOOLS_METRICS_NAMESPACE": "catdog",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


class ServeError(Exception):
    """Why the pipeline could not start, in one line."""


def _port(text: str) -> int:
    port = int(text) if text.isdigit() else -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, not {text!r}")
    return port


#: The names S3 gives a new bucket, as template.yaml's BucketName allows them: serve creates its bucket,
#: so a name the stack would refuse at deploy is refused here too (the embedded S3 takes any).
NEW_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _bucket(text: str) -> str:
    if not NEW_BUCKET_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a name for a new bucket (3-63 lower-case letters, digits, '.' and '-')"
        )
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=_port, default=8000, help="port of the page (default %(default)s; 0: any free one)"
    )
    parser.add_argument("--bucket", type=_bucket, default="catdog-local", help="name of the embedded bucket")
    parser.add_argument(
        "--model",
        type=lambda text: Path(model_folder(text)),
        default=model_path_from_env(RELEASED_MODEL),
        help="model folder with model.tflite + model.json, or its .tflite file "
        "(default: $MODEL_PATH or models/catdog)",
    )
    parser.add_argument(
        "--samples",
        type=Path,
        default=SAMPLES,
        help="folder of photos (its subfolders too) to classify at start-up (default: the bundled samples/)",
    )
    parser.add_argument(
        "--function-log",
        type=Path,
        help="file for the classify function's logs and metrics (default: a new temporary file)",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; 0 on Ctrl+C, 1 with a one-line message when it cannot start (a bad
    argument is a ``UsageError``: exit code 2)."""
    try:
        _serve(args)
    except ServeError as exc:
        print(f"catdog serve: error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def _serve(args: argparse.Namespace) -> None:
    model = args.model.resolve()
    if problem := missing_model(model):
        raise UsageError(f"{problem} (pass --model)")
    if not args.samples.is_dir():
        raise UsageError(f"no sample folder {args.samples} (pass --samples DIR, an empty one for none)")
    if args.function_log and not args.function_log.parent.is_dir():
        raise UsageError(f"no folder {args.function_log.parent} for --function-log")
    if args.function_log and args.function_log.is_dir():
        raise UsageError(f"--function-log {args.function_log} is a folder: name the log file")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in the terminal
    # moto and werkzeug are imported only when serving, not for every catdog command.
    from werkzeug.serving import make_server

    from local import embedded
    from local.hosts import guarded
    from local.http_api import HttpApi

    with contextlib.ExitStack() as cleanup:  # stops everything started so far, in reverse, on any exit
        # Bound first, here: werkzeug would print two lines and exit on a busy port, and the embedded S3
        # listens on the same address.
        listener = cleanup.enter_context(_listen(args.host, args.port))
        log = _open_function_log(args.function_log, sys.stdout)
        cleanup.callback(log.close)
        storage = embedded.EmbeddedS3(args.host, 0)
        storage.start()
        cleanup.callback(storage.stop)
        _point_aws_at(storage.endpoint, storage.secret_key, model, args.bucket)
        settings = Settings.from_env()
        s3 = boto3.client("s3", config=Config(signature_version="s3v4"))
        sqs = boto3.client("sqs")

        url, lan_url = _page_urls(args.host, listener.getsockname()[1])
        storage.page_port = listener.getsockname()[1]  # the page's origin is the only one CORS allows
        try:
            queue = embedded.create_pipeline(s3, sqs, args.bucket, settings.uploads_prefix)
        except (BotoCoreError, ClientError) as exc:
            raise ServeError(f"cannot create bucket {args.bucket!r}: {exc}") from exc

        sys.stdout = log
        cleanup.callback(setattr, sys, "stdout", log.terminal)
        # A photo that is not an image has no metric but its error count; powertools warns about that.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        handler, web_handler = (_load(function, log) for function in ("classify", "web"))
        app = HttpApi(
            web_handler,
            lambda: embedded.LocalContext.of("web"),
            around=log.capture,
            s3_port_for_browsers=storage.get_host_and_port()[1],
        )
        web = make_server(
            args.host, args.port, guarded(app, listener.getsockname()[0]), threaded=True, fd=listener.fileno()
        )
        cleanup.callback(web.server_close)

        printed = set()  # keys whose label line is out: the samples' summary comes after all of theirs

        def on_done(event: dict) -> None:
            for key in _event_keys(event):
                print(_describe(key, _label_of(s3, args.bucket, key, settings)), flush=True)
                printed.add(key)

        def on_error(event: dict, exc: Exception) -> None:
            keys = ", ".join(_event_keys(event))
            print(f"  {keys}: failed, will retry ({type(exc).__name__}: {exc})", flush=True)

        def on_bad_message(message: dict, exc: Exception) -> None:
            body = message.get("Body", "")
            print(
                f"  queue message {message.get('MessageId')} failed ({exc}): {body[:60]!r}; "
                f"after {embedded.MAX_RECEIVES} receives it goes to the dead-letter queue",
                flush=True,
            )

        worker = embedded.UploadWorker(sqs, queue, handler, on_done, on_error, log, on_bad_message)
        worker.start()
        cleanup.callback(worker.stop)
        s3_urls = [u.rstrip("/") for u in _page_urls(args.host, storage.get_host_and_port()[1]) if u]
        s3_at = f"{s3_urls[0]}, {s3_urls[1]} on this network" if len(s3_urls) > 1 else s3_urls[0]
        print(f"catdog: embedded S3 at {s3_at}, bucket {args.bucket}, model {model}", flush=True)
        print(f"catdog: the classify function logs to {log.path}", flush=True)
        _classify_samples(s3, args.bucket, args.samples, settings, printed)
        try:  # a Ctrl+C right after the line, before werkzeug's own handler, stops as cleanly
            print(f"\ncatdog is serving the upload page on {url}  (Ctrl+C to stop)", flush=True)
            if lan_url:
                print(f"catdog: from another device on this network, open {lan_url}", flush=True)
            web.serve_forever()  # returns on Ctrl+C: werkzeug catches it
        except KeyboardInterrupt:
            pass
        print("\ncatdog: stopped", flush=True)


def _open_function_log(path: Path | None, terminal):
    """The function log (``--function-log``, or a new temporary file), its first line written: a log that
    cannot be written stops serve here, in one line, before anything starts. Found later, it failed
    every handler's first log line, a traceback each, and the samples waited for labels in vain."""
    from local.embedded import FunctionLog

    log = None
    try:
        if path is None:
            descriptor, name = tempfile.mkstemp(prefix="catdog-classify-", suffix=".log")
            os.close(descriptor)
            path = Path(name)
        log = FunctionLog(terminal, path)
        log.begin("catdog serve: the classify and web functions log here")
        return log
    except OSError as exc:
        if log is not None:
            with contextlib.suppress(OSError):  # what could not be written is still in its buffer
                log.close()
        reason = exc.strerror or str(exc)
        raise ServeError(f"cannot write the function log {path or tempfile.gettempdir()}: {reason}") from exc


def _load(function: str, log):
    """A function's handler, cold-started now with its logs in the function log. Each function logs as
    its own service (``catdog-classify``): powertools keeps a logger's keys (function name, request id)
    per service name, so two functions of one name in one process stamped their lines with each other's
    keys, as Lambda, one function per process, never does."""
    from local.embedded import load_handler

    service = os.environ["POWERTOOLS_SERVICE_NAME"]
    try:
        with log.capture():
            os.environ["POWERTOOLS_SERVICE_NAME"] = f"{service}-{function}"
            return load_handler(function)
    except Exception as exc:  # the model or the handler is broken: say which, in one line
        raise ServeError(f"cannot load the {function} function: {exc}") from exc
    finally:
        os.environ["POWERTOOLS_SERVICE_NAME"] = service


def _listen(host: str, port: int) -> socket.socket:
    """The page's socket; an address this machine does not have is a bad argument, a busy port is not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # ::1, or :: for IPv6 and IPv4 alike
    try:
        return socket.create_server((host, port), family=family, dualstack_ipv6=host == "::")
    except OSError as exc:  # create_server re-raises a name that does not resolve as OSError(EAI_...)
        reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else str(exc.strerror or exc)
        if exc.errno == errno.EADDRNOTAVAIL or (exc.errno or 0) < 0:  # not this machine's, or no such name
            raise UsageError(f"cannot listen on {host}: {reason}") from exc
        raise ServeError(f"cannot listen on {host}:{port}: {reason}") from exc


def _page_urls(host: str, port: int) -> tuple[str, str | None]:
    """The page's address on this machine, and on the network when listening on every address: a
    browser cannot open 0.0.0.0, and a phone needs this machine's own address."""
    if host not in WILDCARD_HOSTS:
        return f"{http_origin(host, port)}/", None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:  # a UDP connect sends nothing: it only asks the routing table which address goes out
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
        except OSError:  # no route at all: the name is the best there is
            address = socket.gethostname()
    return f"http://127.0.0.1:{port}/", f"http://{address}:{port}/"


def _point_aws_at(endpoint: str, secret_key: str, model: Path, bucket: str) -> None:
    """Configure this process's boto3 clients and the handlers, which read all this at import."""
    from local.embedded import SECRET_ENV, aws_environment

    os.environ.pop(SECRET_ENV, None)  # the handlers get the secret the way Lambda gives it, and only so
    os.environ.update(
        {**aws_environment(endpoint, secret_key), "MODEL_PATH": str(model), "BUCKET_NAME": bucket}
    )
    os.environ.pop("AWS_SESSION_TOKEN", None)  # never mix real credentials into the embedded ones
    os.environ.pop("AWS_PROFILE", None)
    for name, value in POWERTOOLS_DEFAULTS.items():
        os.environ.setdefault(name, value)


def _classify_samples(s3, bucket: str, folder: Path, settings: Settings, printed: set[str]) -> None:
    """Upload every photo in ``folder`` and its subfolders (found as ``catdog classify DIR`` finds them)
    to the bucket and wait until each has its label, and its line in ``printed``."""
    photos = []
    for item in photos_in(folder):
        if isinstance(item, Missing):  # a subfolder this user may not read: said, not a silent gap
            print(f"catdog: skipped sample {printable(item.path)}: {item.message}", flush=True)
        elif not item.is_file():  # a link to nothing
            print(f"catdog: skipped sample {printable(str(item))}: not a file", flush=True)
        else:
            photos.append(item)
    if not photos:
        return
    print(f"catdog: classifying {len(photos)} sample photos from {folder} through the bucket:", flush=True)
    keys = _sample_keys(photos, folder, f"{settings.uploads_prefix}samples/")
    for photo, key in zip(photos, keys, strict=True):
        s3.upload_file(str(photo), bucket, key)
    started = last_label = time.monotonic()
    done = 0
    while time.monotonic() < last_label + LABEL_WAIT_SECONDS:  # a big folder takes as long as it takes
        if (now_done := sum(key in printed for key in keys)) > done:
            done, last_label = now_done, time.monotonic()
        labels = [_label_of(s3, bucket, key, settings) for key in keys] if done == len(keys) else []
        if labels and all(labels):
            counts = Counter(label.get("label", "error") for label in labels)
            summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
            elapsed = time.monotonic() - started
            print(f"catdog: {len(keys)} samples labelled in {elapsed:.1f} s ({summary})", flush=True)
            return
        time.sleep(0.2)
    raise ServeError(
        f"{len(keys) - done} of the {len(keys)} sample photos got no label within {LABEL_WAIT_SECONDS} s "
        "of the last one labelled"
    )


def _sample_keys(photos: list[Path], folder: Path, prefix: str) -> list[str]:
    """One key under ``prefix`` for each photo, named as the page names an upload (a file name S3 cannot
    take, not UTF-8 or with a line break, stopped serve), and never one key for two photos: cleaning gives
    ``a/cat.jpg``, ``a./cat.jpg`` and ``a /cat.jpg`` one name, as it does ``Cat.JPG`` and ``Cat.jpg``, and
    the second upload replaced the first. A name already taken gets ``-2`` (``-3``...) before its suffix."""
    keys: list[str] = []
    taken: set[str] = set()
    for photo in photos:
        key = f"{prefix}{_sample_name(photo, folder)}"
        stem, suffix = key[: key.rindex(".")], key[key.rindex(".") :]  # safe_name always gives a suffix
        repeat = 1
        while key in taken:
            repeat += 1
            key = f"{stem}-{repeat}{suffix}"
        keys.append(key)
        taken.add(key)
    return keys


def _sample_name(photo: Path, folder: Path) -> str:
    """The photo's path under ``folder``: its name as the page names an upload, each subfolder's name
    cleaned alike (UTF-8, no control characters, no spaces or dots at either end)."""
    name = printable(photo.name, "replace")  # bytes that are not UTF-8 become "\ufffd"
    parts = [clean_name(printable(part, "replace")) or "_" for part in photo.relative_to(folder).parent.parts]
    return "/".join([*parts, safe_name(name, type_of_name(photo.name).media_type)])


def _event_keys(event: dict) -> list[str]:
    return [obj.key for obj in s3_objects(event)]


def _label_of(s3, bucket: str, key: str, settings: Settings) -> dict | None:
    try:
        return read_label(s3, bucket, key, settings)
    except ApiError:
        return None


def _describe(key: str, label: dict | None) -> str:
    """One terminal line per labelled upload."""
    if label is None:
        return f"  {key}: no label written"
    if "error" in label:
        return f"  {key:<40} error  {label['error']['code']}: {label['error']['message']}"
    scores = [f"{name} {p:6.1%}" for name, p in label["probabilities"].items()]
    if "pet_score" in label:  # a model with the "neither" check
        scores.append(f"pet similarity {label['pet_score']:.2f}")
    return f"  {key:<40} {label['label']:<4} {label['confidence']:6.1%}   ({'  '.join(scores)})"
