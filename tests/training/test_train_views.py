"""``train`` on several folders, and the cached upload-style views it draws from each epoch."""

import json

import numpy as np
import pytest
from conftest import photo_folders

from catdog import load_image
from training.data import LABELS, load_pixels
from training.sources import Source, make_source_split
from training.uploads import UploadAugment, cached_views, photo_seed, view


def test_given_photos_when_views_are_cached_then_each_is_the_seeded_view_and_a_second_call_reads_the_cache(
    tmp_path, cat_photos, monkeypatch
):
    root = photo_folders(tmp_path / "data", cat_photos[:3], cat_photos[3:6])
    paths = [f"cat/{p.name}" for p in cat_photos[:3]]
    augment = UploadAugment()

    views = cached_views(root, paths, 32, (0, 2, 3), augment, tmp_path / "cache", workers=1)

    assert views.shape == (3, 3, 32, 32, 3) and views.dtype == np.uint8
    assert np.array_equal(views[:, 0], load_pixels(root, paths, 32))
    image = load_image(root / paths[1], size=32)
    for position, index in ((1, 2), (2, 3)):
        assert np.array_equal(views[1, position], view(image, 32, index, photo_seed(paths[1]), augment))
    assert not np.array_equal(views[1, 1], views[1, 2])
    monkeypatch.setattr("training.uploads.view", lambda *a: pytest.fail("decoded again"))
    again = cached_views(root, paths, 32, (0, 2, 3), augment, tmp_path / "cache")
    assert isinstance(again, np.memmap) and np.array_equal(again, views)
    assert len(list((tmp_path / "cache").glob("views-32px-0-2-3-3-*.npy"))) == 1


def test_given_cached_views_when_batched_then_each_photo_is_one_of_its_own_views_and_all_views_are_drawn():
    from training.train import dataset

    n, views = 12, 3
    pixels = np.empty((n, views, 4, 4, 3), np.uint8)
    for photo in range(n):
        for index in range(views):
            pixels[photo, index] = photo * views + index  # which photo and view, readable back
    labels = np.arange(n)

    drawn = set()
    for _ in range(4):  # epochs
        for x, y in dataset(pixels, labels, 5, augment=lambda x, training: x, seed=1):
            values = np.asarray(x)[:, 0, 0, 0].astype(int)
            assert (values // views == np.asarray(y)).all()  # the view belongs to the labelled photo
            assert (np.asarray(x) == values[:, None, None, None]).all()  # one whole view, not a mix
            drawn.update(values % views)
    assert drawn == {0, 1, 2}


@pytest.mark.slow
def test_given_two_folders_when_trained_then_the_split_is_the_sources_split_and_the_card_names_both(
    tmp_path, cat_photos, dog_photos
):
    from training.__main__ import main

    first = photo_folders(tmp_path / "asirra", cat_photos[:8], dog_photos[:8])
    more = photo_folders(tmp_path / "more", cat_photos[8:16], dog_photos[8:16])
    out, release = tmp_path / "run", tmp_path / "release"
    tiny = ["--batch-size", "8", "--size", "32", "--option", "filters=[8]", "--option", "stem_filters=4"]
    data = ["--data", str(first), "--data", str(more), "--fractions", "0.5", "0.25", "0.25", "--seed", "0"]
    run = ["--out", str(out), "--cache", str(tmp_path / "c"), "--epochs", "1", "--views", "0,2"]

    status = main(["train", *data, *run, *tiny, "--release", str(release), "--version", "2.0.0"])

    assert status == 0
    saved = json.loads((out / "split.json").read_text())
    expected = make_source_split([Source(str(f), (0.5, 0.25, 0.25), 0) for f in (first, more)], LABELS)
    assert sorted(p for p, _ in saved["splits"]["test"]) == sorted(s.path for s in expected.parts["test"])
    assert {p.split("/")[0] for p, _ in saved["splits"]["train"]} == {"asirra", "more"}
    card = json.loads((release / "model.json").read_text())
    assert card["version"] == "2.0.0" and card["metrics"]["count"] == 8
    assert {name: s["folder"] for name, s in card["dataset"]["sources"].items()} == {
        "asirra": str(first),
        "more": str(more),
    }
    assert card["training"]["config"]["views"] == [0, 2]
    (cache,) = (tmp_path / "c").glob("views-32px-0-2-*.npy")
    assert np.load(cache, mmap_mode="r").shape == (16, 2, 32, 32, 3)


def test_given_photos_over_twice_the_input_size_when_release_views_are_cached_then_view_0_is_as_served(
    tmp_path, cat_photos
):
    from catdog.images import model_input
    from training.views import ViewSet, cache_views

    # GIVEN Asirra photos (about 180 px) and a 32 px input: the served decoder shrinks them while decoding
    root = cat_photos[0].parent.parent
    paths = tuple(p.relative_to(root).as_posix() for p in cat_photos[:3])

    # WHEN the release cache is filled, with a network that passes its pixels through
    cached = cache_views(
        lambda pixels: {"act": pixels},
        ViewSet(root, paths, 1),
        tmp_path / "cache" / "views",
        UploadAugment(),
        32,
        kinds=("act",),
        log=lambda *_: None,
    )

    # THEN it trained on the pixels serving gives the model: they were decoded whole, and came out otherwise
    served = np.stack([model_input(root / p, 32) for p in paths])
    assert np.array_equal(np.asarray(cached["act"][:, 0]), served)
