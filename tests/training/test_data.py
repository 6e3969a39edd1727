"""The data loader on real photos and on every kind of bad file a download can hold."""

import json
import re
import shutil

import numpy as np
import pytest
from conftest import photo_folders

from catdog import Classifier
from catdog.images import model_input
from training.data import DataError, Split, check_parts, load_pixels, make_split, scan


def test_given_kaggle_petimages_with_bad_files_when_scanned_then_they_are_skipped_with_reasons(
    tmp_path, cat_photos, dog_photos
):
    root = photo_folders(tmp_path / "PetImages", cat_photos[:5], dog_photos[:5], names=("Cat", "Dog"))
    (root / "Cat" / "666.jpg").write_bytes(b"")
    (root / "Dog" / "11702.jpg").write_bytes(dog_photos[6].read_bytes()[:300])  # truncated JPEG
    (root / "Dog" / "notes.jpg").write_text("this is text, not a photo")
    (root / "Cat" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" * 64)
    (root / "bird").mkdir()

    result = scan(root)

    assert result.layout == "folders"
    assert result.counts() == {"cat": 5, "dog": 5}
    reasons = {entry["path"]: entry["reason"] for entry in result.skipped}
    assert set(reasons) == {"Cat/666.jpg", "Dog/11702.jpg", "Dog/notes.jpg", "Cat/Thumbs.db"}
    assert reasons["Cat/666.jpg"] == "empty file"
    assert all(
        reason.startswith("invalid_image") for path, reason in reasons.items() if path != "Cat/666.jpg"
    )
    assert result.ignored_folders == ["bird"]
    assert json.loads(json.dumps(result.report()))["counts"] == {"cat": 5, "dog": 5}


def test_given_class_folders_with_linked_folders_and_hidden_files_when_scanned_then_each_is_found_or_said(
    tmp_path, cat_photos, dog_photos
):
    # GIVEN a cat folder holding a link to another folder of cats, a link to nothing and a .DS_Store
    root = photo_folders(tmp_path / "data", cat_photos[:3], dog_photos[:3])
    more = photo_folders(tmp_path / "more", cat_photos[3:5], [])
    (root / "cat" / "from the shelter").symlink_to(more / "cat", target_is_directory=True)
    (root / "cat" / "gone.jpg").symlink_to(tmp_path / "no such photo.jpg")
    (root / "dog" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")

    result = scan(root)

    # THEN the linked cats are trained on, as `catdog classify` finds them (they were left out without a
    # word), and the two files that give no photo are each listed with a reason
    assert result.counts() == {"cat": 5, "dog": 3}
    assert f"cat/from the shelter/{cat_photos[3].name}" in {s.path for s in result.samples}
    reasons = {entry["path"]: entry["reason"] for entry in result.skipped}
    assert reasons.keys() == {"cat/gone.jpg", "dog/.DS_Store"}
    assert reasons["cat/gone.jpg"].startswith("not_found") and reasons["dog/.DS_Store"] == "hidden file"


def test_given_a_split_when_its_parts_are_read_in_order_then_the_classes_are_interleaved_by_the_seed(
    tmp_path, cat_photos, dog_photos
):
    root = photo_folders(tmp_path / "a", cat_photos, dog_photos)

    train = [s.label for s in make_split(scan(root), seed=7).parts["train"]]
    other = [s.label for s in make_split(scan(root), seed=8).parts["train"]]

    # a prefix of a part is mixed (a model trained on its first batch saw both classes), not all cats first
    assert train != sorted(train) and set(train[:8]) == {0, 1}
    assert other != train  # the order is the seed's


def test_given_kaggle_flat_names_when_scanned_then_labels_come_from_the_name(
    tmp_path, cat_photos, dog_photos
):
    root = tmp_path / "train"
    root.mkdir()
    for index, photo in enumerate(cat_photos[:3]):
        shutil.copy(photo, root / f"cat.{index}.jpg")
    for index, photo in enumerate(dog_photos[:4]):
        shutil.copy(photo, root / f"Dog.{index}.jpg")
    (root / "sampleSubmission.csv").write_text("id,label\n")
    (root / "._cat.0.jpg").write_bytes(b"\x00\x05\x16\x07")  # a Mac's resource fork, copied with the photos

    result = scan(root)

    assert result.layout == "flat"
    assert result.counts() == {"cat": 3, "dog": 4}
    assert {s.path: s.label for s in result.samples}["Dog.0.jpg"] == 1
    assert result.skipped == [
        {"path": "._cat.0.jpg", "reason": "hidden file"},
        {"path": "sampleSubmission.csv", "reason": "name does not start with one of ['cat', 'dog']"},
    ]


@pytest.mark.parametrize(
    ("folders", "message"),
    [
        (("cats", "dogs"), "found neither class folders"),
        (("Cat", "bird"), "no folder for dog"),
    ],
)
def test_given_wrong_folder_names_when_scanned_then_a_data_error_names_them(
    tmp_path, cat_photos, dog_photos, folders, message
):
    photo_folders(tmp_path, cat_photos[:2], dog_photos[:2], names=folders)
    with pytest.raises(DataError, match=message) as error:
        scan(tmp_path)
    assert folders[1] in str(error.value)


def test_given_a_class_with_only_bad_files_when_scanned_then_a_data_error_names_them(tmp_path, cat_photos):
    photo_folders(tmp_path, cat_photos[:2], [])
    (tmp_path / "dog" / "1.jpg").write_bytes(b"")
    (tmp_path / "dog" / "2.jpg").write_text("notes")

    with pytest.raises(DataError, match="no usable photos for dog") as error:
        scan(tmp_path)

    # the files it skipped are why, and were not told (the error came before the skipped-file lines)
    assert str(error.value).endswith(
        "(2 files skipped: dog/1.jpg: empty file; dog/2.jpg: invalid_image: the file is not a JPEG, PNG, "
        "WebP, GIF, BMP or TIFF image)"
    ), error.value


def test_given_duplicate_files_when_scanned_then_one_copy_is_kept_and_cross_label_copies_dropped(
    tmp_path, cat_photos, dog_photos
):
    root = photo_folders(tmp_path, cat_photos[:3], dog_photos[:3])
    shutil.copy(cat_photos[0], root / "cat" / "copy-of-first.jpg")
    shutil.copy(cat_photos[1], root / "dog" / "mislabelled.jpg")

    result = scan(root)

    kept = {s.path for s in result.samples}
    assert result.counts() == {"cat": 2, "dog": 3}
    assert f"cat/{cat_photos[1].name}" not in kept and "dog/mislabelled.jpg" not in kept
    assert {d["path"] for d in result.duplicates} == {"cat/copy-of-first.jpg", "dog/mislabelled.jpg"}
    assert {"path": f"cat/{cat_photos[1].name}", "reason": "same file under another label"} in result.skipped


def test_given_the_same_files_and_seed_when_split_twice_then_the_same_stratified_split(
    tmp_path, cat_photos, dog_photos
):
    root = photo_folders(tmp_path / "a", cat_photos, dog_photos)
    first = make_split(scan(root), seed=7)
    path = first.save(tmp_path / "split.json")
    again = Split.load(path)
    other_seed = make_split(scan(root), seed=8)

    assert again.parts == first.parts == make_split(scan(root), seed=7).parts
    assert other_seed.parts["test"] != first.parts["test"]
    assert first.sizes() == {
        "train": {"cat": 16, "dog": 16, "total": 32},
        "val": {"cat": 2, "dog": 2, "total": 4},
        "test": {"cat": 2, "dog": 2, "total": 4},
    }
    every = [s.path for part in first.parts.values() for s in part]
    assert len(every) == len(set(every)) == 40


def test_given_a_moved_data_folder_when_the_split_is_loaded_with_a_root_then_paths_resolve(
    tmp_path, cat_photos, dog_photos
):
    root = photo_folders(tmp_path / "old", cat_photos[:5], dog_photos[:5])
    path = make_split(scan(root)).save(tmp_path / "split.json")
    root.rename(tmp_path / "new")
    split = Split.load(path, root=tmp_path / "new")
    pixels = load_pixels(split.root, [s.path for s in split.parts["train"]], 16)
    assert pixels.shape == (8, 16, 16, 3)


def test_given_a_broken_split_file_when_loaded_then_a_data_error(tmp_path):
    (tmp_path / "split.json").write_text("{not json")
    with pytest.raises(DataError, match="cannot read split file"):
        Split.load(tmp_path / "split.json")


def test_given_a_split_file_without_its_parts_when_loaded_then_the_data_error_says_what_it_lacks(tmp_path):
    (tmp_path / "empty.json").write_text("{}")
    with pytest.raises(DataError) as refused:
        Split.load(tmp_path / "empty.json")
    # it was the bare key: "cannot read split file empty.json: 'splits'"
    assert (
        str(refused.value)
        == f"cannot read split file {tmp_path / 'empty.json'}: it lacks 'splits', which every split has"
    )


def test_given_bad_fractions_when_splitting_then_a_data_error(tmp_path, cat_photos, dog_photos):
    result = scan(photo_folders(tmp_path, cat_photos[:3], dog_photos[:3]))
    with pytest.raises(DataError, match="summing to 1"):
        make_split(result, (0.8, 0.1, 0.2))


@pytest.mark.parametrize(
    ("cats", "dogs", "fractions", "message"),
    [
        (3, 3, (0.8, 0.1, 0.1), "the val part has no cat or dog photo (cat: 0, dog: 0): add photos or give"),
        (
            5,
            10,
            (0.8, 0.1, 0.1),
            "the val part has no cat photo (cat: 0, dog: 1): add photos or give the val part",
        ),
        (10, 10, (0.9, 0.1, 0.0), "the test part has no cat or dog photo (cat: 0, dog: 0)"),
        (10, 10, (0.0, 0.5, 0.5), "the train part has no cat or dog photo (cat: 0, dog: 0)"),
        (2, 10, (0.2, 0.4, 0.4), "the train part has no cat photo (cat: 0, dog: 2)"),
    ],
)
def test_given_a_split_part_without_a_class_when_checked_then_a_data_error_names_the_part_and_its_counts(
    tmp_path, cat_photos, dog_photos, cats, dogs, fractions, message
):
    split = make_split(scan(photo_folders(tmp_path, cat_photos[:cats], dog_photos[:dogs])), fractions)
    with pytest.raises(DataError, match=re.escape(message)):
        check_parts(split)


def test_given_every_part_with_both_classes_when_checked_then_no_error_and_unchecked_parts_may_lack_one(
    tmp_path, cat_photos, dog_photos
):
    root = photo_folders(tmp_path, cat_photos[:10], dog_photos[:10])
    check_parts(make_split(scan(root)))
    check_parts(make_split(scan(root), (0.9, 0.1, 0.0)), ("train", "val"))


def test_given_photos_when_loaded_through_the_cache_then_the_pixels_the_classifier_sees(
    tmp_path, cat_photos, dog_photos, tiny_model_dir, monkeypatch
):
    root = cat_photos[0].parent.parent
    paths = [p.relative_to(root).as_posix() for p in cat_photos[:3] + dog_photos[:3]]
    cache = tmp_path / "cache"
    decoded = load_pixels(root, paths, 32, cache)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a photo although it is cached")

    monkeypatch.setattr("training.data.model_input", no_decoding)
    from_cache = load_pixels(root, paths, 32, cache)

    expected = np.stack([model_input(root / p, 32) for p in paths])
    assert np.array_equal(decoded, expected)
    assert np.array_equal(from_cache, expected)
    classifier = Classifier(tiny_model_dir)
    for path, pixels in zip(paths, decoded, strict=True):
        assert classifier.classify_pixels(pixels) == classifier.classify(root / path)


def test_given_a_changed_photo_when_loaded_again_then_the_cache_is_not_reused(
    tmp_path, cat_photos, dog_photos
):
    root = photo_folders(tmp_path / "data", cat_photos[:2], dog_photos[:2])
    paths = [f"cat/{cat_photos[0].name}", f"dog/{dog_photos[0].name}"]
    first = load_pixels(root, paths, 16, tmp_path / "cache")
    shutil.copy(dog_photos[5], root / paths[0])  # same name, other photo

    second = load_pixels(root, paths, 16, tmp_path / "cache")

    assert not np.array_equal(first[0], second[0])
    assert np.array_equal(second[0], model_input(dog_photos[5], 16))
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2


def test_given_a_photo_spoilt_after_the_split_when_loaded_then_the_error_names_it(
    tmp_path, cat_photos, dog_photos
):
    root = photo_folders(tmp_path / "data", cat_photos[:3], dog_photos[:3])
    paths = [f"cat/{photo.name}" for photo in cat_photos[:3]]
    (root / paths[1]).write_bytes(b"")  # emptied by a sync, a disk, a user

    # "the file is empty" alone did not say which of thousands
    with pytest.raises(DataError, match=re.escape(f"{root / paths[1]}: the file is empty")):
        load_pixels(root, paths, 16)


@pytest.mark.parametrize("change", ["catdog's decoding", "another Pillow"])
def test_given_cached_photos_when_the_decoding_changes_then_they_are_decoded_again(
    tmp_path, cat_photos, monkeypatch, change
):
    from training.uploads import UploadAugment
    from training.views import ViewSet, cache_key

    # GIVEN photos decoded into the pixel cache, and the name of their cached views
    root = cat_photos[0].parent.parent
    paths = [p.relative_to(root).as_posix() for p in cat_photos[:2]]
    load_pixels(root, paths, 16, tmp_path / "cache")
    views = ViewSet(root, tuple(paths), 1)
    views_before = cache_key("lite0", 16, 3, UploadAugment(), views)

    # WHEN what decodes them changes
    if change == "another Pillow":
        monkeypatch.setattr("PIL.Image.__version__", "99.0.0")
    else:
        monkeypatch.setattr("catdog.images.DECODER", "served decode, resized otherwise")
    decoded = []
    monkeypatch.setattr(
        "training.data.model_input", lambda path, size: decoded.append(path) or model_input(path, size)
    )
    load_pixels(root, paths, 16, tmp_path / "cache")

    # THEN neither cache is taken: the photos are decoded again, the views are cached under another name
    assert len(decoded) == 2
    assert cache_key("lite0", 16, 3, UploadAugment(), views) != views_before
