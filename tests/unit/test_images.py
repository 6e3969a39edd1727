"""load_image / preprocess on real photos and on every kind of bad input."""

import io

import numpy as np
import pytest
from PIL import Image

from catdog import ImageTooLarge, InvalidImage, load_image, preprocess


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_given_a_real_photo_when_loaded_from_bytes_or_path_then_the_pixels_are_the_same(cat_photos):
    from_path = load_image(cat_photos[0])
    from_bytes = load_image(cat_photos[0].read_bytes())
    assert from_path.mode == "RGB"
    assert np.array_equal(np.asarray(from_path), np.asarray(from_bytes))


def test_given_a_photo_when_preprocessed_then_a_uint8_batch_of_raw_pixels(cat_photos):
    image = load_image(cat_photos[0])
    batch = preprocess(image, 128)
    assert batch.shape == (1, 128, 128, 3)
    assert batch.dtype == np.uint8
    assert batch.max() > 200  # raw 0..255, not scaled to 0..1


def test_given_exif_orientation_when_loaded_then_the_photo_is_upright(cat_photos):
    photo = load_image(cat_photos[0])
    wide = photo.resize((200, 100))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90 degree turn
    loaded = load_image(_encode(wide, "JPEG", exif=exif))
    assert loaded.size == (100, 200)


@pytest.mark.parametrize("mode", ["CMYK", "L", "P", "RGBA", "LA", "I;16", "I", "F", "1"])
def test_given_any_image_mode_when_loaded_then_rgb(cat_photos, mode):
    photo = load_image(cat_photos[0])
    converted = photo.convert("L").convert(mode) if mode.startswith("I") else photo.convert(mode)
    fmt = {"CMYK": "JPEG", "I": "TIFF", "F": "TIFF"}.get(mode, "PNG")
    loaded = load_image(_encode(converted, fmt))
    assert loaded.mode == "RGB"
    assert loaded.size == photo.size
    assert np.asarray(loaded).std() > 10  # real picture content survived the conversion


def test_given_an_animated_gif_when_loaded_then_its_first_frame(cat_photos, dog_photos):
    frames = [load_image(cat_photos[0]), load_image(dog_photos[0])]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    loaded = load_image(data)
    first = np.asarray(frames[0], dtype=np.int16)
    assert np.abs(np.asarray(loaded, dtype=np.int16) - first).mean() < 20


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, this is text\n", b"\xff\xd8\xff\xe0" + b"\x00" * 50],
    ids=["empty", "text", "truncated-jpeg-header"],
)
def test_given_bytes_that_are_not_an_image_when_loaded_then_invalid_image(data):
    with pytest.raises(InvalidImage):
        load_image(data)


def test_given_a_truncated_photo_when_loaded_then_invalid_image(cat_photos):
    data = cat_photos[0].read_bytes()
    with pytest.raises(InvalidImage):
        load_image(data[: len(data) // 2])


def test_given_a_missing_path_when_loaded_then_invalid_image(tmp_path):
    with pytest.raises(InvalidImage, match="not a file"):
        load_image(tmp_path / "nope.jpg")


def test_given_more_pixels_than_the_cap_when_loaded_then_image_too_large():
    data = _encode(Image.new("RGB", (300, 300)), "PNG")
    with pytest.raises(ImageTooLarge) as caught:
        load_image(data, max_pixels=300 * 300 - 1)
    assert caught.value.code == "too_many_pixels"
    assert load_image(data, max_pixels=300 * 300).size == (300, 300)
