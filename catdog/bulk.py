"""Classify many images on every core: one interpreter per worker, results in input order.

A LiteRT interpreter is not thread-safe, so each worker (a thread or a process) builds its own
``Classifier`` once, in the pool's initializer, and keeps it for every image it is given. Threads are
the default: ``Interpreter.invoke`` and Pillow's decoder and resize release the GIL, so threads run in
parallel where the time goes, without the second of start-up and the pickling a process pool costs
(measured in ``benchmarks/bench_cli.py``; both pools run exactly the same per-image function).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from catdog.card import ModelCard
from catdog.classifier import Classifier
from catdog.images import InvalidImage
from catdog.inputs import CONNECTION_ERRORS, Item, Missing, S3Ref, not_a_file
from catdog.labeling import Labeler, refuse_oversized
from catdog.settings import Settings
from catdog.storage import is_archived, is_not_found

EXECUTORS = ("thread", "process")
#: Adaptive retries absorb S3 throttling (503 SlowDown) before an image is reported failed. S3 answers a
#: connection in milliseconds; botocore's default connect timeout (60 s, for each of the 10 attempts) made
#: an endpoint that never answers cost 10 minutes a request before the run could give up.
S3_CONFIG = Config(
    # total_max_attempts: as a client option botocore counts "max_attempts" in retries (10 made 11 attempts)
    retries={"mode": "adaptive", "total_max_attempts": 10},
    max_pool_connections=32,
    connect_timeout=5,
)
#: Images in a row that failed with a connection error (``CONNECTION_ERRORS``, each after all of
#: S3_CONFIG's retries) after which ``classify_all`` stops: the endpoint is gone, not one object, and
#: every further image would only fail as slowly.
MAX_CONNECTION_ERRORS = 5


def _names(classes) -> set[str]:
    return {name for cls in classes for name in (cls.__name__, *_names(cls.__subclasses__()))}


#: The error codes ``classify_item`` gives a connection error (it names a botocore error by its class).
CONNECTION_ERROR_CODES = frozenset(_names(CONNECTION_ERRORS))


class EndpointLost(Exception):
    """``classify_all`` stopped after ``errors`` connection errors in a row. Every image it started has
    had its row; ``not_attempted`` are the items it never tried, in their order."""

    def __init__(self, errors: int, not_attempted: list[Item]):
        super().__init__(f"stopped after {errors} connection errors in a row")
        self.errors, self.not_attempted = errors, not_attempted


_local = threading.local()


def s3_client():
    """A fresh client on its own session: sessions are not thread-safe, clients made this way are.

    The endpoint honours ``AWS_ENDPOINT_URL`` (botocore reads it natively), which is how the tests
    point the CLI at a moto server.
    """
    return boto3.session.Session().client("s3", config=S3_CONFIG)


def worker_state(model: str, settings: Settings, write_labels: bool) -> dict:
    """What a worker classifies with: its own interpreter (and S3 client, made on first use)."""
    return {"classifier": Classifier(model), "settings": settings, "write_labels": write_labels, "s3": None}


def init_worker(*initargs) -> None:
    """Pool initializer: a pool's thread or process is one run's worker for its whole life."""
    vars(_local).update(worker_state(*initargs))


def init_process_worker(*initargs) -> None:
    """A process worker ignores Ctrl+C, which the terminal sends to the whole process group: the parent
    alone decides what stops, and ends its workers itself (``_abandon``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    init_worker(*initargs)


def classify_item(item: Item) -> dict:
    """One output row: ``path`` and ``label``/``confidence``/``probabilities``, or ``path`` and ``error``.

    Nothing an image can do raises here: undecodable, missing or refused objects become error rows.
    """
    if isinstance(item, Missing):
        return _error_row(item.path, item.code, item.message)
    path = item_path(item)
    try:
        if isinstance(item, S3Ref):
            return _classify_s3(item)
        # a str or Path from the Python API as well; what is not there is left to the decoder's words
        found = _stat(item)
        special = found and not_a_file(path, found.st_mode)  # /dev/null is there: not "not_found"
        if special:
            return _error_row(special.path, special.code, special.message)
        size = found.st_size if found else 0
        limit = _local.settings.max_image_bytes
        if size > limit:  # the limit and words of an S3 object's (refuse_oversized), wherever a photo is
            return _error_row(path, "too_large", f"{size:,} bytes is above the limit of {limit:,}")
        prediction = _local.classifier.classify(item, max_pixels=_local.settings.max_pixels)
        return {"path": path, **prediction.as_dict()}
    except InvalidImage as exc:
        return _error_row(path, exc.code, str(exc))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = (
            "not_found" if is_not_found(exc) else "archived" if is_archived(exc) else error.get("Code", "?")
        )
        return _error_row(path, code, error.get("Message", str(exc)))
    except OSError as exc:  # a file this user may not read, a disk error
        return _error_row(path, "unreadable", f"cannot read it: {exc.strerror or exc}")
    except BotoCoreError as exc:
        return _error_row(path, type(exc).__name__, str(exc))


def _stat(path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (OSError, ValueError):  # not there, not readable, a NUL in the name: the decoder says which
        return None


def _classify_s3(ref: S3Ref) -> dict:
    if _local.s3 is None:
        _local.s3 = s3_client()
    if _local.write_labels:
        record = Labeler(_local.s3, _local.classifier, _local.settings).label(
            ref.bucket, ref.key, etag=ref.etag
        )
        if "error" in record:
            return {"path": ref.path, "error": record["error"]}
        if record.get("stale"):  # kept, as it cannot be read: not this model's answer, so not a result
            made_by = (record.get("model") or {}).get("version")
            why = f"the object is archived: its label, kept, is model {made_by}'s; restore it, then label it"
            return _error_row(ref.path, "archived", why)
        fields = ("label", "confidence", "probabilities", "pet_score")
        return {"path": ref.path, **{k: record[k] for k in fields if k in record}}
    obj = _local.s3.get_object(Bucket=ref.bucket, Key=ref.key)
    refused = refuse_oversized(obj, _local.settings)
    if refused:
        return _error_row(ref.path, "too_large", refused)
    prediction = _local.classifier.classify(obj["Body"].read(), max_pixels=_local.settings.max_pixels)
    return {"path": ref.path, **prediction.as_dict()}


def item_path(item: Item) -> str:
    return str(item) if isinstance(item, str | os.PathLike) else item.path


def _error_row(path: str, code: str, message: str) -> dict:
    return {"path": path, "error": {"code": code, "message": message}}


def is_connection_error(row: dict) -> bool:
    return row.get("error", {}).get("code") in CONNECTION_ERROR_CODES


def classify_chunk(chunk: list[Item]) -> list[dict]:
    """The rows of a worker's chunk of items, in order. After ``MAX_CONNECTION_ERRORS`` connection errors
    in a row the rest of the chunk is left untried (shorter list), as ``classify_all`` then stops too."""
    rows: list[dict] = []
    in_a_row = 0
    for item in chunk:
        rows.append(classify_item(item))
        in_a_row = in_a_row + 1 if is_connection_error(rows[-1]) else 0
        if in_a_row == MAX_CONNECTION_ERRORS:
            break
    return rows


class _Inline:
    """A chunk classified in the caller's thread when its rows are asked for: a run without a pool
    stands in for a ``Future`` that has not started yet. The run's worker state is the caller thread's
    only meanwhile, so that two runs read in turn (another model, other limits) or a run read from
    another thread each classify with their own."""

    def __init__(self, chunk: list[Item], state: dict):
        self.chunk, self.state = chunk, state

    def cancel(self) -> bool:
        return True

    def result(self) -> list[dict]:
        caller = dict(vars(_local))
        vars(_local).update(self.state)
        try:
            return classify_chunk(self.chunk)
        finally:
            self.state.update(vars(_local))  # the S3 client made on first use is kept for the next
            vars(_local).clear()
            vars(_local).update(caller)


def classify_all(
    items: Iterable[Item],
    model: str | os.PathLike,
    *,
    workers: int = 1,
    executor: str = "thread",
    settings: Settings | None = None,
    write_labels: bool = False,
) -> Iterator[dict]:
    """Rows for ``items`` in their order; ``workers=1`` runs inline with no pool at all.

    After ``MAX_CONNECTION_ERRORS`` connection errors in a row, with images still to do, it stops:
    images not started are dropped, those already started still give their rows, and then
    ``EndpointLost`` names the ones never attempted.
    """
    items = list(items)
    initargs = (str(model), settings or Settings(), write_labels)
    if workers <= 1:
        state = worker_state(*initargs)
        yield from _in_order(deque(([item], _Inline([item], state)) for item in items))
        return
    # Chunks amortise the inter-process round trip; small enough to keep the progress bar moving.
    size = 16 if executor == "process" else 1
    pool = _pool(executor, workers, initargs)
    try:
        chunks = [items[start : start + size] for start in range(0, len(items), size)]
        yield from _in_order(deque((chunk, pool.submit(classify_chunk, chunk)) for chunk in chunks))
    except BaseException:  # Ctrl+C, SIGTERM, the caller stopped reading (GeneratorExit), EndpointLost
        _abandon(pool)
        raise
    pool.shutdown()


def _in_order(pending: deque) -> Iterator[dict]:
    """The rows of ``(chunk, future)`` pairs in order, each future's result dropped once yielded."""
    in_a_row = 0
    while pending:
        chunk, future = pending.popleft()
        rows = future.result()
        yield from rows
        for row in rows:
            in_a_row = in_a_row + 1 if is_connection_error(row) else 0
        if in_a_row >= MAX_CONNECTION_ERRORS and (pending or len(rows) < len(chunk)):
            yield from _stop(in_a_row, list(chunk[len(rows) :]), pending)
            return


def _stop(errors: int, not_attempted: list[Item], pending: deque) -> Iterator[dict]:
    """Drop the chunks no worker has started, yield the rows of those started (their images were tried,
    whatever came of it), then raise ``EndpointLost`` if any image was left untried."""
    # Last first: workers take chunks from the front, so the ones still running stay a prefix.
    dropped = [later.cancel() for _, later in reversed(pending)][::-1]
    for (chunk, later), cancelled in zip(pending, dropped, strict=True):
        rows = [] if cancelled else later.result()
        yield from rows
        not_attempted += chunk[len(rows) :]
    pending.clear()
    if not_attempted:
        raise EndpointLost(errors, not_attempted)


def _abandon(pool: Executor) -> None:
    """Stop now, rather than classify every queued image first as ``shutdown(wait=True)`` (leaving a
    ``with`` block) does: pending images are cancelled and process workers terminated (a thread finishes
    the image it holds). ``_processes`` is private, but Python 3.12 has no public way to end them."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()


def _pool(executor: str, workers: int, initargs: tuple) -> Executor:
    if executor == "thread":
        return ThreadPoolExecutor(workers, initializer=init_worker, initargs=initargs)
    if executor != "process":
        raise ValueError(f"executor must be one of {EXECUTORS}, not {executor!r}")
    # forkserver: workers start from a clean, pre-imported server, never from a parent that already
    # runs threads (tqdm's monitor, boto3's pools), which plain fork would copy half-locked.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["catdog.bulk"])
    return ProcessPoolExecutor(
        workers, mp_context=context, initializer=init_process_worker, initargs=initargs
    )


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def max_workers() -> int:
    """4 per core, at least 8: room for workers waiting on S3. More only add an interpreter each (300
    photos with 100 workers took 2.1 GB, and longer than with 2)."""
    return max(8, 4 * default_workers())


def model_card(model: str | os.PathLike) -> ModelCard:
    """The card of a model folder, checked by really loading the model (a bad ``--model`` fails early)."""
    return Classifier(Path(model)).card
