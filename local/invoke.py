"""``sam local invoke`` without Docker: a function of ``sam build``'s output under Lambda's own emulator.

    python -m local.invoke FUNCTION EVENT [--env-vars FILE] [--parameter-overrides "K=V ..."]
                           [--build-dir DIR] [--photo FILE] [--aws] [--emulator] [--debug]

With a working Docker daemon this is ``sam local invoke`` itself. Without one, the function runs the
way Lambda runs it, minus the container: the Runtime Interface Emulator that the pinned aws-sam-cli
wheel ships (``samcli/local/rapid/aws-lambda-rie-x86_64``) starts ``python -S -m awslambdaric
<handler>`` (awslambdaric pinned in ``.venv-tools``) and the event is POSTed to it. What a container
would hold is laid out in a temporary folder:

* ``/var/task``    - ``<build>/<Function>/``, the working directory and first ``PYTHONPATH`` entry;
* ``/opt``         - the function's layers merged (symlinks), as ``PYTHONPATH`` entries in Lambda's
  order; environment values under ``/opt`` (``MODEL_PATH``) are rewritten to point there;
* ``/var/runtime`` - awslambdaric and an AWS SDK, as the python3.12 runtime provides them, linked from
  ``.venv-tools`` (the runtime layer's own SDK comes first, as on Lambda); ``-S`` keeps every other
  installed package out of the function's reach;
* the environment, timeout and memory size that template.yaml gives the function (Globals merged),
  Lambda's reserved variables, and ``--env-vars`` applied as ``sam local invoke`` applies them.

AWS calls go to an embedded moto S3/SQS on 127.0.0.1, prepared from the event: each bucket it names
and each object, holding a sample photo (a dog for a key that says "dog", else a cat), ``--photo``, or
a short text for a key that is not an image. ``--aws`` uses the caller's AWS environment instead.

Output has ``sam local invoke``'s shape: the function's answer on stdout; its logs, the emulator's
``REPORT`` line, the measured init time and peak memory, and each label JSON written, on stderr.
Exit status: 0, 1 when the function failed, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib.metadata
import itertools
import json
import logging
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote_plus

import yaml

from catdog.imagetypes import is_image_name
from catdog.settings import Settings

REPO = Path(__file__).resolve().parent.parent
TOOLS = REPO / ".venv-tools"
DEFAULT_BUILD = REPO / ".aws-sam" / "build"
SAMPLES = REPO / "samples"
CAT_PHOTO = SAMPLES / "cat-965.jpg"
DOG_PHOTO = SAMPLES / "dog-678.jpg"
NOT_AN_IMAGE = b"This is not a photo: a text file that the event names.\n"
REGION = "us-east-1"
INVOCATIONS = "/2015-03-31/functions/function/invocations"
#: What the python3.12 runtime's /var/runtime holds besides the standard library.
RUNTIME_DISTRIBUTIONS = (
    "awslambdaric",
    "simplejson",
    "snapshot-restore-py",
    "boto3",
    "botocore",
    "jmespath",
    "s3transfer",
    "python-dateutil",
    "six",
    "urllib3",
)
#: The caller's variables that reach the function with --aws (credentials, profile, endpoints).
AWS_PASSTHROUGH = re.compile(r"^AWS_(?!LAMBDA_)[A-Z0-9_]+$")
REPORT_LINE = re.compile(r"^REPORT RequestId: ")
INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: ([0-9.]+)\)")
DURATION = re.compile(r"\tDuration: ([0-9.]+) ms")


class UsageError(Exception):
    """A bad argument: reported as one line, exit status 2."""


# --- the function, as sam build's template describes it ---------------------------------------------


@dataclass
class Function:
    logical_id: str
    handler: str
    code_dir: Path
    layers: list[Path]
    environment: dict[str, str]
    timeout: int
    memory_size: int


def load_template(build_dir: Path) -> dict:
    path = build_dir / "template.yaml"
    if not path.is_file():
        raise UsageError(
            f"no sam build output in {build_dir}: run `.venv-tools/bin/sam build` first (or pass --build-dir)"
        )
    return yaml.safe_load(path.read_text())


def function_ids(template: dict) -> list[str]:
    return [
        name
        for name, resource in template.get("Resources", {}).items()
        if resource.get("Type") == "AWS::Serverless::Function"
    ]


def resolve_name(template: dict, name: str) -> str:
    """``ClassifyFunction``, or ``classify`` for short (the folder under functions/)."""
    ids = function_ids(template)
    for logical_id in ids:
        if name == logical_id or name.lower() + "function" == logical_id.lower():
            return logical_id
    raise UsageError(f"unknown function {name!r}: the template has {', '.join(ids)}")


def parse_overrides(text: str | None) -> dict[str, str]:
    """``sam``'s ``--parameter-overrides``: ``"Key=Value Key2=Value2"``."""
    overrides = {}
    for item in shlex.split(text or ""):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--parameter-overrides: expected Key=Value, got {item!r}")
        overrides[key] = value
    return overrides


def read_env_vars(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"--env-vars: no such file: {path}") from None
    except ValueError as exc:
        raise UsageError(f"--env-vars: {path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise UsageError(f'--env-vars: {path} must map "FunctionName" or "Parameters" to variables')
    return data


def load_function(
    build_dir: Path, name: str, env_vars: dict | None = None, overrides: dict[str, str] | None = None
) -> Function:
    """The function ``name`` of the built template, its values resolved like ``sam local invoke``."""
    template = load_template(build_dir)
    logical_id = resolve_name(template, name)
    resources = template["Resources"]
    props = resources[logical_id]["Properties"]
    globals_ = template.get("Globals", {}).get("Function", {})
    parameters = {
        key: str(spec["Default"]) for key, spec in template.get("Parameters", {}).items() if "Default" in spec
    }
    parameters.update(overrides or {})
    parameters.update({"AWS::Region": REGION, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"})

    def value(raw):
        if isinstance(raw, dict) and set(raw) == {"Ref"}:
            return parameters.get(raw["Ref"])
        return None if isinstance(raw, dict | list) else raw

    variables = {
        **globals_.get("Environment", {}).get("Variables", {}),
        **props.get("Environment", {}).get("Variables", {}),
    }
    # a parameter without a default that the function reads: sam deploy would ask for it, and without it
    # the function fails at cold start
    undefined = set(template.get("Parameters", {})) - set(parameters)
    needed = sorted(
        {raw["Ref"] for raw in variables.values() if isinstance(raw, dict) and raw.get("Ref") in undefined}
    )
    if needed:
        given = " ".join(f"{name}=..." for name in needed)
        missing = ", ".join(needed)
        raise UsageError(
            f"{logical_id} needs {missing}, which has no default: pass --parameter-overrides {given}"
        )
    environment = {k: str(v) for k, raw in variables.items() if (v := value(raw)) is not None}
    # sam local invoke overrides only variables that the template declares.
    for section in ("Parameters", logical_id):
        for key, override in (env_vars or {}).get(section, {}).items():
            if key in variables:
                environment[key] = str(override)

    layers = []
    for ref in props.get("Layers", globals_.get("Layers", [])):
        layer_id = ref.get("Ref") if isinstance(ref, dict) else None
        if layer_id not in resources:
            raise UsageError(f"{logical_id}: layer {ref!r} is not part of this build")
        layers.append(build_dir / resources[layer_id]["Properties"]["ContentUri"])
    return Function(
        logical_id=logical_id,
        handler=props.get("Handler", globals_.get("Handler")),
        code_dir=build_dir / props["CodeUri"],
        layers=layers,
        environment=environment,
        timeout=int(value(props.get("Timeout", globals_.get("Timeout", 3)))),
        memory_size=int(value(props.get("MemorySize", globals_.get("MemorySize", 128)))),
    )


# --- what the container would hold: /opt and /var/runtime --------------------------------------------


def merge_into(target: Path, sources: list[Path]) -> None:
    """Symlinks to the entries of ``sources`` in ``target``; a folder in several is merged inside."""
    by_name: dict[str, list[Path]] = {}
    for source in sources:
        for entry in sorted(source.iterdir()):
            by_name.setdefault(entry.name, []).append(entry)
    for name, entries in by_name.items():
        if len(entries) > 1 and all(e.is_dir() for e in entries):
            (target / name).mkdir()
            merge_into(target / name, entries)
        else:
            (target / name).symlink_to(entries[-1].resolve())  # a later layer wins, as in /opt


def tools_site() -> Path:
    found = sorted(TOOLS.glob("lib/python3.*/site-packages"))
    if not found:
        raise UsageError(f"no {TOOLS.name}: run scripts/setup.sh --tools")
    return found[0]


def emulator_binary() -> Path:
    path = tools_site() / "samcli" / "local" / "rapid" / "aws-lambda-rie-x86_64"
    if not path.is_file():
        raise UsageError(f"no Runtime Interface Emulator at {path}: run scripts/setup.sh --tools")
    return path


def runtime_tree(target: Path) -> None:
    """Lambda's /var/runtime: awslambdaric and the AWS SDK, linked from the tools environment."""
    site = tools_site()
    wanted = {name.replace("_", "-") for name in RUNTIME_DISTRIBUTIONS}
    found = set()
    for dist in importlib.metadata.distributions(path=[str(site)]):
        name = dist.metadata["Name"].lower().replace("_", "-")
        if name not in wanted or name in found:
            continue
        found.add(name)
        tops = {f.parts[0] for f in dist.files or [] if f.parts[0] not in ("..", "__pycache__")}
        for top in tops - {t for t in tops if t.endswith(".dist-info")}:
            if not (target / top).exists() and (site / top).exists():
                (target / top).symlink_to(site / top)
    if missing := wanted - found:
        raise UsageError(f"{', '.join(sorted(missing))} not in {TOOLS.name}: run scripts/setup.sh --tools")


@contextlib.contextmanager
def sandbox(function: Function):
    """A temporary folder with the function's ``opt`` (its layers) and ``runtime``; yields both."""
    with tempfile.TemporaryDirectory(prefix="catdog-invoke-") as folder:
        opt, runtime = Path(folder) / "opt", Path(folder) / "runtime"
        opt.mkdir()
        runtime.mkdir()
        merge_into(opt, function.layers)
        runtime_tree(runtime)
        yield opt, runtime


def function_environment(function: Function, aws_env: dict[str, str], opt: Path, runtime: Path) -> dict:
    """Lambda's environment for ``function``: nothing of the caller's but ``aws_env``."""
    task = function.code_dir.resolve()
    template_env = {
        key: str(opt) + value[len("/opt") :] if value == "/opt" or value.startswith("/opt/") else value
        for key, value in function.environment.items()
    }
    python_path = [task, opt / "python" / "lib" / "python3.12" / "site-packages", opt / "python", runtime]
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(task),
        "LAMBDA_RUNTIME_DIR": str(runtime),
        "PYTHONPATH": os.pathsep.join(map(str, python_path)),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function.timeout),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.logical_id}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        **aws_env,
        **template_env,
    }


# --- the objects an event names, and an embedded S3/SQS holding them ---------------------------------


def event_objects(event) -> list[tuple[str, str]]:
    """``(bucket, key)`` of every object in an S3 notification, an EventBridge S3 event, an S3 Batch
    Operations job (schema 1.0 or 2.0) or an SQS batch whose bodies are notifications or
    ``{"bucket", "key"}``; keys decoded as the handlers decode them."""
    from catdog.events import s3_objects

    if not isinstance(event, dict):
        return []
    found = [(o.bucket, o.key) for o in s3_objects(event)]
    for task in event.get("tasks") or []:
        bucket = task.get("s3Bucket") or str(task.get("s3BucketArn", "")).rpartition(":::")[2]
        if bucket and task.get("s3Key"):
            found.append((bucket, unquote_plus(task["s3Key"])))
    for record in event.get("Records") or []:
        if isinstance(record, dict) and "body" in record:
            try:
                body = json.loads(record["body"])
            except ValueError:
                continue
            if isinstance(body, dict) and isinstance(body.get("bucket"), str) and body.get("key"):
                found.append((body["bucket"], str(body["key"])))
            else:
                found += event_objects(body)
    return list(dict.fromkeys(found))


def content_for(key: str, photo: Path | None) -> bytes:
    if photo is not None:
        return photo.read_bytes()
    if not is_image_name(key):
        return NOT_AN_IMAGE
    return (DOG_PHOTO if "dog" in key.rpartition("/")[2].lower() else CAT_PHOTO).read_bytes()


@contextlib.contextmanager
def embedded_aws():
    """A moto S3/SQS server on a free 127.0.0.1 port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(aws_env: dict):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=aws_env.get("AWS_ENDPOINT_URL"),
        region_name=aws_env.get("AWS_REGION", REGION),
        aws_access_key_id=aws_env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=aws_env.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=aws_env.get("AWS_SESSION_TOKEN"),
    )


def prepare(s3, objects: list[tuple[str, str]], settings: Settings, photo: Path | None) -> None:
    """Each bucket and object the event names (never a label: that is the function's to write)."""
    for bucket in dict.fromkeys(b for b, _ in objects):
        s3.create_bucket(Bucket=bucket)
    for bucket, key in objects:
        if not settings.is_label(key):
            s3.put_object(Bucket=bucket, Key=key, Body=content_for(key, photo))


def label_versions(s3, buckets: list[str], settings: Settings) -> dict[tuple[str, str], str]:
    """Every label (of uploads and of bulk objects) in ``buckets``, with what tells a rewrite apart."""
    from botocore.exceptions import BotoCoreError, ClientError

    versions = {}
    for bucket, prefix in itertools.product(buckets, (settings.labels_prefix, settings.bulk_labels_prefix)):
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    versions[(bucket, obj["Key"])] = f"{obj['ETag']} {obj['LastModified']}"
        except ClientError as exc:  # with --aws: a bucket that is not there, or not the caller's to list
            error = exc.response.get("Error", {})
            reason = f"{error.get('Code', 'ClientError')}: {error.get('Message', exc)}"
            raise UsageError(f"--aws: cannot list s3://{bucket}/{prefix}: {reason}") from None
        except BotoCoreError as exc:  # no credentials, no endpoint
            raise UsageError(
                f"--aws: cannot list s3://{bucket}/{prefix}: {type(exc).__name__}: {exc}"
            ) from None
    return versions


# --- the emulator ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Invocation:
    answer: bytes
    function_error: bool
    report: str
    init_ms: float | None  # the emulator's INIT REPORT, on a cold start only
    duration_ms: float | None  # the REPORT's Duration (on a cold start it includes the init)
    round_trip_ms: float
    peak_rss_mb: float | None


@dataclass
class Emulator:
    """The RIE running ``function``; ``invoke`` as often as wanted, the first is the cold start."""

    function: Function
    aws_env: dict[str, str]
    echo_logs: bool = True
    echo_emulator: bool = False
    _reports: queue.Queue = field(default_factory=queue.Queue)
    _inits: queue.Queue = field(default_factory=queue.Queue)
    _emulator_log: collections.deque = field(default_factory=lambda: collections.deque(maxlen=30))

    def __enter__(self) -> Emulator:
        self._sandbox = sandbox(self.function)
        environ = function_environment(self.function, self.aws_env, *self._sandbox.__enter__())
        self.port, api_port = free_port(), free_port()
        command = [
            str(emulator_binary()),
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{self.port}",
            "--runtime-api-address",
            f"127.0.0.1:{api_port}",
            str(TOOLS / "bin" / "python"),
            "-S",
            "-m",
            "awslambdaric",
            self.function.handler,
        ]
        self.process = subprocess.Popen(
            command,
            cwd=self.function.code_dir,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # the emulator and the runtime it starts stop together
        )
        threading.Thread(target=self._read_logs, daemon=True).start()
        threading.Thread(target=self._read_emulator, daemon=True).start()
        self._wait_listening()
        return self

    def _read_logs(self) -> None:
        """The runtime's output (the function's logs, START/END/REPORT) arrives on the emulator's stdout.
        Each line is echoed whole before its REPORT is handed on: ``print`` writes the line and its newline
        apart, and the caller's own line, printed once it has the REPORT, once landed between the two."""
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if self.echo_logs:
                _echo(line)
            if REPORT_LINE.match(line):
                self._reports.put(line.rstrip())

    def _read_emulator(self) -> None:
        """The emulator's own log: the init duration is only here (its REPORT line prints ~0 ms)."""
        for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self._emulator_log.append(line)
            if match := INIT_REPORT.search(line):
                self._inits.put(float(match.group(1)))
            if self.echo_emulator:
                _echo(line)

    def _wait_listening(self, seconds: float = 10) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the emulator exited with status {self.process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("the emulator did not start listening")

    def runtime_pid(self) -> int | None:
        """The emulator's child; its Go runtime may start it from any of its threads."""
        for children in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                for pid in children.read_text().split():
                    return int(pid)
        return None

    def peak_rss_mb(self) -> float | None:
        """VmHWM of the runtime process: its peak resident memory since it started."""
        pid = self.runtime_pid()
        with contextlib.suppress(OSError, TypeError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
        return None

    def invoke(self, event: bytes) -> Invocation:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{INVOCATIONS}", data=event, method="POST"
        )
        started = time.perf_counter()
        wait = self.function.timeout + 60  # the emulator itself answers "Task timed out" at the timeout
        try:
            with urllib.request.urlopen(request, timeout=wait) as response:
                answer = response.read()
                error_header = response.headers.get("X-Amz-Function-Error")
        except (OSError, urllib.error.URLError) as exc:
            log = "\n".join(self._emulator_log)
            problem = (  # an HTTP answer is an answer: the function failed, it did not time out
                f"the emulator answered {exc.code} {exc.reason}"
                if isinstance(exc, urllib.error.HTTPError)
                else f"no answer from the emulator in {wait} s ({exc})"
            )
            raise RuntimeError(f"{problem}; its log ends:\n{log}") from None
        round_trip = (time.perf_counter() - started) * 1000
        report = self._reports.get(timeout=10)
        try:
            init_ms = self._inits.get_nowait()
        except queue.Empty:
            init_ms = None
        duration = DURATION.search(report)
        return Invocation(
            answer=answer,
            function_error=bool(error_header) or _is_error(answer) or answer.startswith(b"Task timed out"),
            report=report,
            init_ms=init_ms,
            duration_ms=float(duration.group(1)) if duration else None,
            round_trip_ms=round(round_trip, 2),
            peak_rss_mb=self.peak_rss_mb(),
        )

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._sandbox.__exit__(None, None, None)


def _echo(line: str) -> None:
    """One write for the line and its newline: another thread's line cannot land between them."""
    sys.stderr.write(f"{line}\n")
    sys.stderr.flush()


def _is_error(answer: bytes) -> bool:
    with contextlib.suppress(ValueError):
        data = json.loads(answer)
        return isinstance(data, dict) and "errorType" in data and "errorMessage" in data
    return False


# --- sam build and sam local invoke ------------------------------------------------------------------


def tool_environment() -> dict[str, str]:
    """PATH with the tools and the Python 3.12 that made them (``sam build`` needs ``python3.12``)."""
    home = ""
    with contextlib.suppress(OSError):
        for line in (TOOLS / "pyvenv.cfg").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home":
                home = value.strip()
    path = os.pathsep.join(p for p in (home, str(TOOLS / "bin"), os.environ.get("PATH", "")) if p)
    return {**os.environ, "PATH": path, "SAM_CLI_TELEMETRY": "0"}


def sam_build(build_dir: Path, cache_dir: Path | None = None) -> None:
    """``sam build`` of the whole application into ``build_dir`` (pip's cache makes it seconds)."""
    command = [str(TOOLS / "bin" / "sam"), "build", "--build-dir", str(build_dir)]
    if cache_dir is not None:
        command += ["--cache-dir", str(cache_dir)]
    result = subprocess.run(command, cwd=REPO, env=tool_environment(), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"sam build failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def docker_works() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def sam_local_invoke(args, logical_id: str) -> int:
    command = [str(TOOLS / "bin" / "sam"), "local", "invoke", logical_id, "--event", str(args.event)]
    if args.build_dir != DEFAULT_BUILD:
        command += ["--template", str(args.build_dir / "template.yaml")]
    if args.env_vars:
        command += ["--env-vars", str(args.env_vars)]
    if args.parameter_overrides:
        command += ["--parameter-overrides", args.parameter_overrides]
    _echo(f"invoke: Docker is running: {shlex.join(command)}")
    return subprocess.run(command, cwd=REPO, env=tool_environment()).returncode


# --- the command -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/invoke.sh",
        description="sam local invoke, or without Docker the same function under Lambda's runtime emulator.",
    )
    parser.add_argument("function", help="logical id (ClassifyFunction) or short name (classify)")
    parser.add_argument("event", nargs="?", type=Path, help="event JSON file (or -e/--event)")
    parser.add_argument("-e", "--event", dest="event_option", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("-n", "--env-vars", type=Path, help="sam's env-vars JSON file")
    parser.add_argument("--parameter-overrides", help='template parameters, "Key=Value Key2=Value2"')
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD, help="sam build's output folder")
    parser.add_argument("--photo", type=Path, help="file to store at every object the event names")
    parser.add_argument("--aws", action="store_true", help="use the caller's AWS environment, not moto")
    parser.add_argument("--emulator", action="store_true", help="the emulator even if Docker works")
    parser.add_argument("--debug", action="store_true", help="also print the emulator's own log")
    args = parser.parse_args(argv)
    args.event = args.event or args.event_option
    for name in ("event", "env_vars", "photo", "build_dir"):  # sam runs in the checkout, not here
        if getattr(args, name) is not None:
            setattr(args, name, getattr(args, name).absolute())
    if args.event is None:
        raise UsageError("an event file is required: FUNCTION EVENT, or -e EVENT")
    if not args.event.is_file():
        raise UsageError(f"no such event file: {args.event}")
    if args.photo is not None and not args.photo.is_file():
        raise UsageError(f"no such photo: {args.photo}")
    return args


def run(args: argparse.Namespace) -> int:
    try:
        event = json.loads(args.event.read_bytes())
    except ValueError as exc:
        raise UsageError(f"{args.event} is not JSON: {exc}") from None
    overrides = parse_overrides(args.parameter_overrides)
    function = load_function(args.build_dir, args.function, read_env_vars(args.env_vars), overrides)
    if not args.emulator and docker_works():
        return sam_local_invoke(args, function.logical_id)

    objects = event_objects(event)
    settings = Settings.from_env(function.environment)
    with contextlib.ExitStack() as stack:
        if args.aws:
            aws_env = {k: v for k, v in os.environ.items() if AWS_PASSTHROUGH.match(k)}
            aws_env.setdefault("HOME", os.environ.get("HOME", ""))
        else:
            endpoint = stack.enter_context(embedded_aws())
            aws_env = {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
            }
        s3 = s3_client(aws_env)
        if not args.aws:
            prepare(s3, objects, settings, args.photo)
        buckets = list(dict.fromkeys(b for b, _ in objects))
        before = label_versions(s3, buckets, settings)
        _echo(f"invoke: {function.logical_id} ({function.handler}) under the Lambda emulator")
        emulator = stack.enter_context(Emulator(function, aws_env, echo_emulator=args.debug))
        result = emulator.invoke(json.dumps(event).encode())
        init = f"{result.init_ms:.1f} ms" if result.init_ms is not None else "-"
        _echo(
            f"invoke: init {init}, peak memory {result.peak_rss_mb} MB (measured: the emulator's REPORT "
            "counts the init inside Duration and shows the configured memory)"
        )
        after = label_versions(s3, buckets, settings)
        for bucket, key in sorted(k for k, v in after.items() if before.get(k) != v):
            body = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            _echo(f"label s3://{bucket}/{key} {json.dumps(body, ensure_ascii=False)}")
    sys.stdout.write(result.answer.decode(errors="replace") + "\n")
    sys.stdout.flush()
    return 1 if result.function_error else 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(parse_args(argv))
    except UsageError as exc:
        _echo(f"invoke: {exc}")
        return 2
    except (RuntimeError, OSError) as exc:
        _echo(f"invoke: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
