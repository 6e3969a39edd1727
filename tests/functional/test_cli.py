"""``catdog classify`` / ``catdog enqueue`` as a user runs them: a subprocess, real photos, the released
model, and S3/SQS served by moto over real HTTP (``AWS_ENDPOINT_URL``)."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from conftest import AS_A_USER, PHOTOS
from PIL import Image

import catdog as catdog_package
from catdog import bulk, cli
from catdog import enqueue as enqueue_module
from catdog.inputs import S3Ref, expand
from catdog.settings import Settings


def catdog(*args: str, env: dict | None = None, prefix: list[str] = ()) -> subprocess.CompletedProcess:
    command = [*prefix, sys.executable, "-m", "catdog", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


def rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def photo_folder(tmp_path, cat_photos, dog_photos):
    """Cats at the top, dogs in a nested folder, plus a non-image that a folder walk must skip."""
    folder = tmp_path / "photos"
    (folder / "nested" / "dogs").mkdir(parents=True)
    for photo in cat_photos[:4]:
        shutil.copy(photo, folder / f"cat-{photo.name}")
    for photo in dog_photos[:4]:
        shutil.copy(photo, folder / "nested" / "dogs" / f"dog-{photo.name}")
    (folder / "notes.txt").write_text("not a photo")
    return folder


def test_given_a_folder_of_photos_when_classified_then_one_jsonl_row_each_and_exit_0(
    photo_folder, tmp_path, serving_model
):
    output = tmp_path / "results.jsonl"

    result = catdog(
        "classify",
        str(photo_folder),
        "--model",
        str(serving_model),
        "-o",
        str(output),
        "-w",
        "2",
        "--executor",
        "process",
    )

    assert result.returncode == 0, result.stderr
    found = rows(output)
    assert len(found) == 8
    assert {Path(row["path"]).name for row in found} == {p.name for p in photo_folder.rglob("*.jpg")}
    assert all(set(row["probabilities"]) == {"cat", "dog", "neither"} for row in found)
    counts = Counter(row["label"] for row in found)
    assert "8 images" in result.stderr and "errors 0" in result.stderr
    assert all(f"{label} {n}" in result.stderr for label, n in counts.items())


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_given_stdout_piped_to_a_reader_that_stops_when_classified_then_it_ends_quietly_with_141(
    executor, serving_model
):
    # GIVEN `catdog classify PHOTOS | head -1`: a reader that takes one row and closes the pipe
    command = [sys.executable, "-m", "catdog", "classify", str(PHOTOS), "--model", str(serving_model)]
    process = subprocess.Popen(
        [*command, "-w", "1", "--executor", executor],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = process.stdout.readline()
    process.stdout.close()

    # WHEN it writes its next rows
    stderr = process.stderr.read()
    code = process.wait(timeout=120)

    # THEN the row read was whole, nothing claims that images failed, and the exit code is a shell's for
    # a writer stopped by SIGPIPE (141), not 1 ("some images failed")
    assert json.loads(first)["label"] in {"cat", "dog", "neither"}
    assert code == 141, stderr
    assert "Error" not in stderr and "Traceback" not in stderr, stderr


def test_given_the_version_piped_to_a_reader_that_stops_when_asked_then_it_ends_quietly_with_141():
    # GIVEN `catdog --version | true`: a reader gone before the line is written
    command = [sys.executable, "-m", "catdog", "--version"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()

    # WHEN it writes its line
    stderr = process.stderr.read()
    code = process.wait(timeout=60)

    # THEN as classify: quiet, 141 (it was a BrokenPipeError traceback, exit 1)
    assert (code, stderr) == (141, "")


def test_given_the_released_model_when_the_fixture_photos_are_classified_then_at_least_39_of_40_right(
    serving_model,
):
    result = catdog("classify", str(PHOTOS), "--model", str(serving_model))

    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(found) == 40
    assert sum(row["label"] == Path(row["path"]).parent.name for row in found) >= 39


def test_given_a_corrupt_file_and_a_missing_path_when_classified_to_csv_then_error_rows_and_exit_1(
    photo_folder, tmp_path, serving_model
):
    (photo_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    output = tmp_path / "results.csv"

    result = catdog(
        "classify",
        str(photo_folder),
        str(tmp_path / "nowhere"),
        "--model",
        str(serving_model),
        "--workers",
        "2",
        "--output",
        str(output),
    )

    assert result.returncode == 1
    table = list(csv.DictReader(output.open()))
    assert len(table) == 10
    errors = {row["path"].rsplit("/", 1)[-1]: row["error_code"] for row in table if row["error_code"]}
    assert errors == {"broken.jpg": "invalid_image", "nowhere": "not_found"}
    good = [row for row in table if not row["error_code"]]
    assert len(good) == 8 and all(row["label"] in ("cat", "dog") for row in good)
    assert all(abs(float(row["p_cat"]) + float(row["p_dog"]) - 1) < 1e-3 for row in good)
    assert "9 images in" in result.stderr and "errors 1; 1 path gave no image" in result.stderr
    assert "Traceback" not in result.stderr


def test_given_a_photo_this_user_may_not_read_when_classified_then_an_unreadable_row_and_the_rest_labelled(
    tmp_path, serving_model, cat_photos, dog_photos
):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(cat_photos[0], folder / "cat.jpg")
    shutil.copy(dog_photos[0], folder / "locked.jpg")
    (folder / "locked.jpg").chmod(0o000)
    output = tmp_path / "rows.jsonl"

    result = catdog(
        "classify", str(folder), "--model", str(serving_model), "-o", str(output), prefix=AS_A_USER
    )

    assert result.returncode == 1, result.stderr
    cat, locked = rows(output)
    assert cat["label"] == "cat"
    assert locked["error"] == {"code": "unreadable", "message": "cannot read it: Permission denied"}


def test_given_a_program_that_runs_main_in_a_thread_of_its_own_when_classifying_then_it_classifies(
    cat_photos, serving_model, tmp_path
):
    import threading

    # GIVEN a program (a notebook's worker, a job runner) calling catdog's main off its main thread,
    # where Python takes no signal handler
    output, codes = tmp_path / "labels.csv", []
    args = ["classify", str(cat_photos[0]), "--model", str(serving_model), "--output", str(output)]

    # WHEN it classifies a photo
    worker = threading.Thread(target=lambda: codes.append(cli.main(args)))
    worker.start()
    worker.join(60)

    # THEN the photo is classified (it was a ValueError, "signal only works in main thread")
    assert codes == [0]
    assert [row["label"] for row in csv.DictReader(output.open())] == ["cat"]


def test_given_a_slow_listing_when_classified_then_the_summary_time_includes_it(
    tmp_path, serving_model, cat_photos, monkeypatch, capsys
):
    # GIVEN a listing that takes a second (a big bucket, a slow endpoint) before one photo
    def slow_expand(*args, **kwargs):
        time.sleep(1.0)
        return expand(*args, **kwargs)

    monkeypatch.setattr(cli, "expand", slow_expand)

    # WHEN it is classified
    assert cli.main(["classify", str(cat_photos[0]), "--model", str(serving_model)]) == 0

    # THEN the summary's time and rate count the listing
    summary = capsys.readouterr().err.splitlines()[-1]
    assert summary.startswith("catdog: 1 image in "), summary
    assert float(summary.split(" in ")[1].split(" s ")[0]) >= 1.0, summary


@pytest.mark.parametrize("output", ["rows.csv", "rows.jsonl", "stdout"])
def test_given_a_file_name_that_is_not_utf8_when_classified_then_every_row_is_written_as_utf8(
    output, tmp_path, serving_model, cat_photos, dog_photos
):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(cat_photos[0], os.fsencode(folder) + "/caf\xe9.jpg".encode("latin-1"))  # not UTF-8
    shutil.copy(dog_photos[0], folder / "zz-after.jpg")
    target = tmp_path / output
    to_file = ["-o", str(target)] if output != "stdout" else []
    command = [sys.executable, "-m", "catdog", "classify", str(folder), "--model", str(serving_model)]

    result = subprocess.run([*command, *to_file], capture_output=True, timeout=120, check=False)  # bytes

    text = (target.read_bytes() if to_file else result.stdout).decode("utf-8")  # strict: valid UTF-8
    paths = (
        [row["path"] for row in csv.DictReader(text.splitlines())]
        if output.endswith(".csv")
        else [json.loads(line)["path"] for line in text.splitlines()]
    )
    assert result.returncode == 0, result.stderr
    assert paths == [f"{folder}/caf\\xe9.jpg", f"{folder}/zz-after.jpg"]
    assert b"2 images" in result.stderr


def test_given_a_fifo_with_a_name_that_is_not_utf8_when_classified_then_its_error_row_and_the_rest_written(
    tmp_path, serving_model, cat_photos
):
    # GIVEN a named pipe with a Latin-1 name (no file to read) among photos: its message names it
    fifo = os.fsencode(tmp_path) + "/fi\xe9.jpg".encode("latin-1")
    os.mkfifo(fifo)
    output = tmp_path / "rows.jsonl"

    result = catdog(
        "classify", os.fsdecode(fifo), str(cat_photos[0]), "--model", str(serving_model), "-o", str(output)
    )

    # THEN the run goes on (it stopped at the first row, with a UnicodeEncodeError), naming the file, and
    # counts the pipe as a path that gave no image
    assert result.returncode == 1, result.stderr
    fifo_row, photo_row = rows(output)
    assert fifo_row == {
        "path": f"{tmp_path}/fi\\xe9.jpg",
        "error": {"code": "not_a_file", "message": "not a regular file (a named pipe)"},
    }
    assert photo_row["label"] == "cat"
    assert "1 image " in result.stderr and "1 path gave no image" in result.stderr


def test_given_a_latin1_locale_when_classified_to_stdout_then_the_rows_are_utf8_as_documented(
    tmp_path, serving_model, cat_photos
):
    photo = tmp_path / "日本 語.JPEG"
    shutil.copy(cat_photos[0], photo)
    command = [sys.executable, "-m", "catdog", "classify", str(photo), "--model", str(serving_model)]

    result = subprocess.run(
        command,
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "latin-1"},
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.decode("utf-8"))["path"] == str(photo)


@pytest.mark.parametrize("named", ["folder", "model file"])
def test_given_the_version_option_when_run_then_it_prints_the_package_and_the_models_versions(
    named, serving_model
):
    # GIVEN a model named by $MODEL_PATH, as a deployment or a shell profile names it: its folder, or its
    # .tflite file, which classify also takes (--version said "cannot read it ... Not a directory")
    model = serving_model if named == "folder" else serving_model / "model.tflite"
    env = {**os.environ, "MODEL_PATH": str(model)}

    # WHEN catdog --version is run (there was no such option)
    result = catdog("--version", env=env)

    # THEN the package's version and the model's, from its card, and exit 0
    card = json.loads((serving_model / "model.json").read_text())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"catdog {catdog_package.__version__}",
        f"model: {card['name']} {card['version']} in {model} ($MODEL_PATH)",
    ]


@pytest.mark.parametrize("named", ["missing folder", "folder without a model"])
def test_given_model_path_naming_no_model_when_the_version_is_asked_then_it_says_what_classify_says(
    named, tmp_path
):
    # GIVEN $MODEL_PATH naming a folder that is not there, or a folder with no model in it
    model = tmp_path / "models" / "catdog"
    if named == "folder without a model":
        model.mkdir(parents=True)
    env = {**os.environ, "MODEL_PATH": str(model)}

    # WHEN catdog --version is run
    result = catdog("--version", env=env)

    # THEN it names that model as classify does, not the card of its parent folder
    # (it said "cannot read the model card .../models/model.json" for the missing folder)
    reason = "no model at" if named == "missing folder" else "no model.tflite + model.json in"
    assert result.returncode == 0, result.stderr
    told = f"model: cannot read it in {model} ($MODEL_PATH): {reason} {model}"
    assert result.stdout.splitlines()[1] == told


def test_given_model_path_naming_a_card_beside_another_model_when_the_version_is_asked_then_it_says_so(
    serving_model, tmp_path
):
    # GIVEN the released card beside a model file that is not the one it describes
    shutil.copy(serving_model / "model.json", tmp_path / "model.json")
    (tmp_path / "model.tflite").write_bytes((serving_model / "model.tflite").read_bytes()[:4096])

    result = catdog("--version", env={**os.environ, "MODEL_PATH": str(tmp_path)})

    # THEN --version says what classify would refuse it for (it named the card's model and version)
    assert result.returncode == 0, result.stderr
    told = result.stdout.splitlines()[1]
    assert told.startswith(f"model: cannot read it in {tmp_path} ($MODEL_PATH): ")
    assert "is not the model its card describes" in told


def test_given_a_path_that_is_there_but_no_regular_file_when_classified_then_it_gives_no_image(
    serving_model, tmp_path
):
    # GIVEN an output file from an earlier run
    output = tmp_path / "rows.csv"
    output.write_text("keep\n")

    # WHEN /dev/null (a character device) is the only path classified
    result = catdog("classify", "/dev/null", "--model", str(serving_model), "-o", str(output))

    # THEN it is a path that gives no image, as a missing one is (it was counted an image, exit 1, and the
    # output replaced): one line saying what it is, not "not_found" for a path that exists, exit 2
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        "catdog classify: error: nothing to classify: /dev/null: not a regular file (a character device)\n"
    )
    assert output.read_text() == "keep\n"


@pytest.mark.parametrize("to", ["stdout", "output"])
def test_given_a_full_disk_when_the_rows_are_written_then_one_line_and_exit_4(to, serving_model, tmp_path):
    # GIVEN a place to write where every write fails with ENOSPC (/dev/full), as stdout or as --output
    output = tmp_path / "rows.jsonl"
    output.symlink_to("/dev/full")
    args = ["classify", str(PHOTOS), "--model", str(serving_model)] + (
        ["-o", str(output)] if to == "output" else []
    )

    # WHEN the rows are written there
    with open("/dev/full", "w") as full:
        command = [sys.executable, "-m", "catdog", *args]
        result = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)

    # THEN one line names the output and the cause, with its own exit code (it was "error: OSError: [Errno
    # 28] …", exit 1, which means "some images failed")
    where = "stdout" if to == "stdout" else str(output)
    assert result.returncode == cli.EXIT_OUTPUT_FAILED == 4
    assert result.stderr.splitlines() == [
        f"catdog classify: error: cannot write the results to {where}: No space left on device (after 0 rows)"
    ]


def test_given_a_program_that_runs_main_when_its_output_file_fails_then_its_stdout_still_works(
    serving_model, tmp_path, capfd
):
    # GIVEN an --output file where every write fails with ENOSPC (/dev/full), in a program that runs main
    output = tmp_path / "rows.jsonl"
    output.symlink_to("/dev/full")

    # WHEN main classifies to it in this process, and the program then writes to its stdout (fd 1)
    code = cli.main(["classify", str(PHOTOS), "--model", str(serving_model), "-o", str(output), "-w", "1"])
    os.write(1, b"the program goes on\n")

    # THEN exit 4 for the file, and the program's stdout still reaches its reader (fd 1 was pointed at
    # /dev/null, as if stdout itself had failed)
    captured = capfd.readouterr()
    assert code == cli.EXIT_OUTPUT_FAILED
    assert f"cannot write the results to {output}: No space left on device" in captured.err
    assert captured.out == "the program goes on\n"


@pytest.mark.parametrize(
    ("named", "reason"),
    [
        ("no/such/folder/rows.jsonl", "No such file or directory"),
        ("no/such/folder/rows.csv", "No such file or directory"),
        ("a-folder.jsonl", "Is a directory"),
    ],
)
def test_given_an_output_file_that_cannot_be_opened_when_classified_then_exit_2_with_one_line_and_no_rows(
    named, reason, serving_model, cat_photos, tmp_path
):
    # GIVEN an --output in a folder that does not exist, or one that is a folder itself
    (tmp_path / "a-folder.jsonl").mkdir()
    output = tmp_path / named

    # WHEN a photo is classified into it
    result = catdog("classify", str(cat_photos[0]), "--model", str(serving_model), "--output", str(output))

    # THEN a bad argument: exit 2 and one line naming the file and why, no traceback and no rows anywhere
    # (as an OSError it would be "error: FileNotFoundError: …", exit 1, "some images failed")
    assert result.returncode == 2
    assert result.stderr == f"catdog classify: error: cannot write {output}: {reason}\n"
    assert result.stdout == ""
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize(("output", "kind"), [("rows.CSV", ".csv"), ("runs/.csv", ".csv"), (None, ".jsonl")])
def test_given_an_output_name_when_its_format_is_chosen_then_by_how_it_ends(output, kind):
    from catdog.cli import output_format

    assert output_format(output) == kind  # ".csv" alone was refused as "must end in .jsonl or .csv"


def processes_in_group(group: int) -> list[str]:
    """The command lines of the live (not zombie) processes of a process group, read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, pgid = stat.read_text().rsplit(")", 1)[1].split()[:3]
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # it ended meanwhile
            continue
        if int(pgid) == group and state != "Z":
            found.append(command)
    return found


@pytest.fixture(scope="module")
def big_photos(tmp_path_factory, cat_photos) -> Path:
    """200 names for one real photo enlarged to 36 Mpx (a PNG, so decoded whole: about 0.6 s each here),
    so that a run lasts minutes and can be interrupted or killed midway, with work still queued."""
    folder = tmp_path_factory.mktemp("big")
    with Image.open(cat_photos[0]) as photo:
        photo.convert("RGB").resize((6000, 6000)).save(folder / "big.png", compress_level=1)
    for i in range(200):
        os.link(folder / "big.png", folder / f"{i:03d}.png")
    return folder


def test_given_a_long_run_when_killed_then_the_rows_classified_before_it_are_in_the_output(
    big_photos, tmp_path, serving_model
):
    output = tmp_path / "rows.jsonl"
    command = [sys.executable, "-m", "catdog", "classify", str(big_photos), "-o", str(output)]
    run = subprocess.Popen([*command, "--model", str(serving_model)], start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not output.exists() or output.stat().st_size == 0:  # a row is out
            assert run.poll() is None and time.monotonic() < deadline, "no row was written"
            time.sleep(0.05)
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # as the out-of-memory killer does: no clean-up at all
        run.wait()

    # A row takes about 0.6 s here; buffered, the first rows came out 8 KB (about 50 rows) at a time.
    lines = output.read_text().splitlines(keepends=True)
    assert 0 < len(lines) < 10 and all(line.endswith("\n") and json.loads(line)["label"] for line in lines)


@pytest.mark.parametrize(
    ("signals", "code"),
    [((signal.SIGINT, signal.SIGINT), 130), ((signal.SIGTERM,), 143)],
    ids=["ctrl-c-twice", "sigterm"],
)
def test_given_a_process_pool_run_when_interrupted_then_it_stops_at_once_and_leaves_nothing_running(
    signals, code, big_photos, tmp_path, serving_model
):
    output = tmp_path / "rows.jsonl"
    command = [sys.executable, "-m", "catdog", "classify", str(big_photos), "--model", str(serving_model)]
    command += ["-o", str(output), "--executor", "process", "--workers", "2"]
    with (tmp_path / "stderr").open("w") as stderr:
        run = subprocess.Popen(command, stderr=stderr, start_new_session=True)  # its own process group
    try:
        deadline = time.monotonic() + 180
        while not output.exists() or output.stat().st_size == 0:  # the workers are classifying
            assert run.poll() is None and time.monotonic() < deadline, "no row was written"
            time.sleep(0.1)
        for each in signals:
            if each == signal.SIGINT:  # Ctrl+C reaches the whole process group
                os.killpg(run.pid, each)
            else:  # kill, timeout or a supervisor signal the command only
                run.send_signal(each)
            time.sleep(0.3)

        # the workers' queued images alone take 15 s or more: they are dropped, not finished
        exit_code = run.wait(timeout=8)
        deadline = time.monotonic() + 20
        while processes_in_group(run.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert processes_in_group(run.pid) == []
        assert exit_code == code
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)  # whatever the run left behind, so no test leaks it
    lines = output.read_text().splitlines(keepends=True)
    assert 0 < len(lines) < 200 and all(line.endswith("\n") and json.loads(line)["label"] for line in lines)
    assert (tmp_path / "stderr").read_text().endswith("catdog: interrupted\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # in the command's name: it said "catdog: error: …", the program's, as for a missing command
        (["classify", "x.jpg", "--bogus"], "catdog classify: error: unrecognized arguments: --bogus"),
        (["serve", "--bogus"], "catdog serve: error: unrecognized arguments: --bogus"),
        (["enqueue", "s3://a/", "--bogus"], "catdog enqueue: error: unrecognized arguments: --bogus"),
        (["classify", "x.jpg", "--output", "out.txt"], "--output must end in .jsonl or .csv"),
        (["classify", "x.jpg", "--model", "/no/such/model"], "cannot load the model"),
        # it said "cannot load the model from : no model at model.tflite"
        (["classify", "x.jpg", "--model", ""], "argument --model: an empty path: name the model folder"),
        (["classify", "x.jpg", "--write-labels"], "--write-labels needs at least one s3:// path"),
        (["classify", "x.jpg", "-w", "0"], "--workers must be 1 to "),
        (["classify", "x.jpg", "-w", "99999999999"], "--workers must be 1 to "),
        (["classify", "s3://"], "no bucket in s3://"),
        (["classify", "x.jpg"], "no model: pass --model DIR"),
        (["enqueue", "s3://bucket/uploads/"], "--queue-url"),
        (["enqueue", "s3://b/x", "--queue-url", "http://127.0.0.1:9/1/q"], "set AWS_DEFAULT_REGION"),
        # it said "no AWS region configured, and none in notaurl"
        (["enqueue", "s3://b/x", "--queue-url", "notaurl"], "'notaurl' is not a queue URL (https://sqs."),
        (["enqueue", "s3://b/x", "--queue-url", "https://sqs.eu-west-1.amazonaws.com"], "is not a queue URL"),
        (["classify", "s3://my bucket/x", "--model", "models/catdog"], "'my bucket' is not a bucket name"),
        (["enqueue", "s3://my bucket/x", "--queue-url", "http://q"], "'my bucket' is not a bucket name"),
        # a prefix given in Latin-1 (a shell's `$'caf\xe9'`): a UnicodeEncodeError, exit 1, after the
        # paths before it were classified or sent
        (["classify", "s3://b/caf\udce9/"], "s3://b/caf\\xe9/: the prefix is not UTF-8"),
        (
            ["enqueue", "s3://b/caf\udce9/", "--queue-url", "http://q"],
            "s3://b/caf\\xe9/: the prefix is not UTF-8",
        ),
        (["serve", "--port", "99999"], "a port is 0-65535, not '99999'"),
        (["serve", "--bucket", "My Bucket"], "'My Bucket' is not a name for a new bucket (3-63 lower-case"),
        # the embedded S3 took these, and the stack's template refuses them at deploy
        (["serve", "--bucket", "my_bucket"], "'my_bucket' is not a name for a new bucket"),
        (["serve", "--bucket", "Photos"], "'Photos' is not a name for a new bucket"),
        (["serve", "--bucket", "ab"], "'ab' is not a name for a new bucket"),
        (["serve", "--model", "/no/such/model"], "no model at /no/such/model (pass --model)"),
        (["serve", "--model", "/"], "no model.tflite + model.json in / (pass --model)"),
        (["serve", "--model", ""], "argument --model: an empty path: name the model folder"),
        # it said "no model.tflite + model.json in" the folder serve was started from
        (["serve", "--samples", "/no/such/folder"], "no sample folder /no/such/folder"),
        (
            ["serve", "--function-log", "/no/such/folder/f.log"],
            "no folder /no/such/folder for --function-log",
        ),
        (["serve", "--function-log", "/tmp"], "--function-log /tmp is a folder: name the log file"),
        (["serve", "--host", "192.0.2.1", "--port", "0"], "cannot listen on 192.0.2.1: "),
        (["serve", "--host", "nosuchhost.invalid", "--port", "0"], "cannot listen on nosuchhost.invalid: "),
        # a host that does not resolve is a bad argument, as docs/web.md says (a busy port: exit 1)
        (["serve", "--host", "999.1.1.1", "--port", "0"], "cannot listen on 999.1.1.1: "),
    ],
)
def test_given_bad_usage_when_run_then_exit_2_with_one_line_and_no_traceback(args, message):
    unset = ("QUEUE_URL", "MODEL_PATH", "AWS_DEFAULT_REGION", "AWS_REGION")
    env = {**{k: v for k, v in os.environ.items() if k not in unset}, "AWS_CONFIG_FILE": os.devnull}

    result = catdog(*args, env=env)

    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if not line.startswith("INFO:")]
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"MAX_IMAGE_BYTES": "abc"}, "MAX_IMAGE_BYTES='abc': a limit is a whole number of at least 1"),
        ({"UPLOADS_PREFIX": "labels/"}, "UPLOADS_PREFIX='labels/': the uploads, labels, bulk labels"),
    ],
)
@pytest.mark.parametrize("command", ["classify", "enqueue"])
def test_given_a_bad_setting_in_the_environment_when_run_then_exit_2_with_one_line(
    command, setting, message, serving_model
):
    args = [str(PHOTOS), "--model", str(serving_model)] if command == "classify" else ["s3://b/x"]
    env = {**os.environ, "QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q", **setting}

    result = catdog(command, *args, env=env)

    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if not line.startswith("INFO:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert result.stdout == ""


@pytest.fixture
def aws(moto_endpoint, monkeypatch):
    """Clients in this process and the environment for the CLI subprocess, both on the moto server."""
    settings = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return dict(os.environ)


@pytest.fixture
def bucket(aws, cat_photos, dog_photos):
    """A fresh bucket: 3 cats and 3 dogs under uploads/ (keys with a space and unicode, an upper-case
    suffix), a corrupt image, a text object, and an image-named object under labels/ (never listed)."""
    name = f"catdog-cli-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=name)
    for i, photo in enumerate(cat_photos[:3]):
        s3.put_object(Bucket=name, Key=f"uploads/cat-{i} é.jpg", Body=photo.read_bytes())
    for i, photo in enumerate(dog_photos[:3]):
        s3.put_object(Bucket=name, Key=f"uploads/deep/dog-{i}.JPG", Body=photo.read_bytes())
    s3.put_object(Bucket=name, Key="uploads/broken.png", Body=b"\x89PNG\r\n\x1a\n broken")
    s3.put_object(Bucket=name, Key="uploads/readme.txt", Body=b"skipped: not an image suffix")
    s3.put_object(Bucket=name, Key="labels/old.jpg", Body=b"under labels/: never listed")
    return name


def label_objects(bucket: str) -> dict[str, dict]:
    s3 = boto3.client("s3")
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="labels/").get("Contents", [])
    keys = [o["Key"] for o in listing if o["Key"].endswith(".json")]
    return {key: json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) for key in keys}


def test_given_an_s3_prefix_when_classified_with_write_labels_then_the_lambda_label_json_is_written(
    aws, bucket, tmp_path, serving_model
):
    output = tmp_path / "s3.jsonl"

    result = catdog(
        "classify",
        f"s3://{bucket}/uploads/",
        "--write-labels",
        "--model",
        str(serving_model),
        "--workers",
        "2",
        "-o",
        str(output),
        env=aws,
    )

    assert result.returncode == 1, result.stderr  # the corrupt objects failed, the photos did not
    by_path = {row["path"]: row for row in rows(output)}
    assert len(by_path) == 7
    labels = label_objects(bucket)
    settings = Settings()
    for path, row in by_path.items():
        key = path.removeprefix(f"s3://{bucket}/")
        record = labels[settings.label_key(key)]
        assert record["key"] == key
        if "error" in row:
            assert record["error"] == row["error"]
        else:
            assert row["label"] == record["label"]
            assert set(record) >= {"bucket", "confidence", "probabilities", "model", "source", "timing_ms"}
    assert by_path[f"s3://{bucket}/uploads/broken.png"]["error"]["code"] == "invalid_image"
    assert len(labels) == 7


def test_given_an_archived_photo_labelled_by_an_older_model_when_written_again_then_its_row_is_an_error(
    aws, cat_photos, serving_model
):
    # GIVEN a photo whose label an older release (2.3.0) made, then moved to Glacier by a lifecycle rule
    s3, name = boto3.client("s3"), f"catdog-cli-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="uploads/a.jpg", Body=cat_photos[0].read_bytes())
    backfill = ("classify", f"s3://{name}/uploads/", "--write-labels", "--model", str(serving_model))
    assert catdog(*backfill, env=aws).returncode == 0
    label = label_objects(name)["labels/a.jpg.json"]
    label["model"]["version"] = "2.3.0"
    s3.put_object(Bucket=name, Key="labels/a.jpg.json", Body=json.dumps(label).encode())
    s3.copy_object(
        Bucket=name,
        Key="uploads/a.jpg",
        CopySource={"Bucket": name, "Key": "uploads/a.jpg"},
        StorageClass="GLACIER",
    )

    # WHEN the backfill from a laptop runs again
    result = catdog(*backfill, env=aws)

    # THEN its row is not the old answer as this model's (it was, exit 0): an archived error, naming the
    # model that made the label kept; the label stays
    assert result.returncode == 1, result.stderr
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["error"] == {
        "code": "archived",
        "message": "the object is archived: its label, kept, is model 2.3.0's; restore it, then label it",
    }
    assert label_objects(name)["labels/a.jpg.json"] == label


def test_given_an_s3_prefix_without_write_labels_when_classified_then_nothing_is_written(
    aws, bucket, serving_model
):
    result = catdog("classify", f"s3://{bucket}/uploads/deep/", "--model", str(serving_model), env=aws)

    assert result.returncode == 0, result.stderr
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["path"].rsplit("/", 1)[1] for row in found] == ["dog-0.JPG", "dog-1.JPG", "dog-2.JPG"]
    assert all(row["label"] in ("cat", "dog") for row in found)
    assert label_objects(bucket) == {}


def test_given_objects_above_max_image_bytes_when_classified_without_write_labels_then_too_large_rows(
    aws, bucket, serving_model
):
    limit = 1000  # every fixture photo is larger
    env = {**aws, "MAX_IMAGE_BYTES": str(limit)}

    result = catdog("classify", f"s3://{bucket}/uploads/deep/", "--model", str(serving_model), env=env)

    assert result.returncode == 1
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(found) == 3
    assert {row["error"]["code"] for row in found} == {"too_large"}
    assert all(f"above the limit of {limit:,}" in row["error"]["message"] for row in found)


def test_given_local_files_above_max_image_bytes_when_classified_then_too_large_rows_as_for_s3(
    tmp_path, serving_model, cat_photos
):
    small, big = sorted(cat_photos[:2], key=lambda photo: photo.stat().st_size)
    limit = small.stat().st_size  # the small photo is exactly at the limit, the big one above it
    env = {**os.environ, "MAX_IMAGE_BYTES": str(limit)}

    result = catdog("classify", str(small), str(big), "--model", str(serving_model), env=env)

    assert result.returncode == 1
    at_limit, above = [json.loads(line) for line in result.stdout.splitlines()]
    assert at_limit["label"] == "cat"
    assert above["error"] == {
        "code": "too_large",
        "message": f"{big.stat().st_size:,} bytes is above the limit of {limit:,}",
    }


def test_given_an_empty_object_when_classified_with_or_without_write_labels_then_the_code_is_empty(
    aws, bucket, serving_model
):
    boto3.client("s3").put_object(Bucket=bucket, Key="uploads/blank/empty.jpg", Body=b"")
    runs = [
        catdog("classify", f"s3://{bucket}/uploads/blank/", "--model", str(serving_model), *extra, env=aws)
        for extra in ((), ("--write-labels",))
    ]

    for result in runs:
        (row,) = [json.loads(line) for line in result.stdout.splitlines()]
        assert result.returncode == 1 and row["error"]["code"] == "empty", result.stderr
    assert label_objects(bucket)["labels/blank/empty.jpg.json"]["error"]["code"] == "empty"


def test_given_a_missing_bucket_beside_a_photo_when_classified_then_its_error_row_and_exit_1(
    aws, serving_model, cat_photos, tmp_path
):
    result = catdog(
        "classify",
        str(cat_photos[0]),
        "s3://no-such-bucket-here/x/",
        str(tmp_path),
        "--model",
        str(serving_model),
        env=aws,
    )

    assert result.returncode == 1
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row.get("label") or row["error"]["code"] for row in found] == ["cat", "NoSuchBucket", "no_images"]
    # the summary counts images, and the paths that gave none apart (it said "3 images ... errors 2")
    summary = result.stderr.splitlines()[-1]
    assert summary.startswith("catdog: 1 image in ")
    assert summary.endswith("cat 1, dog 0, neither 0, errors 0; 2 paths gave no image"), summary


@pytest.mark.parametrize("named", ["a missing bucket", "a mistyped folder"])
def test_given_only_paths_with_nothing_to_classify_when_classified_then_exit_2_and_an_earlier_output_kept(
    named, aws, serving_model, tmp_path
):
    # GIVEN the results of an earlier run, and a path that gives no image to classify
    output = tmp_path / "results.jsonl"
    output.write_text('{"path": "earlier.jpg", "label": "cat"}\n')
    path = "s3://no-such-bucket-here/x/" if named == "a missing bucket" else str(tmp_path / "phtoos")

    # WHEN it is classified into the same output
    result = catdog("classify", path, "--model", str(serving_model), "-o", str(output), env=aws)

    # THEN one line says why, and the earlier results are still there (a typo replaced them with one row)
    assert result.returncode == 2
    reason = "bucket does not exist" if named == "a missing bucket" else "no such file or folder"
    assert result.stderr.startswith(f"catdog classify: error: nothing to classify: {path}: ")
    assert reason in result.stderr and len(result.stderr.splitlines()) == 1
    assert output.read_text() == '{"path": "earlier.jpg", "label": "cat"}\n'


def _closing(descriptor: int) -> list[str]:
    """A command prefix that starts the program with ``descriptor`` closed, as ``>&-`` or ``2>&-`` does."""
    return ["sh", "-c", f'exec "$@" {descriptor}>&-', "sh"]


def test_given_stderr_closed_when_classified_then_the_results_come_whole_on_stdout(serving_model, cat_photos):
    # WHEN a run starts with no stderr (a daemon, `2>&-`)
    result = catdog("classify", *map(str, cat_photos[:2]), "--model", str(serving_model), prefix=_closing(2))

    # THEN every photo is classified and stdout holds only their rows (it said "cannot load the model
    # ...: 'NoneType' object has no attribute 'flush'", on stdout, and exit 2)
    assert result.returncode == 0
    assert [json.loads(line)["label"] for line in result.stdout.splitlines()] == ["cat", "cat"]


def test_given_stdout_closed_when_classified_without_an_output_file_then_refused_in_one_line(
    serving_model, cat_photos
):
    result = catdog("classify", str(cat_photos[0]), "--model", str(serving_model), prefix=_closing(1))

    # THEN refused before classifying (it classified every photo, then ended in an AttributeError, exit 1)
    assert result.returncode == 2
    assert (
        result.stderr
        == "catdog classify: error: stdout is closed: name a file for the results with --output\n"
    )


def test_given_a_prefix_when_enqueued_then_one_message_per_image_and_exit_0(aws, bucket):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"{bucket}-work")["QueueUrl"]

    result = catdog("enqueue", f"s3://{bucket}/", "--queue-url", url, env=aws)

    assert result.returncode == 0, result.stderr
    keys = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        keys += [json.loads(m["Body"])["key"] for m in messages]
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    expected = [f"uploads/cat-{i} é.jpg" for i in range(3)] + [f"uploads/deep/dog-{i}.JPG" for i in range(3)]
    assert sorted(keys) == sorted([*expected, "uploads/broken.png"])
    assert "catdog: 7 messages sent, 0 rejected\n" in result.stderr


def test_given_an_unlistable_prefix_among_others_when_enqueued_then_the_others_are_sent_and_it_is_named(
    aws, bucket
):
    # GIVEN three prefixes, the second in a bucket that does not exist (a typo), the first with 7 images
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"{bucket}-typo")["QueueUrl"]

    # WHEN they are enqueued in one run
    result = catdog(
        "enqueue",
        f"s3://{bucket}/uploads/",
        "s3://no-such-bucket-here/archive/",
        f"s3://{bucket}/uploads/deep/",
        "--queue-url",
        url,
        env=aws,
    )

    # THEN every image of the two good prefixes is sent (the 7 listed before the typo are not dropped), the
    # bad prefix is named with S3's reason, the summary counts both, and the exit code is 1
    keys = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        keys += [json.loads(m["Body"])["key"] for m in messages]
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert len(keys) == 7 + 3, result.stderr
    assert result.returncode == 1
    assert (
        "catdog: not sent: s3://no-such-bucket-here/archive/: cannot list it: NoSuchBucket" in result.stderr
    )
    # and the summary counts the prefix as a prefix: it read "10 messages sent, 1 failed", as if a message
    assert "catdog: 10 messages sent, 0 rejected, 1 prefix failed\n" in result.stderr


def test_given_a_mistyped_prefix_among_others_when_enqueued_then_it_is_named_and_the_exit_code_is_1(
    aws, bucket
):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"{bucket}-empty")["QueueUrl"]

    result = catdog(
        "enqueue", f"s3://{bucket}/uploads/", f"s3://{bucket}/uplaods/", "--queue-url", url, env=aws
    )

    # it was exit 0 with "10 messages sent, 0 failed": the typo was never mentioned (classify has a row)
    assert result.returncode == 1
    assert f"catdog: not sent: s3://{bucket}/uplaods/: no image objects under it" in result.stderr
    assert "catdog: 7 messages sent, 0 rejected, 1 prefix failed\n" in result.stderr


def test_given_a_queue_url_that_names_no_queue_when_enqueued_then_exit_2_with_one_line_naming_it(aws, bucket):
    # GIVEN a queue URL on a real SQS endpoint (moto) where no such queue was ever made
    url = f"{aws['AWS_ENDPOINT_URL']}/123456789012/nope"

    # WHEN a prefix with images is enqueued to it
    result = catdog("enqueue", f"s3://{bucket}/uploads/", "--queue-url", url, env=aws)

    # THEN nothing was sent: exit 2 (it was 1, "entries rejected") and one line naming the URL
    lines = [line for line in result.stderr.splitlines() if not line.startswith("INFO:")]
    assert result.returncode == 2, result.stderr
    assert lines == [f"catdog enqueue: error: no queue at {url} (QueueDoesNotExist)"]


def test_given_a_queue_url_that_names_no_queue_and_an_unlistable_prefix_when_enqueued_then_both_are_told(
    aws, bucket
):
    # GIVEN a queue URL that names no queue, and a prefix in a bucket that does not exist before one with
    # images
    url = f"{aws['AWS_ENDPOINT_URL']}/123456789012/nope"

    # WHEN they are enqueued
    result = catdog(
        "enqueue", "s3://no-such-bucket-here/archive/", f"s3://{bucket}/uploads/", "--queue-url", url, env=aws
    )

    # THEN exit 2 naming the URL, after the line naming the prefix that could not be listed (the error was
    # raised before that line was printed, so it was lost)
    lines = [line for line in result.stderr.splitlines() if not line.startswith("INFO:")]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 2, lines
    assert lines[0].startswith(
        "catdog: not sent: s3://no-such-bucket-here/archive/: cannot list it: NoSuchBucket"
    )
    assert lines[1] == f"catdog enqueue: error: no queue at {url} (QueueDoesNotExist)"


def test_given_no_region_configured_when_enqueued_to_an_aws_queue_url_then_its_region_is_used(aws, bucket):
    url = boto3.client("sqs", region_name="eu-west-1").create_queue(QueueName=f"{bucket}-eu")["QueueUrl"]
    account, name = url.rsplit("/", 2)[1:]
    env = {k: v for k, v in aws.items() if k not in ("AWS_DEFAULT_REGION", "AWS_REGION")}

    result = catdog(
        "enqueue",
        f"s3://{bucket}/uploads/deep/",
        "--queue-url",
        f"https://sqs.eu-west-1.amazonaws.com/{account}/{name}",  # what the stack's WorkQueueUrl looks like
        env={**env, "AWS_CONFIG_FILE": os.devnull},
    )

    assert result.returncode == 0, result.stderr
    assert "catdog: 3 messages sent, 0 rejected\n" in result.stderr
    attributes = boto3.client("sqs", region_name="eu-west-1").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "3"


def test_given_a_queue_url_on_another_endpoint_than_s3s_when_enqueued_then_the_messages_go_to_that_queue(
    aws, bucket
):
    # GIVEN S3 on one endpoint (AWS_ENDPOINT_URL_S3) and a queue URL on another: a local SQS, as bulk.md's
    # "a URL that names no region (a local endpoint)"
    url = boto3.client("sqs").create_queue(QueueName=f"{bucket}-local")["QueueUrl"]
    env = {k: v for k, v in aws.items() if k != "AWS_ENDPOINT_URL"}
    env = {**env, "AWS_ENDPOINT_URL_S3": aws["AWS_ENDPOINT_URL"], "AWS_CONFIG_FILE": os.devnull}

    # WHEN a prefix is enqueued to it
    result = catdog("enqueue", f"s3://{bucket}/uploads/deep/", "--queue-url", url, env=env)

    # THEN they are in that queue (they went to sqs.us-east-1.amazonaws.com, the URL's host unused)
    assert result.returncode == 0, result.stderr
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "3"


def _sqs_refusing(monkeypatch, sent_first: int, refusal: BaseException) -> None:
    """``catdog enqueue``'s sends: ``sent_first`` messages go out, then SQS answers ``refusal``."""

    def enqueue(sqs, queue_url, refs, on_batch=None, report=None):
        for _ in zip(range(sent_first), refs, strict=False):
            report.sent += 1
        raise refusal

    monkeypatch.setattr(cli, "enqueue", enqueue)


def test_given_sqs_that_denies_the_sends_when_enqueued_then_exit_2_with_one_line(
    aws, bucket, monkeypatch, capsys
):
    # GIVEN a role that may list the bucket but not send to the queue
    error = {"Code": "AccessDenied", "Message": "not authorized to perform: sqs:SendMessageBatch"}
    _sqs_refusing(monkeypatch, 0, ClientError({"Error": error}, "SendMessageBatch"))
    url = f"{aws['AWS_ENDPOINT_URL']}/123456789012/work"

    # WHEN a prefix is enqueued
    code = cli.main(["enqueue", f"s3://{bucket}/uploads/", "--queue-url", url])

    # THEN nothing was sent: a bad setting, one line (it was "ClientError: …", exit 1)
    assert code == 2
    assert capsys.readouterr().err == (
        f"catdog enqueue: error: cannot send to {url}: AccessDenied: "
        "not authorized to perform: sqs:SendMessageBatch\n"
    )


@pytest.mark.parametrize("refusal", ["the queue deleted", "access denied"])
def test_given_sqs_refusing_the_sends_after_some_were_sent_when_enqueued_then_it_says_how_many_and_exit_3(
    refusal, aws, cat_photos, monkeypatch, capsys
):
    # GIVEN 12 photos (two SendMessageBatch requests) and a real queue that, once the first ten are in
    # it, is deleted, or the role loses its right to send to it
    bucket, _ = photo_bucket(cat_photos[:12])
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"{bucket}-refusing")["QueueUrl"]
    send_batch, calls = enqueue_module.send_batch, []

    def deny(**kwargs):
        error = {"Code": "AccessDenied", "Message": "not authorized to perform: sqs:SendMessageBatch"}
        raise ClientError({"Error": error}, "SendMessageBatch")

    def send_then_refuse(client, *args, **kwargs):
        if calls and refusal == "the queue deleted":
            sqs.delete_queue(QueueUrl=url)
        elif calls:
            monkeypatch.setattr(client, "send_message_batch", deny)
        calls.append(len(args[1]))
        return send_batch(client, *args, **kwargs)

    monkeypatch.setattr(enqueue_module, "send_batch", send_then_refuse)

    # WHEN the prefix is enqueued
    code = cli.main(["enqueue", f"s3://{bucket}/uploads/", "--queue-url", url])

    # THEN the ten that went out are counted, the refusal is on the same line, and the exit code is 3, a
    # run stopped part way (2, "nothing was sent", would have the operator send all twelve again)
    assert calls == [10, 2]
    why = (
        f"no queue at {url} (QueueDoesNotExist)"
        if refusal == "the queue deleted"
        else f"cannot send to {url}: AccessDenied: not authorized to perform: sqs:SendMessageBatch"
    )
    assert capsys.readouterr().err.splitlines() == [
        f"catdog: 10 messages sent, 0 rejected; stopped, the rest were not listed or sent: {why}"
    ]
    assert code == cli.EXIT_ENDPOINT_LOST == 3


def test_given_an_enqueue_interrupted_when_some_were_sent_then_it_says_how_many(
    aws, bucket, monkeypatch, capsys
):
    _sqs_refusing(monkeypatch, 4, KeyboardInterrupt())
    url = f"{aws['AWS_ENDPOINT_URL']}/123456789012/work"

    code = cli.main(["enqueue", f"s3://{bucket}/uploads/", "--queue-url", url])

    # THEN the operator knows what went out before the Ctrl+C (it said only "catdog: interrupted")
    assert code == 130
    assert capsys.readouterr().err.splitlines() == [
        "catdog: 4 messages sent, 0 rejected; interrupted: the rest were not sent",
        "catdog: interrupted",
    ]


# --- an S3/SQS endpoint that cannot be reached, or goes away during a run ---------------------------


@pytest.fixture
def dead_endpoint():
    """A local port that refuses every connection: bound, so that nothing else takes it, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def moto_process():
    """A moto server in a process of its own, which a test can kill: all its sockets close with it. It
    also ends when its stdin closes, so that it never outlives the test run."""
    code = (
        "import sys; from moto.server import ThreadedMotoServer; "
        "server = ThreadedMotoServer('127.0.0.1', 0, verbose=False); server.start(); "
        "print(server.get_host_and_port()[1], flush=True); sys.stdin.read()"
    )
    command = [sys.executable, "-c", code]
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{int(server.stdout.readline())}", server
    finally:
        server.kill()
        server.wait()


def use_endpoint(monkeypatch, endpoint: str) -> None:
    """The CLI, run in this process, and the test's own clients on ``endpoint``, with one attempt per
    request: botocore's ten attempts (bulk.S3_CONFIG) would only make each connection error slower."""
    settings = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    one_attempt = Config(retries={"mode": "adaptive", "max_attempts": 1})
    monkeypatch.setattr(bulk, "S3_CONFIG", bulk.S3_CONFIG.merge(one_attempt))


def photo_bucket(photos: list[Path]) -> tuple[str, list[str]]:
    """A fresh bucket with ``photos`` under uploads/, and their keys in listing order."""
    name = f"catdog-lost-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=name)
    keys = [f"uploads/{i:02d}-{photo.name}" for i, photo in enumerate(photos)]
    for key, photo in zip(keys, photos, strict=True):
        s3.put_object(Bucket=name, Key=key, Body=photo.read_bytes())
    return name, keys


def test_given_an_endpoint_that_refuses_connections_when_the_cli_asks_then_it_tries_ten_times_as_bulk_md_says(
    dead_endpoint, monkeypatch
):
    # GIVEN the CLI's S3 client (bulk.S3_CONFIG) on an endpoint that refuses every connection
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead_endpoint)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3 = bulk.s3_client()
    attempts = []
    s3.meta.events.register("before-send.s3.ListObjectsV2", lambda **_: attempts.append(1))

    # WHEN it lists a prefix
    with pytest.raises(EndpointConnectionError):
        s3.list_objects_v2(Bucket="photos", Prefix="archive/")

    # THEN it made the 10 attempts docs/bulk.md counts ("max_attempts": 10, a client option botocore
    # counts in retries, made 11)
    assert len(attempts) == 10


@pytest.mark.parametrize("command", ["classify", "enqueue"])
def test_given_an_endpoint_that_refuses_connections_when_a_prefix_is_listed_then_exit_2_with_one_line(
    command, dead_endpoint, serving_model, monkeypatch, capsys, tmp_path
):
    # GIVEN an S3 (and SQS) endpoint where nothing answers
    use_endpoint(monkeypatch, dead_endpoint)
    output = tmp_path / "rows.jsonl"
    args = {
        "classify": ["--model", str(serving_model), "-o", str(output)],
        "enqueue": ["--queue-url", f"{dead_endpoint}/123456789012/work"],
    }[command]

    # WHEN a prefix is to be listed
    code = cli.main([command, "s3://photos/archive/", *args])

    # THEN one line names the prefix or the endpoint and the connection error, exit 2, and no rows
    assert code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"catdog {command}: error: cannot "), line
    assert "EndpointConnectionError: Could not connect to the endpoint URL" in line
    assert f"{dead_endpoint}/photos?list-type=2" in line
    assert not output.exists() or output.read_text() == ""


@pytest.mark.parametrize("command", ["classify", "enqueue"])
def test_given_no_aws_credentials_when_a_prefix_is_listed_then_exit_2_with_one_line_and_no_rows(
    command, serving_model, monkeypatch, capsys, tmp_path
):
    # GIVEN a machine with no AWS credentials anywhere (no variables, files or instance metadata)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    output = tmp_path / "rows.jsonl"
    args = {
        "classify": ["--model", str(serving_model), "-o", str(output)],
        "enqueue": ["--queue-url", "https://sqs.us-east-1.amazonaws.com/123456789012/work"],
    }[command]

    # WHEN a prefix is to be listed
    code = cli.main([command, "s3://photos/archive/", *args])

    # THEN it is a setting, said in one line with exit 2 (it was an error row "NoCredentialsError", exit 1)
    assert code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"catdog {command}: error: Unable to locate credentials (AWS_PROFILE, or aws configure)"
    assert not output.exists() or output.read_text() == ""


def test_given_an_endpoint_that_goes_away_mid_run_when_classified_then_it_stops_and_counts_the_rest(
    moto_process, serving_model, cat_photos, dog_photos, monkeypatch, capsys, tmp_path
):
    # GIVEN 20 photos in a bucket, and a server that goes away once 3 of them are classified
    endpoint, server = moto_process
    use_endpoint(monkeypatch, endpoint)
    bucket, keys = photo_bucket([*cat_photos[:10], *dog_photos[:10]])
    classify_item = bulk.classify_item

    def classify_then_pull_the_plug(item):
        row = classify_item(item)
        if item.key == keys[2]:
            server.kill()
            server.wait()
        return row

    monkeypatch.setattr(bulk, "classify_item", classify_then_pull_the_plug)
    output = tmp_path / "rows.jsonl"

    # WHEN the prefix is classified, one image at a time
    args = ["-w", "1", "--model", str(serving_model), "-o", str(output)]
    code = cli.main(["classify", f"s3://{bucket}/uploads/", *args])

    # THEN it stops after MAX_CONNECTION_ERRORS connection errors in a row with exit 3: each image tried
    # has its row, in order, and the summary counts and names the ones never tried
    assert code == 3
    errors = bulk.MAX_CONNECTION_ERRORS
    found = rows(output)
    assert [row["path"] for row in found] == [f"s3://{bucket}/{key}" for key in keys[: 3 + errors]]
    assert [row["label"] for row in found[:3]] == ["cat"] * 3
    assert all(bulk.is_connection_error(row) for row in found[3:]), found[3:]
    summary = capsys.readouterr().err.splitlines()[-1]
    assert summary.startswith(f"catdog: {3 + errors} images in "), summary
    left = 20 - 3 - errors
    assert summary.endswith(
        f"cat 3, dog 0, neither 0, errors {errors}; stopped after {errors} connection errors in a row: "
        f"{left} images not attempted (the first: s3://{bucket}/{keys[3 + errors]})"
    ), summary


def test_given_an_endpoint_that_goes_away_mid_run_when_enqueued_then_the_messages_sent_are_counted_and_exit_3(
    moto_process, cat_photos, monkeypatch, capsys
):
    # GIVEN 12 photos (two SendMessageBatch requests) and a server that goes away after the first
    endpoint, server = moto_process
    use_endpoint(monkeypatch, endpoint)
    bucket, _ = photo_bucket(cat_photos[:12])
    queue = boto3.client("sqs").create_queue(QueueName=bucket)["QueueUrl"]
    send_batch = enqueue_module.send_batch

    def send_then_pull_the_plug(*args, **kwargs):
        sent = send_batch(*args, **kwargs)
        server.kill()
        server.wait()
        return sent

    monkeypatch.setattr(enqueue_module, "send_batch", send_then_pull_the_plug)

    # WHEN the prefix is enqueued
    code = cli.main(["enqueue", f"s3://{bucket}/uploads/", "--queue-url", queue])

    # THEN the ten sent are counted, the stop and its cause are on the same line, and the exit code is 3
    assert code == 3
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "catdog: 10 messages sent, 0 rejected; stopped, the rest were not listed or sent: "
    )
    assert "EndpointConnectionError: Could not connect to the endpoint URL" in line


def test_given_two_runs_without_a_pool_read_in_turn_when_classified_then_each_keeps_its_model_and_limits(
    serving_model, tiny_model_dir, cat_photos
):
    import threading

    # GIVEN a run with the released model and a 1-byte limit, and a run with the tiny two-label model, in
    # one thread (a program reading two generators in turn)
    photos = [str(photo) for photo in cat_photos[:2]]
    strict = bulk.classify_all(photos, serving_model, settings=Settings(max_image_bytes=1))
    tiny = bulk.classify_all(photos, tiny_model_dir)

    # WHEN their rows are read in turn, and the last one from another thread
    rows = [next(strict), next(tiny), next(strict)]
    other = threading.Thread(target=lambda: rows.append(next(tiny)))
    other.start()
    other.join(60)

    # THEN each run classified with its own model and limits (the second run's took over the first's)
    assert [row.get("error", {}).get("code") for row in rows[::2]] == ["too_large", "too_large"]
    assert [sorted(row["probabilities"]) for row in rows[1::2]] == [["cat", "dog"], ["cat", "dog"]]


def test_given_a_thread_pool_and_an_endpoint_that_refuses_when_classified_then_each_image_tried_has_one_row(
    dead_endpoint, serving_model, monkeypatch
):
    # GIVEN 200 objects behind an endpoint that refuses every connection, and two worker threads
    use_endpoint(monkeypatch, dead_endpoint)
    items = [S3Ref("photos", f"archive/{i:03d}.jpg") for i in range(200)]
    found, not_attempted = [], []

    # WHEN they are classified
    try:
        for row in bulk.classify_all(items, serving_model, workers=2, executor="thread"):
            found.append(row)
    except bulk.EndpointLost as lost:
        not_attempted = lost.not_attempted

    # THEN however the threads ran: at least the limit of connection errors, every image tried has its
    # row, once and in order, and the rest are the images not attempted: the tried ones are a prefix
    assert len(found) >= bulk.MAX_CONNECTION_ERRORS
    assert all(bulk.is_connection_error(row) for row in found)
    assert [row["path"] for row in found] + [ref.path for ref in not_attempted] == [i.path for i in items]


def test_given_a_process_workers_chunk_and_an_endpoint_that_refuses_when_classified_then_it_stops_early(
    dead_endpoint, serving_model, monkeypatch
):
    # GIVEN a chunk of 16 objects, as a process worker takes them, behind an endpoint that refuses
    use_endpoint(monkeypatch, dead_endpoint)
    bulk.init_worker(str(serving_model), Settings(), False)
    chunk = [S3Ref("photos", f"archive/{i:02d}.jpg") for i in range(16)]

    # WHEN the worker classifies it
    found = bulk.classify_chunk(chunk)

    # THEN it tries no more than the limit: the parent then stops the run, the rest not attempted
    assert [row["path"] for row in found] == [ref.path for ref in chunk[: bulk.MAX_CONNECTION_ERRORS]]
    assert all(bulk.is_connection_error(row) for row in found)
