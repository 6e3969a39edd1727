"""The upload API of a running ``catdog serve``: presign, POST the photo to the embedded S3, poll the label.

Everything goes over real HTTP, as from a browser: the API on one port, the embedded S3 (with its POST
policy check) on another, the classify Lambda handler fed by the bucket's notifications.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import quote, urlsplit

import pytest
import requests
from botocore.exceptions import ClientError
from web_pipeline import MAX_IMAGE_BYTES, REPO, start, stop

SAMPLES = sorted((REPO / "samples").glob("*.jpg"))


@pytest.fixture(scope="module")
def served(serving_model, tmp_path_factory):
    pipeline = start(serving_model, tmp_path_factory.mktemp("serve") / "classify.log")
    yield pipeline
    assert stop(pipeline.process) == 0, "\n".join(pipeline.output)


def presign(served, filename: str, content_type: str) -> dict:
    status, upload = served.api("api/uploads", {"filename": filename, "content_type": content_type})
    assert status == 201, upload
    return upload


def post_to_s3(upload: dict, data: bytes, fields: dict | None = None) -> requests.Response:
    return requests.post(
        upload["url"], data=fields or upload["fields"], files={"file": ("photo", data)}, timeout=30
    )


def test_given_the_bundled_samples_when_serve_starts_then_it_prints_a_label_for_each(served):
    lines = {name: line for line in served.output for name in [p.name for p in SAMPLES] if name in line}
    assert len(SAMPLES) == 6 and set(lines) == {p.name for p in SAMPLES}
    printed = {name: re.search(r"\s(cat|dog)\s+\d+\.\d%", line) for name, line in lines.items()}
    assert all(printed.values()), lines
    # the samples were chosen as clear photos
    assert {name: found.group(1) for name, found in printed.items()} == {
        name: name.split("-")[0] for name in printed
    }
    # and the summary comes after every sample's line (the worker thread prints those)
    summary = next(i for i, line in enumerate(served.output) if "samples labelled" in line)
    assert max(served.output.index(line) for line in lines.values()) < summary, served.output


@pytest.mark.parametrize(
    ("filename", "name"),
    [("My cat + ça.JPG", "My cat + ça.jpg"), ("100%25 off? #1.jpg", "100%25 off? #1.jpg")],
)
def test_given_a_real_cat_photo_when_uploaded_through_the_api_then_its_label_is_served(
    served, cat_photos, filename, name
):
    upload = presign(served, filename, "image/jpeg")
    assert upload["key"].startswith("uploads/") and upload["key"].endswith(f"/{name}")
    assert upload["max_bytes"] == MAX_IMAGE_BYTES

    assert post_to_s3(upload, cat_photos[0].read_bytes()).status_code == 204
    label = served.wait_for_label(upload["key"])

    assert label["key"] == upload["key"] and label["label"] == "cat"
    assert label["probabilities"][label["label"]] == label["confidence"] >= 0.5
    assert label["source"]["size"] == cat_photos[0].stat().st_size


@pytest.mark.parametrize("content_type", ["image/jpg", "image/pjpeg"])
def test_given_a_script_naming_jpeg_otherwise_when_it_uploads_through_the_api_then_its_label_is_served(
    served, cat_photos, content_type
):
    # GIVEN a script client that sends image/jpg or image/pjpeg (both were refused: 415 not_an_image)
    # WHEN it presigns and posts the form it got, as the page and docs/web.md's curl recipe do
    upload = presign(served, "cat from a script.jpg", content_type)
    posted = post_to_s3(upload, cat_photos[0].read_bytes())

    # THEN the embedded S3's gate takes it, the object is stored as image/jpeg, and its label is served
    assert posted.status_code == 204, posted.text
    assert served.s3().head_object(Bucket="catdog-local", Key=upload["key"])["ContentType"] == "image/jpeg"
    assert served.wait_for_label(upload["key"])["label"] == "cat"


def test_given_two_uploads_of_the_same_name_when_presigned_then_their_keys_differ(served):
    assert presign(served, "a.jpg", "image/jpeg")["key"] != presign(served, "a.jpg", "image/jpeg")["key"]


def test_given_a_text_file_when_an_upload_is_requested_then_the_api_refuses_it_as_not_an_image(served):
    status, body = served.api("api/uploads", {"filename": "notes.txt", "content_type": "text/plain"})
    assert status == 415
    assert body["error"]["code"] == "not_an_image" and "notes.txt" in body["error"]["message"]


def test_given_a_malformed_request_when_an_upload_is_requested_then_the_error_is_json(served):
    status, body = served.api("api/uploads", {"filename": 3})
    assert status == 400 and body["error"]["code"] == "bad_request"


def test_given_text_posing_as_a_jpeg_when_uploaded_then_its_label_is_an_error_json(served):
    upload = presign(served, "notes.jpg", "image/jpeg")
    assert post_to_s3(upload, b"just some notes, not a photo\n").status_code == 204

    label = served.wait_for_label(upload["key"])

    assert label["error"]["code"] == "invalid_image" and "label" not in label


def test_given_a_file_above_the_limit_when_posted_to_s3_then_the_policy_rejects_it_and_nothing_is_stored(
    served,
):
    upload = presign(served, "huge.jpg", "image/jpeg")

    response = post_to_s3(upload, b"\xff" * (MAX_IMAGE_BYTES + 1))

    assert response.status_code == 400 and "<Code>EntityTooLarge</Code>" in response.text
    assert served.s3().list_objects_v2(Bucket="catdog-local", Prefix=upload["key"])["KeyCount"] == 0
    assert served.api(f"api/labels?key={quote(upload['key'], safe='')}")[0] == 404


def test_given_a_1_byte_photo_beside_a_big_extra_file_part_when_posted_then_refused_and_nothing_stored(
    served,
):
    upload = presign(served, "tiny.jpg", "image/jpeg")
    parts = [("extra", ("pad.bin", b"\0" * (MAX_IMAGE_BYTES * 5))), ("file", ("tiny.jpg", b"x"))]

    response = requests.post(upload["url"], data=upload["fields"], files=parts, timeout=30)

    assert response.status_code == 400 and "<Code>EntityTooLarge</Code>" in response.text
    assert served.s3().list_objects_v2(Bucket="catdog-local", Prefix=upload["key"])["KeyCount"] == 0


def test_given_a_tampered_form_when_posted_to_s3_then_the_policy_rejects_it(served, cat_photos):
    upload = presign(served, "cat.jpg", "image/jpeg")
    photo = cat_photos[1].read_bytes()
    other_key = {**upload["fields"], "key": "labels/forged.json"}
    bigger = json.loads(base64.b64decode(upload["fields"]["policy"]))
    bigger["conditions"] = [c for c in bigger["conditions"] if "content-length-range" not in c]
    unsigned = {**upload["fields"], "policy": base64.b64encode(json.dumps(bigger).encode()).decode()}

    assert post_to_s3(upload, photo, other_key).status_code == 403
    assert post_to_s3(upload, photo, {**upload["fields"], "Content-Type": "text/html"}).status_code == 403
    assert "SignatureDoesNotMatch" in post_to_s3(upload, photo, unsigned).text


def test_given_an_anonymous_listing_from_another_origin_when_sent_to_the_embedded_s3_then_it_is_refused(
    served,
):
    listing = f"{served.s3_endpoint}/catdog-local?list-type=2"

    response = requests.get(listing, headers={"Origin": "http://evil.example"}, timeout=10)

    assert response.status_code == 403 and "Access-Control-Allow-Origin" not in response.headers
    assert served.s3().list_objects_v2(Bucket="catdog-local")["KeyCount"] > 0  # signed, it is served


def test_given_the_old_fixed_secret_when_a_client_signs_with_it_then_the_embedded_s3_refuses(served):
    forger = served.s3(secret_key="testing", access_key="testing")

    with pytest.raises(ClientError) as refused:
        forger.list_objects_v2(Bucket="catdog-local")

    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_given_the_page_on_a_lan_address_when_it_uploads_then_cors_allows_its_origin_and_no_other(
    serving_model, cat_photos, tmp_path
):
    # 127.0.0.2 is not one of the loopback names, so catdog serve runs as with --host 0.0.0.0 (presigned
    # URLs name the host the page was reached by) while listening on the loopback network only.
    lan = start(serving_model, tmp_path / "classify.log", ("--host", "127.0.0.2", "--samples", str(tmp_path)))
    try:
        upload = presign(lan, "cat.jpg", "image/jpeg")
        page = lan.url.rstrip("/")
        assert upload["url"].startswith("http://127.0.0.2:")

        def preflight(origin: str) -> requests.Response:
            headers = {"Origin": origin, "Access-Control-Request-Method": "POST"}
            return requests.options(upload["url"], headers=headers, timeout=10)

        photo = {"file": ("cat.jpg", cat_photos[0].read_bytes())}
        posted = requests.post(
            upload["url"], data=upload["fields"], files=photo, headers={"Origin": page}, timeout=30
        )

        assert preflight(page).headers["Access-Control-Allow-Origin"] == page
        assert preflight("http://evil.example").status_code == 403
        assert posted.status_code == 204 and posted.headers["Access-Control-Allow-Origin"] == page
        assert lan.wait_for_label(upload["key"])["label"] == "cat"
    finally:
        stop(lan.process)


def test_given_the_page_opened_as_localhost_when_it_uploads_then_s3_is_named_so_and_cors_allows_it(
    served, cat_photos
):
    # GIVEN the page opened at http://localhost:PORT, where serve printed http://127.0.0.1:PORT
    page = served.url.rstrip("/").replace("127.0.0.1", "localhost")
    asked = requests.post(
        f"{page}/api/uploads", json={"filename": "cat.jpg", "content_type": "image/jpeg"}, timeout=10
    )
    upload = asked.json()

    # WHEN the page's browser posts the photo to the URL it was given
    photo = {"file": ("cat.jpg", cat_photos[0].read_bytes())}
    posted = requests.post(
        upload["url"], data=upload["fields"], files=photo, headers={"Origin": page}, timeout=30
    )

    # THEN the embedded S3 is named as the page was, which CORS allows (it was 127.0.0.1, a refused origin)
    assert asked.status_code == 201 and upload["url"].startswith("http://localhost:")
    assert posted.status_code == 204 and posted.headers["Access-Control-Allow-Origin"] == page
    assert served.wait_for_label(upload["key"])["label"] == "cat"


def test_given_the_page_reached_by_a_dotted_host_name_when_it_uploads_then_the_photo_is_stored_and_labelled(
    serving_model, cat_photos, tmp_path
):
    # GIVEN serve on every address, its page reached as http://laptop.local:PORT (a LAN name; the host name
    # serve prints when it finds no address), which this test sends as the Host header of requests to
    # 127.0.0.1
    lan = start(serving_model, tmp_path / "classify.log", ("--host", "0.0.0.0", "--samples", str(tmp_path)))
    try:
        page_port = urlsplit(lan.url).port
        page = f"http://laptop.local:{page_port}"
        asked = requests.post(
            f"http://127.0.0.1:{page_port}/api/uploads",
            json={"filename": "cat.jpg", "content_type": "image/jpeg"},
            headers={"Host": f"laptop.local:{page_port}"},
            timeout=10,
        )
        upload = asked.json()
        s3_netloc = urlsplit(upload["url"]).netloc

        # WHEN the browser posts the photo to the URL it was given
        posted = requests.post(
            upload["url"].replace("laptop.local", "127.0.0.1"),
            data=upload["fields"],
            files={"file": ("cat.jpg", cat_photos[0].read_bytes())},
            headers={"Origin": page, "Host": s3_netloc},
            timeout=30,
        )

        # THEN the embedded S3 stores it in the bucket: moto read "laptop" as a bucket's name, and answered
        # 500
        assert s3_netloc.startswith("laptop.local:")
        assert posted.status_code == 204, posted.text[:500]
        assert lan.wait_for_label(upload["key"])["label"] == "cat"
    finally:
        stop(lan.process)


def test_given_serve_on_this_machine_alone_when_a_page_under_another_name_calls_it_then_it_is_refused(
    served, cat_photos
):
    # GIVEN serve on 127.0.0.1 (the default), and a web site whose name now points at 127.0.0.1 (DNS
    # rebinding): its requests reach serve with the site's name as their Host
    page_port = urlsplit(served.url).port
    s3_port = urlsplit(served.s3_endpoint).port
    evil = "rebind.example"

    # WHEN it asks the page's API for an upload, and posts to the embedded S3 with a policy the page was
    # given
    asked = requests.post(
        f"http://127.0.0.1:{page_port}/api/uploads",
        json={"filename": "cat.jpg", "content_type": "image/jpeg"},
        headers={"Host": f"{evil}:{page_port}"},
        timeout=10,
    )
    upload = presign(served, "cat.jpg", "image/jpeg")
    posted = requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("cat.jpg", cat_photos[0].read_bytes())},
        headers={"Origin": f"http://{evil}:{page_port}", "Host": f"{evil}:{s3_port}"},
        timeout=30,
    )

    # THEN both refuse it, saying why and what to do (both answered: the upload was stored and labelled)
    assert asked.status_code == 403 and "--host 0.0.0.0" in asked.text and evil in asked.text
    assert posted.status_code == 403 and "answers only requests to a loopback name" in posted.text
    # while the page's own names are answered
    for name in ("127.0.0.1", "localhost"):
        assert requests.get(
            f"http://127.0.0.1:{page_port}/", headers={"Host": f"{name}:{page_port}"}, timeout=10
        ).ok


def test_given_serve_on_another_name_for_loopback_when_a_page_under_another_name_calls_it_then_it_is_refused(
    serving_model, tmp_path
):
    # GIVEN serve started with --host 127.1, a name for 127.0.0.1 as a hosts-file name would be (it was not
    # guarded: the check read the name given, not the address bound)
    served = start(serving_model, tmp_path / "classify.log", ("--host", "127.1", "--samples", str(tmp_path)))
    try:
        page_port = urlsplit(served.url).port

        # WHEN a web site rebound to 127.0.0.1 asks its API for an upload
        asked = requests.post(
            f"http://127.0.0.1:{page_port}/api/uploads",
            json={"filename": "cat.jpg", "content_type": "image/jpeg"},
            headers={"Host": f"rebind.example:{page_port}"},
            timeout=10,
        )

        # THEN it is refused, as on 127.0.0.1
        assert asked.status_code == 403 and "rebind.example" in asked.text
    finally:
        stop(served.process)


def serve_samples(serving_model, tmp_path, labels: dict[str, str]) -> str:
    """Starts serve on ``tmp_path / "samples"``, checks that it labels each photo once under its key
    (``labels``: key under uploads/samples/ -> label) and stops it; returns what it printed."""
    pipeline = start(serving_model, tmp_path / "classify.log", ("--samples", str(tmp_path / "samples")))
    try:
        assert f"catdog: {len(labels)} samples labelled" in "\n".join(pipeline.output)
        for key, label in labels.items():
            assert pipeline.wait_for_label(f"uploads/samples/{key}")["label"] == label
        return "\n".join(pipeline.output)
    finally:
        stop(pipeline.process)


def test_given_the_model_file_itself_when_serve_starts_then_it_serves_that_model(
    serving_model, cat_photos, tmp_path
):
    # GIVEN a model's .tflite file, with its card beside it, under a name that is not model.tflite (classify
    # and MODEL_PATH take the file; serve said "no model.tflite + model.json in .../catdog-2.4.0.tflite")
    model = tmp_path / "released" / "catdog.tflite"
    model.parent.mkdir()
    shutil.copy(serving_model / "model.tflite", model)
    shutil.copy(serving_model / "model.json", model.parent)
    (tmp_path / "samples").mkdir()
    shutil.copy(cat_photos[0], tmp_path / "samples" / "cat.jpg")

    # WHEN serve starts with it, THEN it says which model it serves and labels the sample with it
    output = serve_samples(model, tmp_path, {"cat.jpg": "cat"})
    assert f"model {model}" in output


def test_given_sample_photos_named_as_s3_cannot_take_when_serve_starts_then_each_is_labelled(
    serving_model, cat_photos, dog_photos, tmp_path
):
    # GIVEN sample file names that are not UTF-8 or hold a line break (serve stopped at the first)
    samples = tmp_path / "samples"
    samples.mkdir()
    shutil.copy(cat_photos[0], os.fsencode(samples) + "/caf\xe9.jpg".encode("latin-1"))
    shutil.copy(dog_photos[0], samples / "new\nline.JPG")

    # WHEN serve starts with them, THEN both are labelled under the names the page would give them
    serve_samples(serving_model, tmp_path, {"caf\ufffd.jpg": "cat", "newline.jpg": "dog"})


def test_given_sample_photos_in_subfolders_when_serve_starts_then_each_is_found_as_classify_finds_it(
    serving_model, cat_photos, dog_photos, tmp_path
):
    # GIVEN a dog at the top and cats in subfolders whose names hold spaces and non-ASCII letters, one name
    # twice (serve listed the top folder only: the cats were skipped without a word)
    samples = tmp_path / "samples"
    (samples / "Mes chats é" / "année 2024").mkdir(parents=True)
    shutil.copy(dog_photos[0], samples / "dog.jpg")
    shutil.copy(cat_photos[0], samples / "Mes chats é" / "cat.jpg")
    shutil.copy(cat_photos[1], samples / "Mes chats é" / "année 2024" / "cat.jpg")
    classify = subprocess.run(
        [sys.executable, "-m", "catdog", "classify", str(samples), "--model", str(serving_model)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert len(classify.stdout.splitlines()) == 3, classify.stderr  # what classify finds there

    # WHEN serve starts with them, THEN the same three are labelled, each under its own path
    labels = {"dog.jpg": "dog", "Mes chats é/cat.jpg": "cat", "Mes chats é/année 2024/cat.jpg": "cat"}
    serve_samples(serving_model, tmp_path, labels)


def test_given_sample_photos_whose_names_clean_to_one_when_serve_starts_then_each_is_labelled_and_counted(
    serving_model, cat_photos, dog_photos, tmp_path
):
    # GIVEN cats and dogs whose cleaned paths are one: folders "a", "a " and "a." are all "a", and "Cat.JPG"
    # and "Cat.jpg" both "Cat.jpg" (each later upload replaced the one before, and the summary counted its
    # label again)
    samples = tmp_path / "samples"
    for folder in ("a", "a ", "a."):
        (samples / folder).mkdir(parents=True)
    shutil.copy(cat_photos[0], samples / "a" / "cat.jpg")
    shutil.copy(dog_photos[0], samples / "a " / "cat.jpg")
    shutil.copy(dog_photos[1], samples / "a." / "cat.jpg")
    shutil.copy(cat_photos[1], samples / "Cat.JPG")
    shutil.copy(dog_photos[2], samples / "Cat.jpg")

    # WHEN serve starts with them, THEN each has a key and a label of its own, and the summary counts each
    # photo once
    labels = {
        "a/cat.jpg": "cat",
        "a/cat-2.jpg": "dog",
        "a/cat-3.jpg": "dog",
        "Cat.jpg": "cat",
        "Cat-2.jpg": "dog",
    }
    assert "(cat 2, dog 3)" in serve_samples(serving_model, tmp_path, labels)


def test_given_every_address_when_serve_starts_then_the_urls_it_prints_open_the_page(serving_model, tmp_path):
    lan = start(serving_model, tmp_path / "classify.log", ("--host", "0.0.0.0", "--samples", str(tmp_path)))
    try:
        deadline = time.monotonic() + 10
        while not (other := [line for line in lan.output if "from another device" in line]):
            assert time.monotonic() < deadline, lan.output
            time.sleep(0.1)
        elsewhere = other[0].rsplit(" ", 1)[1]
        s3_elsewhere = re.search(r"embedded S3 at \S+, (\S+) on this network", "\n".join(lan.output))

        assert "0.0.0.0" not in "\n".join(lan.output)
        # the S3 the other device's browser posts its upload to is named by the same address
        assert s3_elsewhere and urlsplit(s3_elsewhere[1]).hostname == urlsplit(elsewhere).hostname
        assert requests.get(s3_elsewhere[1], timeout=10).status_code < 500
        assert lan.url.startswith("http://127.0.0.1:") and lan.s3_endpoint.startswith("http://127.0.0.1:")
        assert requests.get(lan.url, timeout=10).status_code == 200
        # the address another device would use is this machine's own, so it answers here too
        assert elsewhere != lan.url and requests.get(elsewhere, timeout=10).status_code == 200
    finally:
        stop(lan.process)


def test_given_the_ipv6_loopback_when_serve_starts_then_the_page_and_its_s3_answer_there(
    serving_model, tmp_path
):
    # it was refused: "cannot listen on ::1: Address family for hostname not supported"
    pipeline = start(serving_model, tmp_path / "classify.log", ("--host", "::1", "--samples", str(tmp_path)))
    try:
        assert urlsplit(pipeline.url).hostname == "::1" and pipeline.url.startswith("http://[::1]:")
        assert urlsplit(pipeline.s3_endpoint).hostname == "::1"
        assert requests.get(pipeline.url, timeout=10).status_code == 200
        status, form = pipeline.api("api/uploads", {"filename": "a.jpg", "content_type": "image/jpeg"})
        assert status == 201 and form["url"].startswith(pipeline.s3_endpoint)
    finally:
        stop(pipeline.process)


@pytest.mark.parametrize("path", ["", "static/app.js"])
def test_given_a_head_request_when_served_then_it_states_the_length_a_get_receives(served, path):
    head, get = requests.head(served.url + path, timeout=10), requests.get(served.url + path, timeout=10)

    # it said Content-Length: 0
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"] == str(len(get.content))


def test_given_a_key_outside_uploads_when_its_label_is_asked_then_the_api_refuses(served):
    status, body = served.api("api/labels?key=labels/x.jpg.json")
    assert status == 400 and body["error"]["code"] == "bad_key"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "api/nothing-here", 404, "not_found"),
        ("GET", "api/uploads", 405, "method_not_allowed"),
        ("PUT", "api/labels", 405, "method_not_allowed"),
    ],
)
def test_given_an_unknown_route_or_a_wrong_method_when_served_then_the_error_is_the_apis_json(
    served, method, path, status, code
):
    response = requests.request(method, served.url + path, timeout=10)

    assert response.status_code == status and response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == code and "/" + path in response.json()["error"]["message"]


def test_given_the_health_route_when_called_then_it_states_the_limits(served):
    status, body = served.api("api/health")
    assert status == 200
    assert body == {
        "status": "ok",
        "bucket": "catdog-local",
        "max_bytes": MAX_IMAGE_BYTES,
        "image_types": ["image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/tiff"],
        "type_names": "JPEG, PNG, WebP, GIF, BMP or TIFF",
        "accept": "image/jpeg,image/png,image/webp,image/gif,image/bmp,image/tiff,"
        ".jpg,.jpeg,.jpe,.png,.webp,.gif,.bmp,.tif,.tiff",
    }


def test_given_the_page_when_fetched_then_its_html_and_assets_are_served(served):
    page = requests.get(served.url, timeout=10)
    assert page.status_code == 200 and 'id="file-input"' in page.text and 'capture="environment"' in page.text
    for asset in ("app.js", "app.css", "favicon.svg"):
        assert requests.get(f"{served.url}static/{asset}", timeout=10).status_code == 200
    assert requests.get(f"{served.url}static/../api.py", timeout=10).status_code == 404


def test_given_the_docs_shell_recipe_when_run_against_serve_then_a_name_with_spaces_gets_its_label(served):
    docs = (REPO / "docs" / "web.md").read_text()
    recipe = re.search(r"From a shell, against `catdog serve`:\n\n```bash\n(.*?)```", docs, re.S).group(1)
    assert '"my cat.jpg"' in recipe  # a name that an unquoted $(...) would split at the space

    run = subprocess.run(
        ["bash", "-c", recipe.replace("localhost:8000/", served.url)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )

    label = json.loads(run.stdout)
    assert label["key"].endswith("/my cat.jpg") and label["label"] == "cat", run.stderr


def test_given_a_busy_port_when_serve_starts_then_it_says_so_in_one_line(serving_model):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        command = [
            sys.executable,
            "-m",
            "catdog",
            "serve",
            "--port",
            str(port),
            "--model",
            str(serving_model),
        ]
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"catdog serve: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_given_a_function_log_that_cannot_be_written_when_serve_starts_then_it_says_so_in_one_line(
    serving_model,
):
    # GIVEN a function log on a device that is always full (the log of a full disk)
    command = [sys.executable, "-m", "catdog", "serve", "--port", "0", "--model", str(serving_model)]

    # WHEN serve starts with it
    started = time.monotonic()
    result = subprocess.run(
        [*command, "--function-log", "/dev/full"], cwd=REPO, capture_output=True, text=True, timeout=120
    )

    # THEN it stops at once, in one line, as for any start-up failure: it served, each handler's log line
    # failed with a traceback (1,000 lines) and the samples waited a minute for labels that never came
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "catdog serve: error: cannot write the function log /dev/full: No space left on device"
    ]
    assert "classifying" not in result.stdout and time.monotonic() - started < 30


def test_given_no_model_when_serve_starts_then_it_says_so_in_one_line(tmp_path):
    command = [sys.executable, "-m", "catdog", "serve", "--model", str(tmp_path)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("catdog serve: error: no model.tflite + model.json in")
