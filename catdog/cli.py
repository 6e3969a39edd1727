"""The ``catdog`` command: classify local or S3 photos in bulk, or feed the SQS fan-out queue.

Each subcommand is one row of ``COMMANDS`` (name, help, arguments, run); adding one is adding a row.
Exit codes: 0 everything was classified/sent, 1 some images failed (each one is in the output with its
error), 2 bad usage or an endpoint that cannot be reached before anything was done (a one-line message,
never a traceback), 3 stopped part way because the endpoint went away (``classify``: after
``bulk.MAX_CONNECTION_ERRORS`` connection errors in a row, the images not attempted counted in the
summary; ``enqueue``: at the first), 4 the results could not be written (a full disk, an I/O error:
one line; every row before it is in the output), 130 / 143 stopped by Ctrl+C / SIGTERM, 141 when
stdout's reader went away (``| head``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import NamedTuple

import boto3
from botocore.exceptions import ClientError
from tqdm import tqdm

import catdog
from catdog import bulk
from catdog.card import ModelCard, card_path, missing_model, model_file
from catdog.enqueue import (
    EnqueueReport,
    check_queue_url,
    enqueue,
    no_queue_code,
    queue_endpoint,
    queue_region,
)
from catdog.inputs import (
    CONNECTION_ERRORS,
    SETUP_ERRORS,
    Missing,
    S3Ref,
    Unreachable,
    UsageError,
    expand,
    list_images,
    parse_s3_url,
    printable,
)
from catdog.settings import Settings, model_path_from_env

OUTPUT_FORMATS = (".jsonl", ".csv")
#: The exit code of a run the endpoint's going away stopped part way (2 when nothing was done yet).
EXIT_ENDPOINT_LOST = 3
#: The exit code when the results could not be written (a full disk): the run's own output failed, not
#: an image, so neither 1 ("some images failed") nor a usage error.
EXIT_OUTPUT_FAILED = 4
#: The exit code when stdout's reader went away, a shell's for a writer that SIGPIPE stopped (128 + 13).
EXIT_BROKEN_PIPE = 141


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of the usage block
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class OutputError(Exception):
    """The results could not be written (``ENOSPC``, ``EIO``): exit code ``EXIT_OUTPUT_FAILED``."""

    def __init__(self, message: str, *, stdout: bool):
        super().__init__(message)
        #: whether the output that failed was stdout (not an --output file)
        self.stdout = stdout


def settings_from_env() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:  # MAX_IMAGE_BYTES=abc is bad usage, not an image that failed
        raise UsageError(f"{exc} (in the environment)") from exc


# --- classify ---------------------------------------------------------------------------------------


def classify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="image files, folders, or s3://bucket/prefix"
    )
    parser.add_argument(
        "--model",
        type=model_folder,
        default=model_path_from_env(None),
        help="model folder with model.tflite + model.json, or its .tflite file (default: $MODEL_PATH); "
        "in a checkout the released model is models/catdog",
    )
    parser.add_argument(
        "--output",
        "-o",
        help="write rows to results.jsonl or results.csv, replacing that file (default: stdout)",
    )
    parser.add_argument(
        "--workers",
        "-w",
        type=int,
        default=bulk.default_workers(),
        help=f"parallel workers (default %(default)s, one per core; 1 to {bulk.max_workers()})",
    )
    parser.add_argument(
        "--executor",
        choices=bulk.EXECUTORS,
        default="thread",
        help="thread (default: LiteRT and Pillow release the GIL, no start-up cost) or process",
    )
    parser.add_argument(
        "--write-labels",
        action="store_true",
        help="for s3:// paths, also write each label JSON exactly as the Lambda does",
    )


def model_folder(text: str) -> str:
    """``--model ""`` (an unset variable in a script) is a bad argument, not a look in the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path: name the model folder (models/catdog in a checkout)")
    return text


def run_classify(args: argparse.Namespace) -> int:
    with _stopping_on_signals():
        return _classify(args)


def _classify(args: argparse.Namespace) -> int:
    settings = settings_from_env()
    s3_paths = [p for p in args.paths if p.startswith("s3://")]
    for url in s3_paths:
        parse_s3_url(url)
    if args.write_labels and not s3_paths:
        raise UsageError("--write-labels needs at least one s3:// path")
    if not 1 <= args.workers <= bulk.max_workers():
        raise UsageError(f"--workers must be 1 to {bulk.max_workers()}, not {args.workers}")
    output_format(args.output)
    if not args.output and sys.stdout is None:
        raise UsageError("stdout is closed: name a file for the results with --output")
    if args.model is None:
        raise UsageError("no model: pass --model DIR (in a checkout: models/catdog) or set MODEL_PATH")
    model = str(args.model)
    card = _load_card(model)
    started = time.perf_counter()  # listing is part of the run: a long or stalled one shows in the rate
    items = list(expand(args.paths, bulk.s3_client, settings))
    if all(isinstance(item, Missing) for item in items):  # a typo in the only path: no --output replaced
        reasons = "; ".join(f"{printable(item.path)}: {item.message}" for item in items)
        raise UsageError(f"nothing to classify: {reasons}")

    counts: Counter[str] = Counter()
    nothing_there = {item.path for item in items if isinstance(item, Missing)}  # a row each, no image
    lost = None
    with Output(args.output, card) as write, _progress(len(items), "img") as bar:
        rows = bulk.classify_all(
            items,
            model,
            workers=min(args.workers, max(len(items), 1)),
            executor=args.executor,
            settings=settings,
            write_labels=args.write_labels,
        )
        # closed at once on an interrupt, so that the pool stops then, not when the traceback is freed
        with contextlib.closing(rows):
            try:
                for row in rows:
                    write(row)
                    is_path = "error" in row and row["path"] in nothing_there
                    counts["paths" if is_path else "errors" if "error" in row else row["label"]] += 1
                    bar.update(1)
            except bulk.EndpointLost as exc:  # every image attempted has its row, written above
                lost = exc
    elapsed = time.perf_counter() - started
    total = sum(counts.values()) - counts["paths"]
    per_label = ", ".join(f"{label} {counts[label]}" for label in card.answers)
    summary = (
        f"catdog: {_count(total, 'image')} in {elapsed:.1f} s ({total / elapsed:.1f} images/s): "
        f"{per_label}, errors {counts['errors']}"
    )
    if counts["paths"]:
        summary += f"; {_count(counts['paths'], 'path')} gave no image"
    if lost:
        first = printable(bulk.item_path(lost.not_attempted[0]))
        summary += f"; {lost}: {_count(len(lost.not_attempted), 'image')} not attempted (the first: {first})"
    print(summary, file=sys.stderr)
    if lost:
        return EXIT_ENDPOINT_LOST
    return 1 if counts["errors"] or counts["paths"] else 0


class Stopped(KeyboardInterrupt):
    """Ctrl+C or SIGTERM; the exit code is 128 + the signal's number (130, 143), as a shell reports it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.exit_code = 128 + signum


@contextlib.contextmanager
def _stopping_on_signals():
    """SIGTERM (``kill``, ``timeout``, a container stopping) stops a run as Ctrl+C does: the rows so far
    written whole, the workers ended. The first signal wins and later ones are ignored, so that a second
    Ctrl+C cannot cut that clean-up short and leave workers running. The caller's handlers come back
    afterwards (``main`` may run inside another program, a test runner). Off the main thread, where
    Python takes no handler, the run is left to that program's own handling."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {each: signal.getsignal(each) for each in signals}

    def stop(signum, frame):
        for each in signals:
            signal.signal(each, signal.SIG_IGN)
        raise Stopped(signum)

    for each in signals:
        signal.signal(each, stop)
    try:
        yield
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)


def _load_card(model: str) -> ModelCard:
    try:
        return bulk.model_card(model)
    except Exception as exc:  # any failure to load the model is a usage error, reported in one line
        raise UsageError(f"cannot load the model from {model}: {exc}") from exc


def output_format(output: str | None) -> str:
    suffix = next((s for s in OUTPUT_FORMATS if output.lower().endswith(s)), None) if output else ".jsonl"
    if suffix is None:
        raise UsageError(f"--output must end in {' or '.join(OUTPUT_FORMATS)}, not {output!r}")
    return suffix


class Output:
    """A context manager returning ``write(row)``; JSON Lines or CSV by the output's suffix."""

    def __init__(self, output: str | None, card: ModelCard):
        self.output, self.card, self.csv = output, card, output_format(output) == ".csv"
        self.rows = 0

    def __enter__(self) -> Callable[[dict], None]:
        try:
            self.stream = open(self.output, "w", encoding="utf-8", newline="") if self.output else sys.stdout
        except OSError as exc:
            raise UsageError(f"cannot write {self.output}: {exc.strerror}") from exc
        if not self.output and hasattr(self.stream, "reconfigure"):  # UTF-8 whatever the locale says
            self.stream.reconfigure(encoding="utf-8")
        if not self.csv:
            self._write_row = self._write_json
            return self._write
        # one column for each probability the model gives; a prototype "neither" check adds its score
        probabilities = [f"p_{label}" for label in self.card.labels]
        columns = ["path", "label", "confidence", *probabilities, *self._score_column]
        self.table = csv.DictWriter(self.stream, [*columns, "error_code", "error_message"])
        self.table.writeheader()
        self._write_row = self._write_csv
        return self._write

    def __exit__(self, kind, *exc_info) -> None:
        with self._failing_as_output_error(quiet=kind is not None):  # the first error is the one told
            if self.output:
                self.stream.close()
            else:
                self.stream.flush()

    @contextlib.contextmanager
    def _failing_as_output_error(self, quiet: bool = False):
        """A write that fails (a full disk) is an ``OutputError`` naming the output, in one line; a reader
        that went away stays a ``BrokenPipeError`` (exit 141)."""
        try:
            yield
        except BrokenPipeError:
            if not quiet:
                raise
        except OSError as exc:
            if not quiet:
                where, reason = self.output or "stdout", exc.strerror or str(exc)
                raise OutputError(
                    f"cannot write the results to {where}: {reason} (after {_count(self.rows, 'row')})",
                    stdout=not self.output,
                ) from exc

    @property
    def _score_column(self) -> list[str]:
        return ["pet_score"] if self.card.has_pet_score else []

    def _write(self, row: dict) -> None:
        """Each row flushed as it comes: a run that stalls or is killed (``kill -9``, out of memory) has
        every row so far in its output, not all but the last 8 KB of them."""
        row = {**row, "path": printable(row["path"])}
        if "error" in row:  # a message may name the file too ("not a file: <path>")
            row["error"] = {**row["error"], "message": printable(row["error"]["message"])}
        with self._failing_as_output_error():
            self._write_row(row)
            self.stream.flush()
        self.rows += 1

    def _write_json(self, row: dict) -> None:
        self.stream.write(json.dumps(row, ensure_ascii=False) + "\n")

    def _write_csv(self, row: dict) -> None:
        error = row.get("error") or {}
        probabilities = {f"p_{label}": p for label, p in (row.get("probabilities") or {}).items()}
        self.table.writerow(
            {
                "path": row["path"],
                "label": row.get("label", ""),
                "confidence": row.get("confidence", ""),
                **probabilities,
                **{column: row.get(column, "") for column in self._score_column},
                "error_code": error.get("code", ""),
                "error_message": error.get("message", ""),
            }
        )


def _progress(total: int | None, unit: str):
    # disable=None: a live bar with rate and ETA on a terminal, silence in logs and pipes.
    return tqdm(total=total, unit=unit, file=sys.stderr, disable=None, smoothing=0.1, dynamic_ncols=True)


# --- enqueue ----------------------------------------------------------------------------------------


def enqueue_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prefixes", nargs="+", metavar="s3://BUCKET/PREFIX", help="what to classify")
    parser.add_argument(
        "--queue-url",
        default=os.environ.get("QUEUE_URL"),
        help="the SQS queue (default: $QUEUE_URL; the stack's WorkQueueUrl output)",
    )


def run_enqueue(args: argparse.Namespace) -> int:
    with _stopping_on_signals():
        return _enqueue(args)


def _enqueue(args: argparse.Namespace) -> int:
    if not args.queue_url:
        raise UsageError("--queue-url (or $QUEUE_URL) is required")
    targets = [parse_s3_url(url) for url in args.prefixes]
    check_queue_url(args.queue_url)
    settings = settings_from_env()
    session = boto3.session.Session()
    region = session.region_name or queue_region(args.queue_url)
    if region is None:
        raise UsageError(f"no AWS region configured, and none in {args.queue_url}: set AWS_DEFAULT_REGION")
    sqs = session.client(
        "sqs", region_name=region, endpoint_url=queue_endpoint(args.queue_url), config=bulk.S3_CONFIG
    )
    s3, report, lost, refused = bulk.s3_client(), EnqueueReport(), None, None
    refs = _listed(s3, targets, settings, report)
    with _progress(None, "msg") as bar:
        try:
            enqueue(sqs, args.queue_url, refs, on_batch=bar.update, report=report)
        except CONNECTION_ERRORS as exc:  # S3 (listing) or SQS, retries spent: later objects would fail too
            lost = f"{type(exc).__name__}: {exc}"
            if not report.sent and not report.failed and not report.prefixes_failed:
                raise Unreachable(f"cannot reach the endpoint: {lost}") from exc
        except ClientError as exc:  # SQS refused the sends (no queue at the URL, no permission): all of them
            error, code = exc.response.get("Error", {}), no_queue_code(exc)
            reason = f"{error.get('Code', 'ClientError')}: {error.get('Message', exc)}"
            lost = (
                f"no queue at {args.queue_url} ({code})"
                if code
                else f"cannot send to {args.queue_url}: {reason}"
            )
            refused = exc
        except KeyboardInterrupt:  # Ctrl+C or SIGTERM: what already went out is told, then the interrupt
            _tell_enqueued(report, "interrupted: the rest were not sent")
            raise
    if refused and not report.sent:  # nothing sent: a bad --queue-url or role, as a bad argument is
        _tell_enqueued(report, None, summary=False)  # the prefixes that failed, told before the error
        raise UsageError(lost) from refused
    _tell_enqueued(report, lost and f"stopped, the rest were not listed or sent: {lost}")
    if lost:
        return EXIT_ENDPOINT_LOST
    return 1 if report.failed or report.prefixes_failed else 0


def _tell_enqueued(report: EnqueueReport, stopped: str | None, *, summary: bool = True) -> None:
    """Each object or prefix not sent, then the counts (each says what it counts: a prefix that failed is
    no message; it read "4 messages sent, 2 failed") and why the run stopped early, if it did."""
    for ref, reason in report.prefixes_failed + report.failed:
        print(f"catdog: not sent: {ref.path}: {reason}", file=sys.stderr)
    if not summary:
        return
    line = f"catdog: {_count(report.sent, 'message')} sent, {len(report.failed)} rejected"
    if report.prefixes_failed:
        line += f", {_count(len(report.prefixes_failed), 'prefix', 'prefixes')} failed"
    print(f"{line}; {stopped}" if stopped else line, file=sys.stderr)


def _count(count: int, one: str, many: str | None = None) -> str:
    return f"1 {one}" if count == 1 else f"{count} {many or one + 's'}"


def _listed(s3, targets: list[tuple[str, str]], settings: Settings, report: EnqueueReport) -> Iterator[S3Ref]:
    """Each prefix's images. A prefix S3 refuses to list (no such bucket, access denied), or one with no
    image under it (a typo: ``archve/``), is a failure of its own, as a row is in ``classify``, and the
    next prefix is listed: raised, it would also have dropped the images listed but not yet sent and
    every later prefix, with no count."""
    for bucket, prefix in targets:
        found = 0
        try:
            for ref in list_images(s3, bucket, prefix, settings):
                found += 1
                yield ref
        except ClientError as exc:
            error = exc.response.get("Error", {})
            reason = f"cannot list it: {error.get('Code', 'ClientError')}: {error.get('Message', exc)}"
            report.prefixes_failed.append((S3Ref(bucket, prefix), reason))
            continue
        if not found:
            report.prefixes_failed.append((S3Ref(bucket, prefix), "no image objects under it"))


# --- entry point ------------------------------------------------------------------------------------


class Command(NamedTuple):
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {
    "classify": Command(
        "classify photos (files, folders, s3://bucket/prefix)", classify_arguments, run_classify
    ),
    "enqueue": Command(
        "send s3://bucket/prefix objects to the SQS fan-out queue", enqueue_arguments, run_enqueue
    ),
    "serve": Command(
        "run the pipeline on an embedded S3 and serve the upload page (from a checkout)",
        lambda parser: _serve_arguments(parser),
        lambda args: _local_serve().run(args),
    ),
}


def _local_serve():
    """``local.serve``: the local stack lives beside the package, in a checkout of the repository."""
    try:
        from local import serve
    except ImportError as exc:
        raise UsageError(
            "catdog serve runs from a checkout of the repository (scripts/demo.sh), "
            f"where the local stack is: {exc}"
        ) from exc
    return serve


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    try:
        serve = _local_serve()
    except UsageError:  # an installed catdog without the checkout: `catdog serve` says so when run
        parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        return
    serve.add_arguments(parser)


class _Version(argparse.Action):
    """``catdog --version``: the package's version, and the model's that ``$MODEL_PATH`` names (its card is
    read and checked against the model file's sha256, as ``classify`` checks it; no model is loaded)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the versions of catdog and of the model")

    def __call__(self, parser, namespace, values, option_string=None):
        try:  # to stdout, as argparse's version does
            print(f"catdog {catdog.__version__}\n{_model_version()}", flush=True)
        except BrokenPipeError:  # `catdog --version | true`: as classify's rows into a closed pipe
            _stdout_to_devnull()
            parser.exit(EXIT_BROKEN_PIPE)
        parser.exit()


def _model_version() -> str:
    model = model_path_from_env(None)
    if model is None:
        return "model: none set ($MODEL_PATH; pass --model DIR)"
    missing = missing_model(model)  # what classify says of it, not the card of a parent folder
    if missing:
        return f"model: cannot read it in {model} ($MODEL_PATH): {missing}"
    try:
        card = ModelCard.load(card_path(model))
        card.verify(model_file(model))  # a card beside another model vouches for nothing
    except Exception as exc:  # a card that cannot be read is told, not a traceback
        return f"model: cannot read it in {model} ($MODEL_PATH): {exc}"
    return f"model: {card.name} {card.version} in {model} ($MODEL_PATH)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="catdog", description="Cat-vs-dog photo classifier (full-int8 LiteRT).")
    parser.add_argument("--version", action=_Version)
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        command.arguments(sub)
        sub.set_defaults(run=command.run, parser=sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    _open_closed_descriptors()
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:  # the command's to refuse, in its name (argparse leaves them to `catdog: error:`)
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return args.run(args)
    except (UsageError, Unreachable) as exc:
        print(f"catdog {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except SETUP_ERRORS as exc:  # a setting of this machine, as a bad option is
        print(f"catdog {args.command}: error: {exc} (AWS_PROFILE, or aws configure)", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print("catdog: interrupted", file=sys.stderr)
        return getattr(exc, "exit_code", 130)
    except OutputError as exc:  # a full disk: one line, and no second error when Python flushes stdout
        print(f"catdog {args.command}: error: {exc}", file=sys.stderr)
        if exc.stdout:  # an --output file that failed leaves stdout to a program that runs main in-process
            _stdout_to_devnull()
        return EXIT_OUTPUT_FAILED
    except BrokenPipeError:  # `catdog classify ... | head`: the reader has what it wanted; no error to tell
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # AWS credentials, network: still one line, never a traceback
        print(f"catdog {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _open_closed_descriptors() -> None:
    """Started with stdout or stderr closed (``>&-``, ``2>&-``), Python has None for it, and the next file
    opened takes descriptor 1 or 2, where LiteRT's banner filter and any C library write. Each closed one
    is opened on /dev/null. A closed stderr becomes a silent one (else ``print`` falls back to stdout,
    into the results); ``sys.stdout`` stays None, so that results are refused rather than discarded."""
    for descriptor in (1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            null = os.open(os.devnull, os.O_WRONLY)
            if null != descriptor:
                os.dup2(null, descriptor)
                os.close(null)
    if sys.stderr is None:
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 (the process's own)


def _stdout_to_devnull() -> None:
    """A stdout that failed gets no second error when Python flushes it again at exit."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
