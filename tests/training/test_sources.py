"""Several labelled folders as one seeded split, and upload-style views of a photo (no TensorFlow)."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catdog import load_image, preprocess
from training.data import LABELS, DataError, check_parts
from training.recipe import parse_recipe
from training.sources import LABELS3, Source, breed_of, make_source_split, source_of
from training.uploads import UploadAugment, occlude, view, zoom_out
from training.views import ViewSet, cache_key


def _folder(root, photos_by_label):
    for label, photos in photos_by_label.items():
        (root / label).mkdir(parents=True)
        for photo in photos:
            shutil.copy(photo, root / label / photo.name)
    return root


def test_given_two_folders_when_split_then_each_keeps_its_own_fractions_and_paths_name_the_source(
    tmp_path, cat_photos, dog_photos
):
    asirra = _folder(tmp_path / "asirra", {"cat": cat_photos[:10], "dog": dog_photos[:10]})
    breeds = _folder(tmp_path / "breeds", {"cat": cat_photos[10:15], "neither": dog_photos[10:15]})
    split = make_source_split([Source(str(asirra), (0.6, 0.2, 0.2)), Source(str(breeds), (0.6, 0.4, 0.0))])
    sizes = split.report["sources"]
    assert sizes["asirra"]["split_sizes"]["test"] == {"cat": 2, "dog": 2}
    assert sizes["breeds"]["split_sizes"]["test"] == {"cat": 0, "neither": 0}
    assert sizes["breeds"]["counts"] == {"cat": 5, "dog": 0, "neither": 5}
    assert {source_of(split, s.path) for s in split.parts["test"]} == {"asirra"}
    assert {s.label for s in split.parts["train"] if source_of(split, s.path) == "breeds"} == {0, 2}
    again = make_source_split([Source(str(asirra), (0.6, 0.2, 0.2)), Source(str(breeds), (0.6, 0.4, 0.0))])
    assert again.parts == split.parts  # seeded


def test_given_the_same_photo_in_two_sources_when_split_then_it_is_kept_once(
    tmp_path, cat_photos, dog_photos
):
    first = _folder(tmp_path / "first", {"cat": cat_photos[:4], "dog": dog_photos[:4]})
    second = _folder(tmp_path / "second", {"cat": cat_photos[2:6], "dog": dog_photos[:1]})
    split = make_source_split([Source(str(first)), Source(str(second))])
    assert sum(len(part) for part in split.parts.values()) == 10
    assert split.report["sources"]["second"]["total"] == 2
    assert split.report["sources"]["second"]["duplicates_removed"] == 3


def test_given_the_same_photo_under_two_labels_in_two_sources_when_split_then_a_data_error_names_both(
    tmp_path, cat_photos, dog_photos
):
    first = _folder(tmp_path / "first", {"cat": cat_photos[:4], "dog": dog_photos[:4]})
    second = _folder(tmp_path / "second", {"cat": cat_photos[4:8], "dog": dog_photos[4:8]})
    shutil.copy(cat_photos[1], second / "dog" / "mislabelled.jpg")

    with pytest.raises(DataError) as error:
        make_source_split([Source(str(first)), Source(str(second))])

    root = tmp_path.resolve()
    assert str(error.value) == (
        f"the same photo is cat as {root / 'first' / 'cat' / cat_photos[1].name} and "
        f"dog as {root / 'second' / 'dog' / 'mislabelled.jpg'}: remove the wrong one"
    )


@pytest.mark.parametrize("labels", [LABELS, LABELS3])
def test_given_a_class_folder_source_and_a_flat_kaggle_source_when_split_then_both_are_read_with_their_labels(
    tmp_path, cat_photos, dog_photos, labels
):
    folders = _folder(tmp_path / "folders", {"cat": cat_photos[:5], "dog": dog_photos[:5]})
    flat = tmp_path / "kaggle"
    flat.mkdir()
    for index, photo in enumerate(cat_photos[5:10]):
        shutil.copy(photo, flat / f"cat.{index}.jpg")
    for index, photo in enumerate(dog_photos[5:10]):
        shutil.copy(photo, flat / f"Dog.{index}.jpg")

    split = make_source_split(
        [Source(str(folders), (0.6, 0.2, 0.2)), Source(str(flat), (0.6, 0.2, 0.2))], labels
    )

    assert split.report["sources"]["kaggle"]["counts"] == {
        label: 5 if label != "neither" else 0 for label in labels
    }
    every = {s.path: labels[s.label] for part in split.parts.values() for s in part}
    assert every["kaggle/cat.0.jpg"] == "cat" and every["kaggle/Dog.4.jpg"] == "dog"
    assert every[f"folders/dog/{dog_photos[0].name}"] == "dog"
    assert split.sizes()["test"] == {label: 2 if label != "neither" else 0 for label in labels} | {"total": 4}


def test_given_a_folder_without_class_folders_or_named_files_when_split_then_a_clear_error(tmp_path):
    (tmp_path / "empty" / "other").mkdir(parents=True)
    with pytest.raises(DataError, match="found neither class folders"):
        make_source_split([Source(str(tmp_path / "empty"))])


def test_given_a_source_split_when_checked_then_classes_of_no_source_are_not_asked_for_and_others_are(
    tmp_path, cat_photos, dog_photos
):
    asirra = _folder(tmp_path / "asirra", {"cat": cat_photos[:10], "dog": dog_photos[:10]})
    breeds = _folder(tmp_path / "breeds", {"cat": cat_photos[10:15], "neither": dog_photos[10:15]})
    check_parts(make_source_split([Source(str(asirra))]))

    split = make_source_split([Source(str(asirra)), Source(str(breeds), (0.6, 0.4, 0.0))])

    with pytest.raises(
        DataError, match=re.escape("the test part has no neither photo (cat: 1, dog: 1, neither: 0)")
    ):
        check_parts(split)
    check_parts(split, ("train", "val"))


@pytest.mark.parametrize(
    ("path", "breed"),
    [
        ("breeds-dev/cat/cat12_Sphynx_0g4Sp5RoGB.jpg", "Sphynx"),
        ("breeds-dev/neither/mtnlion_cougar_12.jpg", "cougar"),
        ("other-sources-dev/neither-hard/imagen_n02118333_12193_fox.jpg", "fox"),
        ("other-sources-dev/dog/imagenet_n02085936_Maltese_dog.jpg", "Maltese_dog"),
        ("petimages-180/cat/1234.jpg", "cat"),
    ],
)
def test_given_a_file_name_when_its_breed_is_read_then_the_name_field_or_the_class_folder(path, breed):
    assert breed_of(path) == breed


def test_given_a_photo_when_viewed_then_view0_is_served_pixels_view1_the_mirror_and_draws_are_seeded(
    cat_photos,
):
    image = load_image(cat_photos[0])
    augment = UploadAugment()
    np.testing.assert_array_equal(view(image, 64, 0, 7, augment), preprocess(image, 64)[0])
    np.testing.assert_array_equal(view(image, 64, 1, 7, augment), preprocess(image, 64)[0][:, ::-1])
    draw = view(image, 64, 2, 7, augment)
    assert draw.shape == (64, 64, 3) and draw.dtype == np.uint8
    np.testing.assert_array_equal(draw, view(image, 64, 2, 7, augment))
    assert not np.array_equal(draw, view(image, 64, 3, 7, augment))
    assert not np.array_equal(draw, view(image, 64, 2, 8, augment))


def test_given_the_optional_steps_off_when_viewed_then_views_and_cache_keys_are_those_caches_were_made_with(
    cat_photos,
):
    image = load_image(cat_photos[0])
    plain = UploadAugment(blur_probability=0, jpeg_probability=0)
    digests = [hashlib.sha256(view(image, 64, i, 7, plain).tobytes()).hexdigest()[:16] for i in (2, 3)]
    on = UploadAugment(zoom_out_probability=0.5, occlusion_probability=0.5)

    # the digests of these views before zoom-out and occlusion existed: an off step draws nothing
    assert digests == ["86efc9bee5597e79", "b9448f6bc2186c98"]
    assert UploadAugment().key() == str(
        {
            "min_scale": 0.35,
            "max_aspect": 4 / 3,
            "jitter": 0.35,
            "blur_probability": 0.25,
            "blur_radius": (0.4, 1.6),
            "jpeg_probability": 0.5,
            "jpeg_quality": (25, 85),
        }
    )
    photos = ViewSet(cat_photos[0].parent, (cat_photos[0].name,), 2)
    assert cache_key("b", 64, 3, on, photos) != cache_key("b", 64, 3, UploadAugment(), photos)
    assert any(
        not np.array_equal(view(image, 64, i, 7, on), view(image, 64, i, 7, UploadAugment())) for i in (2, 3)
    )


def test_given_a_photo_when_zoomed_out_then_it_sits_unchanged_in_a_frame_factor_times_its_side(cat_photos):
    image = load_image(cat_photos[0]).resize((60, 40))

    framed = zoom_out(image, 2.0, np.random.default_rng(0))

    assert framed.size == (120, 80)
    frame, photo = np.asarray(framed), np.asarray(image)
    placed = [
        (top, left)
        for top in range(41)
        for left in range(61)
        if np.array_equal(frame[top : top + 40, left : left + 60], photo)
    ]
    assert len(placed) == 1


def test_given_a_photo_when_occluded_then_one_colour_covers_about_the_area_asked_for(cat_photos):
    image = load_image(cat_photos[0]).resize((100, 100))

    occluded = np.asarray(occlude(image, 0.1, np.random.default_rng(0)))

    rows, columns = np.nonzero(np.any(occluded != np.asarray(image), axis=2))
    box = occluded[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    assert 0.07 <= box.size / occluded.size <= 0.12
    assert len(np.unique(box.reshape(-1, 3), axis=0)) == 1


def test_given_a_tiny_or_wide_photo_when_cropped_then_the_view_still_has_the_model_size():
    for size in ((3, 3), (400, 40)):
        image = Image.new("RGB", size, (120, 80, 40))
        assert view(image, 32, 2, 0, UploadAugment()).shape == (32, 32, 3)


def test_given_a_recipe_when_parsed_then_unset_settings_are_the_dataclass_defaults_and_typos_fail():
    recipe = parse_recipe({"data": [{"folder": "x"}], "train": {"fine_epochs": 5}}, ["model.size=240"])
    assert recipe.train.fine_epochs == 5 and recipe.train.fine_lr == 1e-4
    assert recipe.model.size == 240 and recipe.data[0].fractions == (0.8, 0.1, 0.1)
    with pytest.raises(ValueError, match="fine_epoch"):
        parse_recipe({"data": [{"folder": "x"}], "train": {"fine_epoch": 5}})
    with pytest.raises(ValueError, match="data"):
        parse_recipe({})


def test_given_data_folders_in_different_places_when_split_then_each_source_is_known_by_its_folder_name(
    tmp_path, cat_photos, dog_photos
):
    from training.build import labels_of, view_sets

    # GIVEN a recipe's folders in two places (so the split names one "deep/mycats"), with per-source views
    pets = _folder(tmp_path / "pets", {"cat": cat_photos[:5], "dog": dog_photos[:5]})
    mine = _folder(tmp_path / "deep" / "mycats", {"cat": cat_photos[5:10]})
    recipe = parse_recipe(
        {
            "data": [{"folder": str(pets)}, {"folder": str(mine), "fractions": [1.0, 0, 0]}],
            "views": {"source_views": {"mycats": [0, 1, 2]}},
        }
    )
    split = make_source_split(list(recipe.data))
    prepared = type("Prepared", (), {"split": split, "evals": {}})()

    # WHEN its training sets are made
    sets = view_sets(recipe, prepared)

    # THEN the nested folder is "mycats", with its own views (it was "deep", and its settings unused)
    assert set(split.report["sources"]) == {"pets", "deep/mycats"}
    assert sets["train/mycats"].views == (0, 1, 2) and len(sets["train/mycats"].paths) == 5
    assert list(labels_of(prepared, "train/mycats")) == [0] * 5


@pytest.mark.parametrize(
    ("document", "overrides", "message"),
    [
        ({}, ["train.soup=0"], "train.soup must be at least 1, got 0"),
        ({}, ["model.size=0"], "model.size must be at least 32, got 0"),
        ({}, ["train.batch_size=-1"], "train.batch_size must be at least 1, got -1"),
        (
            {},
            ["neither.threshold_rule=fewest"],
            "neither.threshold_rule must be one of max-pets-neither, fewest",
        ),
        ({}, ["model.backbone=resnet"], "model.backbone: unknown EfficientNet-Lite variant 'resnet'"),
        # found when the recipe is read: they had failed after the split and the cache, or not at all
        (
            {},
            ["augment.min_scale=2"],
            "augment.min_scale must be a share of the photo's area, above 0 and at",
        ),
        ({}, ["train.dropout=2"], "train.dropout must be a rate from 0 to below 1, got 2.0"),
        ({}, ["distill.weight=7"], "distill.weight must be a share, 0 to 1, got 7.0"),
        ({}, ["augment.jpeg_quality=[85, 25]"], "augment.jpeg_quality must be [low, high] with 1 <= low"),
        ({}, ["views.train_views=0"], "views: every photo needs at least one view, got 0"),
        # session 18: accepted, then failed with numpy's words after the split and TensorFlow, or not at all
        (
            {},
            ["views.train_views=[0, -2]"],
            "views.train_views: view indices are whole numbers from 0, got [0, -2]",
        ),
        (
            {"views": {"source_views": {"x": [0, -1]}}},
            [],
            "views.source_views.x: view indices are whole numbers",
        ),
        (
            {"views": {"oversample": {"x": -1}}},
            [],
            "views.oversample.x must be a weight above 0 and at most 100",
        ),
        ({}, ["train.neither_weight=-2"], "train.neither_weight must be a class weight above 0"),
        (
            {},
            ["neither.imagenet_vote_weights=[]"],
            "neither.imagenet_vote_weights must be one weight or more",
        ),
        (
            {"eval": [{"folder": "y", "cache_dir": "runs/mine"}]},
            [],
            "[[eval]] y: unknown setting 'cache_dir': an [[eval]] folder is measured whole",
        ),
        ({}, ["model.cut=40"], "model.cut must be a block index between 1 and 15, got 40"),
        ({}, ["model.cut=0"], "model.cut must be a block index between 1 and 15, got 0"),
        ({}, ["train.epochs"], "--set wants KEY=VALUE, got 'train.epochs'"),
        ({}, ["data.folder=/x"], "--set data.folder: [[data]] folders are set in the recipe file"),
        ({}, ["cache_dir=3"], "cache_dir must be a folder name, got 3"),
        ({"data": {"folder": "x"}}, [], "each [[data]] is a table with a folder (note the double brackets)"),
        ({"data": [{"fractions": [1, 0, 0]}]}, [], "each [[data]] is a table with a folder"),
        ({"eval": {"folder": "y"}}, [], "each [[eval]] is a table with a folder"),
        (
            {"eval": [{"folder": "a/dev"}, {"folder": "b/dev"}]},
            [],
            "[[eval]] folders must have different names, dev is given twice",
        ),
        (
            {"data": [{"folder": "a/pets"}, {"folder": "b/pets"}]},
            [],
            "[[data]] folders must have different names, pets is given twice",
        ),
        (
            {"views": {"oversample": {"breeds_dev": 2.0}}},
            [],
            "views.oversample names 'breeds_dev', which is no [[data]] folder's name: one of x",
        ),
        (
            {"views": {"source_views": {"tinny": [0, 1]}}},
            [],
            "views.source_views names 'tinny', which is no [[data]] folder's name",
        ),
        ({"train": 3}, [], "[train] must be a table of settings, got 3"),
        ({"data": [{"folder": "x", "fractions": [0.9, 0.9, 0.9]}]}, [], "summing to 1, got [0.9, 0.9, 0.9]"),
        ({"data": [{"folder": "x", "fractions": [0, 0.5, 0.5]}]}, [], "a train fraction of 0 trains on none"),
        (
            {"data": [{"folder": "x", "fractions": [0.9, 0.1, 0]}]},
            [],
            "no [[data]] folder has a test fraction",
        ),
        # accepted, then failed in the run (numpy's seeds, the vote weights), or wrote where it should not
        (
            {},
            ["neither.imagenet_vote_weights=[NaN]"],
            "neither.imagenet_vote_weights must be a list, each a number, got [nan]",
        ),
        (
            {},
            ["neither.imagenet_vote_weights=[0.5, Infinity]"],
            "neither.imagenet_vote_weights must be a list, each a number, got [0.5, inf]",
        ),
        ({"data": [{"folder": "x", "fractions": [float("nan"), 0, 0]}]}, [], "[[data]] fractions must be"),
        ({}, ["train.seed=-5"], "train.seed must be at least 0, got -5"),
        ({"data": [{"folder": "x", "seed": -5}]}, [], "[[data]] x: seed must be at least 0, got -5"),
        (
            {},
            ['views.oversample={"x": true}'],
            "views.oversample.x must be a weight above 0 and at most 100, got True",
        ),
        (
            {"views": {"source_views": {"x": [0, True]}}},
            [],
            "views.source_views.x: view indices are whole numbers from 0, got [0, True]",
        ),
        (
            {},
            ['release.version="../../../tmp/evil"'],
            "release.version must be a plain version such as 2.4.0 or 2.4.0rc1",
        ),
        ({"release": {"version": ".."}}, [], "release.version must be a plain version"),
        ({"release": {"version": "2.4.0/rc1"}}, [], "release.version must be a plain version"),
    ],
)
def test_given_a_recipe_mistake_when_parsed_then_a_recipe_error_names_it(document, overrides, message):
    from training.recipe import RecipeError

    with pytest.raises(RecipeError, match=re.escape(message)):
        parse_recipe({"data": [{"folder": "x"}]} | document, overrides)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.frozen_copy=1", "model.frozen_copy must be true or false, got 1"),
        ('model.cut="x"', "model.cut must be a whole number, got 'x'"),
        ("train.fine_epochs=1.5", "train.fine_epochs must be a whole number, got 1.5"),
        ('views.train_views=[0, "a"]', "views.train_views must be a whole number or a list, each a whole"),
        ("augment.blur_radius=[1]", "augment.blur_radius must be a list of 2, each a number, got [1]"),
        ("views.oversample=2", "views.oversample must be a table, got 2"),
    ],
)
def test_given_a_setting_of_the_wrong_type_when_parsed_then_the_error_names_the_type_it_needs(
    override, message
):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_recipe({"data": [{"folder": "x"}]}, [override])


def test_given_every_committed_recipe_when_loaded_then_it_is_a_recipe_and_plain_versions_are_taken():
    from training.recipe import load_recipe

    recipes = sorted((Path(__file__).parents[2] / "training" / "recipes").glob("*.toml"))
    assert len(recipes) > 10 and all(load_recipe(path).data for path in recipes)
    for version in ("2.4.0", "2.4.0rc1", "2.3.0-candidate", "3.0.0+local_1"):
        assert (
            parse_recipe({"data": [{"folder": "x"}], "release": {"version": version}}).release.version
            == version
        )


def test_given_settings_of_the_right_type_when_parsed_then_lists_become_tuples_and_whole_numbers_floats():
    recipe = parse_recipe(
        {"data": [{"folder": "x", "fractions": [1, 0, 0]}, {"folder": "y"}]},
        ["train.fine_lr=1", "views.train_views=[0, 2]", "augment.jpeg_quality=[50, 90]"],
    )
    assert recipe.train.fine_lr == 1.0 and isinstance(recipe.train.fine_lr, float)
    assert recipe.views.train_views == (0, 2) and recipe.augment.jpeg_quality == (50, 90)
    assert recipe.data[0].fractions == (1.0, 0.0, 0.0)


def test_given_the_recipe_a_card_records_when_read_back_then_it_is_the_recipe_and_older_cards_get_defaults():
    from training.recipe import load_recipe, recipe_dict, recipe_from_dict

    recipe = load_recipe(Path(__file__).parents[2] / "training" / "recipes" / "2.1.0.toml")
    recorded = recipe_dict(recipe)
    assert recipe_from_dict(recorded) == recipe
    older = {k: v for k, v in recorded.items() if k != "members"}  # a card from before [members]
    assert recipe_from_dict(older) == recipe
    changed = recorded | {"model": recorded["model"] | {"size": 224}}
    assert recipe_from_dict(changed) != recipe


def test_given_two_recipes_when_compared_then_only_the_settings_that_differ_are_named_as_set_says_them():
    from training.recipe import load_recipe, recipe_changes

    recipes = Path(__file__).parents[2] / "training" / "recipes"
    reference = load_recipe(recipes / "2.1.0.toml")
    assert recipe_changes(load_recipe(recipes / "2.2.0.toml"), reference) == {
        "model.cut": 11,
        "model.frozen_copy": False,
    }  # the release names differ too, and are not a change of recipe
    assert recipe_changes(reference, reference) == {}
    other = load_recipe(recipes / "2.1.0.toml", ["views.source_views={}", "train.seed=1"])
    assert recipe_changes(other, reference) == {"views.source_views": {}, "train.seed": 1}
    assert recipe_changes(other, reference, sections=("views",)) == {"views.source_views": {}}


def test_given_a_photo_replaced_in_place_when_its_views_are_keyed_then_they_are_computed_again(
    tmp_path, cat_photos, dog_photos
):
    # GIVEN a photo whose views are keyed, then another photo copied over it under the same name
    photo = tmp_path / "cat" / "a.jpg"
    photo.parent.mkdir()
    shutil.copy(cat_photos[0], photo)
    photos = ViewSet(tmp_path, ("cat/a.jpg",), 2)
    before = cache_key("efficientnet_lite2", 64, 11, UploadAugment(), photos)
    shutil.copy(dog_photos[0], photo)

    # THEN its key is another: the key held the paths alone, so the replaced photo was trained on as the
    # old one, from the cache, without a word
    assert cache_key("efficientnet_lite2", 64, 11, UploadAugment(), photos) != before


def test_given_a_data_folder_given_as_a_link_when_split_then_the_recipes_settings_for_it_are_used(
    tmp_path, cat_photos, dog_photos
):
    from training.build import _made_from, sample_weights, view_sets

    # GIVEN a recipe naming a link to a folder of another name, with that source's own views and weight
    target = _folder(tmp_path / "a", {"cat": cat_photos[:5], "dog": dog_photos[:5]})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "PetImages").symlink_to(target)
    recipe = parse_recipe(
        {
            "data": [{"folder": str(tmp_path / "data" / "PetImages"), "fractions": [0.6, 0.2, 0.2]}],
            "views": {"source_views": {"PetImages": [0, 1, 2]}, "oversample": {"PetImages": 3.0}},
        }
    )

    # WHEN it is split and its training sets made
    split = make_source_split(list(recipe.data))
    prepared = type("Prepared", (), {"split": split, "evals": {}})()
    sets = view_sets(recipe, prepared)

    # THEN the split knows it by the folder it resolves to (as splits saved before do), and the recipe's
    # settings for the link are its: its views were the default and its weight 1, and the run folder
    # refused its own split the next time ("made from other [[data]] folders")
    assert set(split.report["sources"]) == {"a"}
    assert sets["train/a"].views == (0, 1, 2)
    assert sample_weights(recipe, "a", np.array([0, 1])).tolist() == [3.0, 3.0]
    assert _made_from(split) == _made_from(recipe)


def test_given_a_source_whose_test_fraction_is_0_when_split_then_its_test_part_is_empty(tmp_path, cat_photos):
    from training.data import cut_members

    members = list(range(15))

    # WHEN 15 photos of a class are cut at 0.7 / 0.3 / 0: round(10.4999…) = 10 and round(4.5) = 4
    cut = cut_members(members, (0.7, 0.3, 0.0), np.random.default_rng(0))

    # THEN none is in test (one was: never trained on, never validated on, and tested though asked not to)
    assert (len(cut["train"]), len(cut["val"]), len(cut["test"])) == (10, 5, 0)
