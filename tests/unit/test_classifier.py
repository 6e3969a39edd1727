"""Classifier over a real full-int8 TFLite model."""

import json

import numpy as np
import pytest

from catdog import Classifier, InvalidImage, ModelError, load_image, preprocess
from catdog.card import sha256_file


def test_given_a_model_folder_when_classifying_a_photo_then_a_complete_prediction(tiny_model_dir, cat_photos):
    classifier = Classifier(tiny_model_dir)
    prediction = classifier.classify(cat_photos[0])
    assert classifier.input_size == 32
    assert prediction.label in ("cat", "dog")
    assert set(prediction.probabilities) == {"cat", "dog"}
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
    assert prediction.confidence == max(prediction.probabilities.values())


def test_given_bytes_path_or_pixels_when_classified_then_the_same_answer(tiny_model_dir, dog_photos):
    classifier = Classifier(tiny_model_dir / "model.tflite")
    pixels = preprocess(load_image(dog_photos[1]), classifier.input_size)
    by_path = classifier.classify(dog_photos[1])
    assert classifier.classify(dog_photos[1].read_bytes()) == by_path
    assert classifier.classify_pixels(pixels[0]) == by_path
    assert np.allclose(classifier.predict(pixels)[0], list(by_path.probabilities.values()), atol=1e-5)


def test_given_a_released_folder_when_asked_for_info_then_the_card_names_the_file_hash(tiny_model_dir):
    info = Classifier(tiny_model_dir).info
    assert info == {
        "name": "tiny",
        "version": "0.0.0",
        "sha256": sha256_file(tiny_model_dir / "model.tflite"),
    }


def test_given_not_an_image_when_classified_then_invalid_image(tiny_model_dir):
    with pytest.raises(InvalidImage):
        Classifier(tiny_model_dir).classify(b"not an image")


def test_given_a_folder_without_a_model_when_loaded_then_model_error(tmp_path):
    with pytest.raises(ModelError, match="no model"):
        Classifier(tmp_path)


def copy_with_card(source, target, drop: str | None = None, **changes):
    """A copy of the model folder ``source`` whose card has ``changes`` and lacks the field ``drop``."""
    target.mkdir()
    (target / "model.tflite").write_bytes((source / "model.tflite").read_bytes())
    card = {**json.loads((source / "model.json").read_text()), **changes}
    card.pop(drop, None)
    (target / "model.json").write_text(json.dumps(card))
    return target


def test_given_a_card_with_other_labels_when_loaded_then_model_error(tiny_model_dir, tmp_path):
    folder = copy_with_card(tiny_model_dir, tmp_path / "model", labels=["cat", "dog", "fox"])
    with pytest.raises(ModelError, match="outputs of sizes"):
        Classifier(folder)


@pytest.mark.parametrize("missing", ["labels", "input", "sha256"])
def test_given_a_card_without_a_field_serving_reads_when_loaded_then_model_error_names_it(
    tiny_model_dir, tmp_path, missing
):
    folder = copy_with_card(tiny_model_dir, tmp_path / "model", drop=missing)

    with pytest.raises(ModelError, match=f"lacks a field serving needs.*{missing}"):
        Classifier(folder)


def test_given_a_model_file_that_is_not_the_one_its_card_describes_when_loaded_then_model_error(
    tiny_model_dir, prototype_model_dir, tmp_path
):
    folder = copy_with_card(tiny_model_dir, tmp_path / "model")
    (folder / "model.tflite").write_bytes((prototype_model_dir / "model.tflite").read_bytes())

    with pytest.raises(ModelError, match=r"is not the model its card describes: its sha256 is [0-9a-f]{64}"):
        Classifier(folder)


def test_given_one_changed_byte_in_the_model_when_loaded_then_model_error(tiny_model_dir, tmp_path):
    folder = copy_with_card(tiny_model_dir, tmp_path / "model")
    data = bytearray((folder / "model.tflite").read_bytes())
    data[-1] ^= 1
    (folder / "model.tflite").write_bytes(bytes(data))

    with pytest.raises(ModelError, match=r"the card \(tiny 0\.0\.0\) says"):
        Classifier(folder)


def test_given_a_fresh_process_when_a_classifier_is_made_then_litert_writes_nothing_to_stderr(serving_model):
    import subprocess
    import sys

    # the banner is written once a process, so only a process of its own shows it
    script = f"from catdog import Classifier; Classifier({str(serving_model)!r}); print('made')"
    made = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)

    assert made.stdout == "made\n" and made.stderr == ""


def test_given_a_process_without_stderr_when_a_classifier_is_made_then_it_classifies(
    serving_model, cat_photos
):
    import subprocess
    import sys

    # GIVEN a process started with stderr closed (`2>&-`, a daemon), whose sys.stderr is None
    script = (
        f"from catdog import Classifier; import sys; assert sys.stderr is None; "
        f"print(Classifier({str(serving_model)!r}).classify({str(cat_photos[0])!r}).label)"
    )
    command = ["sh", "-c", 'exec "$@" 2>&-', "sh", sys.executable, "-c", script]
    made = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=60)

    # THEN the model loads and answers (it raised AttributeError: 'NoneType' object has no attribute 'flush')
    assert (made.returncode, made.stdout) == (0, "cat\n")


def test_given_other_output_on_stderr_meanwhile_when_the_banner_is_held_back_then_the_rest_is_kept(capfd):
    import os

    from catdog.classifier import BANNER, _without_banner

    with _without_banner():
        os.write(2, b"another thread's line\n" + BANNER + b"and its next\n")

    assert capfd.readouterr().err == "another thread's line\nand its next\n"


def test_given_classifiers_made_at_once_in_threads_when_done_then_stderr_is_where_it_was(serving_model):
    import subprocess
    import sys

    # a bulk run's thread workers each make their own interpreter at the same moment; each of them holds
    # stderr back meanwhile, and none may leave it pointing at another's held-back file
    script = (
        "import sys, threading\n"
        "from catdog import Classifier\n"
        "start = threading.Barrier(8)\n"
        "def make():\n"
        "    start.wait()\n"
        f"    Classifier({str(serving_model)!r})\n"
        "threads = [threading.Thread(target=make) for _ in range(8)]\n"
        "[thread.start() for thread in threads]\n"
        "[thread.join() for thread in threads]\n"
        "print('summary', file=sys.stderr)\n"
    )
    made = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)

    assert made.returncode == 0 and made.stderr == "summary\n"


def test_given_one_classifier_shared_by_threads_when_they_classify_at_once_then_each_answer_is_its_photos(
    serving_model, cat_photos, dog_photos
):
    # GIVEN the released model and the answers it gives one photo at a time
    import threading

    classifier = Classifier(serving_model)
    photos = cat_photos[:8] + dog_photos[:8]
    alone = {photo: classifier.classify(photo) for photo in photos}

    # WHEN six threads classify the photos through it at once, four rounds each
    start, found, errors = threading.Barrier(6), [], []

    def work(offset: int) -> None:
        start.wait()
        for photo in (photos[offset:] + photos[:offset]) * 4:
            try:
                found.append((photo, classifier.classify(photo)))
            except Exception as exc:  # what the threads meet is what is asserted
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(i * 3,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # THEN no call failed and each answer is that photo's (they failed in LiteRT, or swapped answers)
    assert errors == []
    assert len(found) == 6 * 4 * len(photos)
    assert [photo for photo, prediction in found if prediction != alone[photo]] == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            {"neither": {"method": "class-probability", "threshold": 5}},
            "threshold must be a probability above 0",
        ),
        ({"neither": {"method": "class-probability", "threshold": float("nan")}}, "must be a probability"),
        ({"neither": {"method": "class-probability", "threshold": -1}}, "must be a probability above 0"),
        ({"labels": ["cat", "cat", "neither"]}, "labels must differ from each other"),
        ({"input": {"size": 300}}, "the card says 300 px, the model takes 260 px"),
    ],
)
def test_given_a_card_edited_badly_when_loaded_then_model_error_says_what(
    serving_model, tmp_path, edit, message
):
    # each had loaded: "neither" for no photo or for every photo, a cat probability lost to a twin label
    folder = copy_with_card(serving_model, tmp_path / "model", **edit)

    with pytest.raises(ModelError, match=message):
        Classifier(folder)


def test_given_bytes_that_match_their_card_but_are_no_model_when_loaded_then_model_error(
    tiny_model_dir, tmp_path
):
    folder = copy_with_card(tiny_model_dir, tmp_path / "model")
    (folder / "model.tflite").write_bytes(b"not a flatbuffer at all")
    card = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**card, "sha256": sha256_file(folder / "model.tflite")}))

    with pytest.raises(ModelError, match="cannot be loaded"):
        Classifier(folder)


def test_given_pixels_not_as_model_input_gives_them_when_classified_then_a_value_error_says_how(
    serving_model, dog_photos
):
    classifier = Classifier(serving_model)
    batch = preprocess(load_image(dog_photos[0]), classifier.input_size)

    # scaled to 0..1, they were quantized to black and answered "neither" with confidence
    with pytest.raises(ValueError, match=r"expected uint8 pixels 0\.\.255"):
        classifier.classify_pixels(batch[0].astype(np.float32) / 255)
    with pytest.raises(ValueError, match=r"take \[0\]"):
        classifier.classify_pixels(batch)
    assert classifier.predict(batch[:0]).shape == (0, 3)
    assert classifier.classify_pixels(batch[0]).label == "dog"
    # one image given as a batch: it said "expected one image of shape (260, 260, 3), got (260, 3)"
    with pytest.raises(ValueError, match=r"expected a batch \(n, 260, 260, 3\), got \(260, 260, 3\)"):
        classifier.predict(batch[0])


@pytest.mark.parametrize("threads", [0, -1, "2", 2.0])
def test_given_a_thread_count_litert_cannot_take_when_loaded_then_a_value_error_names_it(
    tiny_model_dir, threads
):
    # it was a ModelError, "model.tflite cannot be loaded: num_threads should >= 1", for a model that is fine
    with pytest.raises(ValueError, match="num_threads must be a whole number from 1, or None") as raised:
        Classifier(tiny_model_dir, num_threads=threads)
    assert not isinstance(raised.value, ModelError)


def test_given_the_model_card_named_as_the_model_when_loaded_then_it_says_to_name_the_folder(tiny_model_dir):
    # it hashed the card and said it was not the model its card describes
    with pytest.raises(
        ModelError, match=r"is the model card: name its folder, or the model\.tflite beside it"
    ):
        Classifier(tiny_model_dir / "model.json")
