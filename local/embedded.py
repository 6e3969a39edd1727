"""The serverless pipeline on one machine: moto's S3 and SQS on loopback, uploads fed to the classify Lambda.

moto cannot run a Lambda function without Docker, but it does deliver S3 event notifications to an SQS
queue. So the embedded bucket notifies a queue (with a dead-letter queue, as a real deployment would),
and a worker thread hands each notification to ``functions/classify/app.py``'s ``lambda_handler``: the
very code that runs on AWS, with the same S3 event it would receive there.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from catdog.settings import Settings
from local import FUNCTIONS, http_origin
from local.gate import S3Gate
from local.hosts import guarded

#: The access key id and region of the embedded AWS; its secret key is new on every run (``run_secret``).
ACCESS_KEY = "catdog-local"
REGION = "us-east-1"
#: A secret key to use instead of a random one, for a script or test that talks to the embedded S3.
SECRET_ENV = "CATDOG_SERVE_SECRET_KEY"
#: Deliveries of one notification before it goes to the dead-letter queue (Lambda's async retries + 1).
MAX_RECEIVES = 3
#: Seconds before a message that was received but not deleted (a failed delivery) is received again.
VISIBILITY_TIMEOUT = 30

logger = logging.getLogger(__name__)


def run_secret(environ: Mapping[str, str] = os.environ) -> str:
    """This run's secret key: ``$CATDOG_SERVE_SECRET_KEY`` if set, else a new random one."""
    return environ.get(SECRET_ENV) or secrets.token_urlsafe(30)


class EmbeddedS3(ThreadedMotoServer):
    """moto's server behind ``local.gate.S3Gate``: browser uploads checked against their POST policy
    (moto stores them unchecked), every other request checked for a signature with ``secret_key``.

    ``max_file_bytes`` bounds what a browser upload may send (the web API's ``MAX_IMAGE_BYTES``);
    ``page_port``, set once the page listens, makes the page's origin the only one CORS allows.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        secret_key: str | None = None,
        max_file_bytes: int | None = None,
    ):
        super().__init__(ip_address=host, port=port, verbose=False)
        self.secret_key = secret_key or run_secret()
        self.max_file_bytes = max_file_bytes or Settings.from_env().max_image_bytes
        self.page_port: int | None = None

    def _server_entry(self) -> None:
        gate = S3Gate(
            DomainDispatcherApplication(create_backend_app),
            self.secret_key,
            self.max_file_bytes,
            page_port=lambda: self.page_port,
        )
        try:
            self._server = make_server(
                self._ip_address, self._port, gate, threaded=True, request_handler=MotoRequestHandler
            )
        except (OSError, SystemExit) as exc:  # werkzeug exits on a bind error; moto's start() would wait
            self.failure = (
                exc if isinstance(exc, OSError) else OSError(f"cannot listen on {self._ip_address}")
            )
            self._server_ready_event.set()
            return
        self._server.app = guarded(gate, self._server.server_address[0])  # the address bound, not named
        self._server_ready_event.set()
        self._server.serve_forever()

    def start(self) -> None:
        """Start serving; raises the ``OSError`` that kept the server from listening."""
        self.failure: OSError | None = None
        super().start()
        if self.failure is not None:
            raise self.failure

    @property
    def endpoint(self) -> str:
        host, port = self.get_host_and_port()
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        return http_origin(host, port)


def aws_environment(endpoint: str, secret_key: str) -> dict[str, str]:
    """Environment that points every boto3 client of this process (the handler's too) at ``endpoint``."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


def create_pipeline(
    s3, sqs, bucket: str, uploads_prefix: str, visibility_timeout: int = VISIBILITY_TIMEOUT
) -> str:
    """The bucket, its upload notifications and their queue; returns the queue URL.

    The bucket has no CORS configuration: moto would answer any origin its rules list, and a page
    reached over the LAN has no single origin to list; ``S3Gate`` answers for the page's own origin.
    """
    s3.create_bucket(Bucket=bucket)
    dead_letters = sqs.create_queue(QueueName=f"{bucket}-uploads-dlq")["QueueUrl"]
    redrive = {"deadLetterTargetArn": _queue_arn(sqs, dead_letters), "maxReceiveCount": str(MAX_RECEIVES)}
    queue = sqs.create_queue(
        QueueName=f"{bucket}-uploads",
        Attributes={"VisibilityTimeout": str(visibility_timeout), "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": _queue_arn(sqs, queue),
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": uploads_prefix}]}},
                }
            ]
        },
    )
    return queue


def _queue_arn(sqs, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def load_handler(function: str) -> Callable[[dict, object], dict]:
    """Import ``functions/<function>/app.py``; its clients (and model) load now, as on a cold start."""
    path = FUNCTIONS / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"catdog_{function}_function", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


@dataclass
class LocalContext:
    """The parts of Lambda's context object that powertools reads."""

    function_name: str = "catdog-classify-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_stream_name: str = "local"

    @classmethod
    def of(cls, function: str) -> LocalContext:
        return cls(function_name=f"catdog-{function}-local")

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class FunctionLog(io.TextIOBase):
    """A ``sys.stdout`` that sends the handler's output to a file, as Lambda sends it to CloudWatch.

    powertools prints structured logs and metrics to stdout; in a terminal they would bury the one line
    per upload that ``catdog serve`` prints. Only what is written inside ``capture()`` goes to the file.
    """

    def __init__(self, terminal: io.TextIOBase, path: Path):
        self.terminal = terminal
        self.path = path
        self._file = path.open("a", encoding="utf-8", buffering=1)
        self._local = threading.local()

    def write(self, text: str) -> int:
        target = self._file if getattr(self._local, "capturing", False) else self.terminal
        return target.write(text)

    def flush(self) -> None:
        self.terminal.flush()
        self._file.flush()

    def begin(self, message: str) -> None:
        """The log's first line, a structured one like the functions' own, written through now: a file that
        cannot be written (a full disk, no permission) fails here, once, and not in every handler after."""
        line = {
            "level": "INFO",
            "message": message,
            "service": "catdog-serve",
            "timestamp": datetime.now(UTC).isoformat(),
        }
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        self._local.capturing = True
        try:
            yield
        finally:
            self._local.capturing = False

    def close(self) -> None:
        self._file.close()


class BadMessage(ValueError):
    """A queue message that is not an S3 notification: no retry can make it one."""


class UploadWorker(threading.Thread):
    """Feeds each S3 notification in the queue to the handler, as Lambda's S3 trigger would.

    A message is deleted once the handler returns; when it raises (what a retry can cure), the message
    comes back after its visibility timeout and lands in the dead-letter queue after ``MAX_RECEIVES``.
    A message that is not an S3 notification is reported to ``on_bad_message`` and left alone, so it
    takes the same way to the dead-letter queue; nothing a message holds stops the worker.
    """

    def __init__(
        self,
        sqs,
        queue_url: str,
        handler: Callable[[dict, object], dict],
        on_done: Callable[[dict], None],
        on_error: Callable[[dict, Exception], None],
        log: FunctionLog,
        on_bad_message: Callable[[dict, Exception], None] | None = None,
    ):
        super().__init__(name="catdog-classify-worker", daemon=True)
        self.sqs, self.queue_url, self.handler = sqs, queue_url, handler
        self.on_done, self.on_error, self.log = on_done, on_error, log
        self.on_bad_message = on_bad_message or _log_bad_message
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                response = self.sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                )
            except (BotoCoreError, ClientError):
                if self._stopping.wait(1):  # the embedded server is shutting down
                    return
                continue
            for message in response.get("Messages", []):
                try:
                    self._deliver(message)
                except Exception as exc:  # a bad message, or a failing callback: report, keep serving
                    try:
                        self.on_bad_message(message, exc)
                    except Exception:
                        logger.exception("cannot report a failed queue message")

    def _deliver(self, message: dict) -> None:
        event = _s3_notification(message.get("Body", ""))
        if "Records" in event:  # s3:TestEvent, sent when the notification is configured, has none
            try:
                with self.log.capture():
                    self.handler(event, LocalContext())
            except Exception as exc:  # as Lambda does: report it, keep the message for a retry
                self.on_error(event, exc)
                return
            self.on_done(event)
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def stop(self) -> None:
        self._stopping.set()
        self.join()


def _s3_notification(body: str) -> dict:
    """The S3 event in a message body, or ``BadMessage``."""
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise BadMessage(f"not JSON ({exc})") from None
    if not isinstance(event, dict) or not isinstance(event.get("Records", []), list):
        raise BadMessage("not an S3 notification")
    return event


def _log_bad_message(message: dict, exc: Exception) -> None:
    logger.error("queue message %s failed: %s", message.get("MessageId"), exc)
