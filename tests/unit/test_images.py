"""load_image / preprocess on real photos and on every kind of bad input."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from catdog import ImageTooLarge, InvalidImage, images, load_image, model_input, preprocess


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_given_a_real_photo_when_loaded_from_bytes_or_path_then_the_pixels_are_the_same(cat_photos):
    from_path = load_image(cat_photos[0])
    from_bytes = load_image(cat_photos[0].read_bytes())
    assert from_path.mode == "RGB"
    assert np.array_equal(np.asarray(from_path), np.asarray(from_bytes))


def test_given_an_open_binary_file_when_loaded_then_the_pixels_of_its_bytes(cat_photos):
    # a web framework's upload, or open(path, "rb"): it raised pathlib's TypeError
    with cat_photos[0].open("rb") as upload:
        from_file = load_image(upload)
    assert np.array_equal(np.asarray(from_file), np.asarray(load_image(cat_photos[0].read_bytes())))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            np.zeros((8, 8, 3), np.uint8),
            "from type ndarray: pass bytes, a path, a binary file or a PIL image",
        ),
        (42, "from type int"),
        (io.StringIO("a photo"), r"open it in binary mode \('rb'\)"),
    ],
)
def test_given_something_that_is_no_image_source_when_loaded_then_a_type_error_lists_what_is(source, message):
    with pytest.raises(TypeError, match=message):
        load_image(source)


def test_given_an_image_closed_before_its_pixels_were_read_when_loaded_then_it_says_so(cat_photos):
    with Image.open(cat_photos[0]) as image:
        pass
    # it was "the JPEG file is damaged or truncated: AssertionError", for a file that is fine
    with pytest.raises(ValueError, match="closed before its pixels were read") as raised:
        load_image(image)
    assert not isinstance(raised.value, InvalidImage)
    with Image.open(cat_photos[0]) as image:
        image.load()
    assert load_image(image).size == image.size  # read before the `with` ended: its pixels are there


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16"])
def test_given_an_image_that_is_not_rgb_when_preprocessed_then_refused_with_the_way_to_convert_it(
    cat_photos, mode
):
    image = Image.open(cat_photos[0]).convert("L" if mode == "I;16" else mode)
    if mode == "I;16":  # a 16-bit photo: Pillow's own conversion made it white, that is, "neither"
        image = Image.open(
            io.BytesIO(_encode(Image.fromarray(np.asarray(image).astype(np.uint16) * 257), "PNG"))
        )

    with pytest.raises(ValueError, match=f"RGB image, got mode {mode}.*load_image"):
        preprocess(image, 64)
    assert preprocess(load_image(image), 64).shape == (1, 64, 64, 3)


def test_given_a_photo_when_preprocessed_then_a_uint8_batch_of_raw_pixels(cat_photos):
    image = load_image(cat_photos[0])
    batch = preprocess(image, 128)
    assert batch.shape == (1, 128, 128, 3)
    assert batch.dtype == np.uint8
    assert batch.max() > 200  # raw 0..255, not scaled to 0..1


def _quadrants(width: int = 60, height: int = 40) -> Image.Image:
    """A wide picture of four colours, one a quadrant: each of the 8 orientations stores it differently."""
    image = Image.new("RGB", (width, height))
    colours = [(250, 10, 10), (10, 250, 10), (10, 10, 250), (250, 250, 10)]
    for index, colour in enumerate(colours):
        left, top = (index % 2) * width // 2, (index // 2) * height // 2
        image.paste(colour, (left, top, left + width // 2, top + height // 2))
    return image


def _with_orientation(image: Image.Image, fmt: str, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(image, fmt, exif=exif)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("orientation", range(2, 9))
def test_given_an_exif_orientation_when_loaded_then_the_pixels_are_turned_as_pillows_exif_transpose_does(
    fmt, orientation
):
    data = _with_orientation(_quadrants(), fmt, orientation)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"), dtype=np.int16)

    loaded = np.asarray(load_image(data), dtype=np.int16)

    assert loaded.shape == upright.shape
    if fmt == "PNG":
        assert np.array_equal(loaded, upright)
    else:  # the same JPEG decode both ways: only the turn could differ
        assert np.abs(loaded - upright).max() <= 2


@pytest.mark.parametrize("mode", ["CMYK", "L", "P", "RGBA", "LA", "I;16", "I", "F", "1"])
def test_given_any_image_mode_when_loaded_then_rgb(cat_photos, mode):
    photo = load_image(cat_photos[0])
    converted = photo.convert("L").convert(mode) if mode.startswith("I") else photo.convert(mode)
    fmt = {"CMYK": "JPEG", "I": "TIFF", "F": "TIFF"}.get(mode, "PNG")
    loaded = load_image(_encode(converted, fmt))
    assert loaded.mode == "RGB"
    assert loaded.size == photo.size
    assert np.asarray(loaded).std() > 10  # real picture content survived the conversion


@pytest.mark.parametrize(("alpha", "seen"), [(0, (255, 255, 255)), (128, (132, 227, 142))])
@pytest.mark.parametrize(("side", "size"), [(8, 8), (1200, 100)], ids=["as-is", "shrunk-in-bands"])
def test_given_a_transparent_rgba_png_when_made_model_input_then_it_is_laid_on_white_not_its_hidden_colour(
    alpha, seen, side, size
):
    # GIVEN a PNG of one green, fully or half transparent (a large one is shrunk band by band)
    data = _encode(Image.new("RGBA", (side, side), (10, 200, 30, alpha)), "PNG")

    # WHEN it becomes the model's input
    pixels = model_input(data, size)

    # THEN it is composited on white, as a browser shows it: white where fully transparent (it was the
    # hidden green, or black with Pillow's own conversion), half green and half white where half transparent
    assert pixels.shape == (size, size, 3)
    assert np.array_equal(np.unique(pixels.reshape(-1, 3), axis=0), [seen])


def test_given_a_paletted_png_with_a_transparent_entry_when_made_model_input_then_that_entry_is_white():
    # GIVEN a paletted PNG: its left half entry 0 (red, marked transparent), its right half entry 1 (blue)
    paletted = Image.new("P", (8, 6), 0)
    paletted.putpalette([200, 0, 0, 0, 0, 200] + [0, 0, 0] * 254)
    paletted.paste(1, (4, 0, 8, 6))
    data = _encode(paletted, "PNG", transparency=0)
    assert Image.open(io.BytesIO(data)).mode == "P"  # still paletted when decoded, with a tRNS entry

    # WHEN it becomes the model's input
    pixels = model_input(data, 8)

    # THEN the transparent entry is white, not the red it hides; the opaque entry keeps its colour
    assert np.array_equal(np.unique(pixels[:, :4].reshape(-1, 3), axis=0), [(255, 255, 255)])
    assert np.array_equal(np.unique(pixels[:, 4:].reshape(-1, 3), axis=0), [(0, 0, 200)])


def test_given_an_animated_gif_when_loaded_then_its_first_frame(cat_photos, dog_photos):
    frames = [load_image(cat_photos[0]), load_image(dog_photos[0])]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    loaded = load_image(data)
    first = np.asarray(frames[0], dtype=np.int16)
    assert np.abs(np.asarray(loaded, dtype=np.int16) - first).mean() < 20


def test_given_an_animated_gif_opened_at_a_later_frame_when_loaded_then_its_first_frame_and_left_there(
    cat_photos, dog_photos
):
    # GIVEN an animated GIF of a cat then a dog, opened and moved to its second frame
    frames = [load_image(cat_photos[0]), load_image(dog_photos[0])]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    image = Image.open(io.BytesIO(data))
    image.seek(1)

    # WHEN the opened image is loaded
    loaded = load_image(image)

    # THEN its first frame is decoded, the same pixels as from its bytes (not the dog), and the image
    # is left at that frame
    assert np.array_equal(np.asarray(loaded), np.asarray(load_image(data)))
    assert image.tell() == 0


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


def test_given_a_missing_path_when_loaded_then_an_invalid_image_coded_not_found_as_the_cli_says(tmp_path):
    with pytest.raises(InvalidImage, match="not a file") as missing:
        load_image(tmp_path / "nope.jpg")
    assert missing.value.code == "not_found"  # it was invalid_image: a typo read as "not an image"


def test_given_more_pixels_than_the_cap_when_loaded_then_image_too_large():
    data = _encode(Image.new("RGB", (300, 300)), "PNG")
    with pytest.raises(ImageTooLarge) as caught:
        load_image(data, max_pixels=300 * 300 - 1)
    assert caught.value.code == "too_many_pixels"
    assert load_image(data, max_pixels=300 * 300).size == (300, 300)


def test_given_an_image_far_above_pillows_own_cap_when_loaded_then_the_error_names_the_configured_cap():
    # GIVEN a PNG whose header claims 60000 x 60000 (Pillow refuses it as a bomb before any check of ours)
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    size = (60000).to_bytes(4, "big") * 2
    claimed = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", size + bytes([8, 2, 0, 0, 0])) + chunk(b"IEND", b"")

    # WHEN it is loaded, THEN the message is the configured cap's, not Pillow's 178,956,970
    with pytest.raises(ImageTooLarge) as caught:
        load_image(claimed, max_pixels=50_000_000)
    assert caught.value.code == "too_many_pixels"
    assert str(caught.value) == "image has 3,600,000,000 pixels, above the cap of 50,000,000"


def test_given_a_cap_above_pillows_own_when_loaded_then_the_configured_cap_decides(cat_photos, monkeypatch):
    # GIVEN Pillow's decompression-bomb cap below the photo (as its 89.5 MP is below a MAX_PIXELS of 200 MP)
    width, height = Image.open(cat_photos[0]).size
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", width * height // 4)

    # WHEN the photo is loaded with a configured cap above it, THEN it decodes; below it, it is refused
    assert load_image(cat_photos[0], max_pixels=width * height).size == (width, height)
    with pytest.raises(ImageTooLarge, match=f"above the cap of {width * height - 1:,}"):
        load_image(cat_photos[0], max_pixels=width * height - 1)


def test_given_a_photo_decoded_while_another_thread_opens_an_image_over_pillows_cap_then_no_warning_escapes(
    cat_photos,
):
    import subprocess
    import sys

    # GIVEN a PNG whose header claims 100 MP (above Pillow's 89.5 MP, below twice that: where Pillow only
    # warns), opened in one thread while a photo's decode in another begins before it and ends after it
    # has begun: the order in which a bulk run's thread workers swapped the process's warning filters.
    # A process of its own: pytest runs each test and each import under filters of its own.
    script = f"""
import io, threading
from PIL import Image
from catdog import ImageTooLarge, images, load_image
header = io.BytesIO()
Image.new("1", (10_000, 10_000)).save(header, "PNG")
photo_began, bomb_began, photo_done = threading.Event(), threading.Event(), threading.Event()
check_header = images._check_webp_header
def in_turn(stream, max_pixels):
    photo = threading.current_thread().name == "photo"
    mine, theirs = (photo_began, bomb_began) if photo else (bomb_began, photo_done)
    mine.set()
    theirs.wait(10)
    check_header(stream, max_pixels)
images._check_webp_header = in_turn
def photo():
    load_image({str(cat_photos[0])!r}, size=224)
    photo_done.set()
worker = threading.Thread(target=photo, name="photo")
worker.start()
photo_began.wait(10)
try:
    load_image(header.getvalue())
except ImageTooLarge:
    print("refused")
worker.join(10)
print("photo decoded" if photo_done.is_set() else "photo not decoded")
"""

    # WHEN both run
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)

    # THEN the bomb is refused and no warning reaches stderr (among a bulk run's progress lines)
    assert run.stdout == "refused\nphoto decoded\n" and run.stderr == ""


# --- every decoder failure is an InvalidImage; only the accepted formats are decoded ----------------


def _jpeg_with_bad_exif_tag(photo: Image.Image) -> bytes:
    """A small JPEG whose EXIF holds text under tag 0x0152 (ExtraSamples, a number): Pillow reads it,
    then fails with ``struct.error`` when it writes the EXIF back while applying the orientation."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Phone"
    data = _encode(photo, "JPEG", exif=exif)
    assert data.count(b"\x01\x0f\x00\x02") == 1  # tag 0x010F, type ASCII (big-endian EXIF)
    return data.replace(b"\x01\x0f\x00\x02", b"\x01\x52\x00\x02")


def test_given_a_jpeg_with_a_malformed_exif_tag_when_loaded_then_its_pixels_are_decoded(cat_photos):
    photo = load_image(cat_photos[0]).resize((64, 48))
    data = _jpeg_with_bad_exif_tag(photo)
    assert len(data) < 2000

    loaded = load_image(data)

    assert loaded.mode == "RGB"
    assert loaded.size == (48, 64)  # the orientation tag itself is intact and still applied


def test_given_an_animated_gif_cut_anywhere_when_loaded_then_an_image_or_invalid_image(
    cat_photos, dog_photos
):
    frames = [load_image(p).resize((48, 36)) for p in (cat_photos[0], dog_photos[0], cat_photos[1])]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    outcomes = {"image": 0, "invalid": 0}

    for cut in range(1, len(data)):
        try:
            assert load_image(data[:cut]).mode == "RGB"
            outcomes["image"] += 1
        except InvalidImage as exc:
            assert exc.code == "invalid_image"
            outcomes["invalid"] += 1

    assert outcomes["image"] > 0 and outcomes["invalid"] > 0


def test_given_memory_runs_out_while_decoding_when_loaded_then_the_memory_error_propagates(
    cat_photos, monkeypatch
):
    # GIVEN a decoder that runs out of memory on a real photo
    def out_of_memory(self):
        raise MemoryError

    with monkeypatch.context() as patched:
        patched.setattr(ImageFile.ImageFile, "load", out_of_memory)

        # WHEN the photo is loaded, THEN the MemoryError itself is raised, not an InvalidImage: it is
        # no fact about the file (a label "invalid_image" would call a good photo bad)
        with pytest.raises(MemoryError) as raised:
            load_image(cat_photos[0])
        assert not isinstance(raised.value, InvalidImage)

    # ... and with the memory there, the same photo decodes
    assert load_image(cat_photos[0]).mode == "RGB"


def _psd() -> bytes:
    """A 2x2 greyscale Photoshop file (Pillow reads PSD but cannot write it)."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 1, 2, 2, 8, 1)
    return header + struct.pack(">IIIH", 0, 0, 0, 0) + bytes([16, 32, 48, 64])


@pytest.mark.parametrize("fmt", ["TGA", "ICO", "EPS", "PSD", "PCX", "PPM", "SGI", "QOI", "DDS"])
def test_given_a_format_pillow_reads_but_catdog_does_not_accept_when_loaded_then_invalid_image(fmt):
    data = _psd() if fmt == "PSD" else _encode(Image.new("RGB", (32, 32), (200, 40, 40)), fmt)
    assert Image.open(io.BytesIO(data)).format == fmt  # a real file of that format

    with pytest.raises(InvalidImage) as caught:
        load_image(data)

    assert caught.value.code == "invalid_image"
    assert str(caught.value) == "the file is not a JPEG, PNG, WebP, GIF, BMP or TIFF image"


def test_given_a_phone_mpo_jpeg_when_loaded_then_its_first_picture(cat_photos, dog_photos):
    first, second = load_image(cat_photos[0]), load_image(dog_photos[0]).resize((90, 60))
    data = _encode(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).format == "MPO"

    loaded = load_image(data)

    assert loaded.size == first.size
    assert np.abs(np.asarray(loaded, dtype=np.int16) - np.asarray(first, dtype=np.int16)).mean() < 10


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF"])
def test_given_a_damaged_file_when_loaded_then_the_message_says_what_is_wrong_in_words(cat_photos, fmt):
    data = _encode(load_image(cat_photos[0]), fmt)

    with pytest.raises(InvalidImage) as caught:
        load_image(data[: len(data) * 2 // 3])

    message = str(caught.value)
    assert "0x" not in message and "BytesIO" not in message and "<" not in message
    assert "damaged or truncated" in message


# --- decoding memory: never the full image when the model needs a few hundred pixels ----------------


def _big(cat_photos, mode: str, size=(2400, 1500)) -> Image.Image:
    photo = load_image(cat_photos[0]).resize(size)
    if mode in ("I;16", "F"):
        grey = np.asarray(photo.convert("L"), dtype=np.float32) * (250.0 if mode == "I;16" else 0.01)
        return Image.fromarray(grey.astype(np.uint16) if mode == "I;16" else grey)
    if mode in ("RGBA", "LA"):
        converted = photo.convert(mode)
        converted.putalpha(Image.linear_gradient("L").resize(size))
        return converted
    return photo.convert(mode)


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("RGB", "JPEG"), ("CMYK", "JPEG"), ("RGB", "PNG"), ("RGBA", "PNG"), ("LA", "PNG"), ("P", "PNG"),
     ("I;16", "PNG"), ("F", "TIFF"), ("L", "WEBP"), ("1", "BMP")],
)  # fmt: skip
def test_given_a_large_image_and_the_model_size_when_loaded_then_it_shrinks_to_twice_that_looking_the_same(
    cat_photos, mode, fmt
):
    data = _encode(_big(cat_photos, mode), fmt)
    full = load_image(data)

    shrunk = load_image(data, size=100)

    assert full.size == (2400, 1500)
    assert min(shrunk.size) >= 200 and max(shrunk.size) < 1200  # twice the input at least, far from full
    difference = np.abs(preprocess(shrunk, 100).astype(np.int16) - preprocess(full, 100)).mean()
    assert difference < 3


def test_given_a_photo_under_twice_the_model_size_when_loaded_with_it_then_the_pixels_are_unchanged(
    cat_photos,
):
    data = _encode(load_image(cat_photos[0]).resize((519, 700)), "PNG")

    assert np.array_equal(np.asarray(load_image(data, size=260)), np.asarray(load_image(data)))


@pytest.mark.parametrize("orientation", range(2, 9))
def test_given_a_turned_large_jpeg_when_shrunk_then_it_is_upright_as_pillows_exif_transpose_makes_it(
    cat_photos, orientation
):
    data = _with_orientation(load_image(cat_photos[0]).resize((2000, 1000)), "JPEG", orientation)
    stored = Image.open(io.BytesIO(data)).convert("RGB")
    upright = preprocess(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"), 100)

    shrunk = preprocess(load_image(data, size=100), 100).astype(np.int16)

    assert np.abs(shrunk - upright).mean() < 3
    assert np.abs(shrunk - preprocess(stored, 100)).mean() > 10  # the turn matters for this photo


@pytest.mark.parametrize("options", [{"quality": 80}, {"lossless": True}, {"exif": b"Exif\x00\x00"}])
def test_given_a_webp_over_half_the_pixel_cap_when_loaded_then_it_is_refused_before_decoding(options):
    # lossy (VP8), lossless (VP8L) and extended (VP8X, here for its EXIF chunk) headers
    data = _encode(Image.new("RGB", (300, 200), (90, 120, 30)), "WEBP", **options)

    with pytest.raises(ImageTooLarge) as caught:
        load_image(data, max_pixels=2 * 300 * 200 - 2)

    assert str(caught.value) == "image is 300x200 = 60,000 pixels, above the cap of 59,999 for a WebP image"
    assert load_image(data, max_pixels=2 * 300 * 200).size == (300, 200)
    assert load_image(_encode(Image.new("RGB", (300, 200)), "PNG"), max_pixels=300 * 200).size == (300, 200)


@pytest.mark.parametrize("options", [{"quality": 80}, {"lossless": True}, {"exif": b"Exif\x00\x00"}])
def test_given_a_webp_over_half_the_pixel_cap_when_loaded_then_its_header_refuses_it_before_pillow_opens_it(
    options, monkeypatch
):
    # GIVEN a WebP over half the cap (lossy, lossless, extended), and its first 30 bytes alone: the
    # header, no picture (opening either makes libwebp allocate two canvases of the size it claims)
    data = _encode(Image.new("RGB", (300, 200), (90, 120, 30)), "WEBP", **options)
    opened = []
    pillow_open = Image.open
    monkeypatch.setattr(
        Image, "open", lambda *args, **kwargs: opened.append(args) or pillow_open(*args, **kwargs)
    )

    # WHEN each is loaded
    for claimed in (data, data[:30]):
        with pytest.raises(ImageTooLarge) as caught:
            load_image(claimed, max_pixels=2 * 300 * 200 - 2)

        # THEN each is too large, by its header (Pillow, opening the header alone, finds it truncated)
        assert caught.value.code == "too_many_pixels"
        assert str(caught.value).endswith("above the cap of 59,999 for a WebP image")

    # ... and Pillow never opened either; under the cap it opens the file and decodes it
    assert opened == []
    assert load_image(data, max_pixels=2 * 300 * 200).size == (300, 200)
    assert len(opened) == 1


@pytest.mark.parametrize("fmt", ["WEBP", "JPEG"])
def test_given_an_open_file_when_its_webp_header_is_checked_then_it_is_left_at_its_start_for_the_decoder(
    cat_photos, tmp_path, fmt
):
    # GIVEN a photo file (a WebP, whose header is read, and a JPEG, which is not one) opened as
    # load_image opens a path
    path = tmp_path / f"photo.{fmt.lower()}"
    path.write_bytes(_encode(load_image(cat_photos[0]), fmt))
    with path.open("rb") as stream:
        # WHEN its first bytes are checked for a WebP header
        images._check_webp_header(stream, max_pixels=1_000_000)

        # THEN the file is at its start again: whoever reads it next reads the whole file, not what is
        # after the header (Pillow's Image.open seeks to 0 itself; a decoder that does not would find
        # no image)
        assert stream.tell() == 0
        assert stream.read() == path.read_bytes()


# --- shapes that cost far more memory than their pixels --------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_given_an_image_one_pixel_wide_and_over_a_million_rows_when_loaded_then_it_is_refused_before_decoding(
    fmt,
):
    # Pillow keeps 8 bytes a row besides the pixels: 1 x 50,000,000 RGBA (a 243 kB PNG) peaked at 679 MB
    tall = _encode(Image.new("L", (1, 1_000_001)), fmt, compression="tiff_deflate" if fmt == "TIFF" else None)

    with pytest.raises(ImageTooLarge, match="1x1000001: more than 1,000,000 rows"):
        load_image(tall)
    assert load_image(_encode(Image.new("L", (1, 1_000_000)), "PNG"), size=224).mode == "RGB"


def _uncompressed_tiff_of_one_row_strips(rows: int) -> bytes:
    """A 1-pixel-wide greyscale TIFF, uncompressed, one strip a row (the strips share one byte)."""
    entries = [
        (256, 4, 1, 1),  # ImageWidth
        (257, 4, 1, rows),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # PhotometricInterpretation: black is zero
        (273, 4, rows, 0),  # StripOffsets, filled in below
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, 1),  # RowsPerStrip
        (279, 3, rows, 0),  # StripByteCounts, filled in below
    ]
    offsets_at = 8 + 2 + 12 * len(entries) + 4
    counts_at = offsets_at + 4 * rows
    pixel_at = counts_at + 2 * rows
    arrays = {273: offsets_at, 279: counts_at}
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, count, arrays.get(tag, value)) for tag, kind, count, value in entries
    )
    return (
        b"II*\x00"
        + struct.pack("<I", 8)
        + ifd
        + b"\x00" * 4
        + struct.pack(f"<{rows}I", *[pixel_at] * rows)
        + struct.pack(f"<{rows}H", *[1] * rows)
        + b"\x80"
    )


def test_given_an_uncompressed_tiff_of_many_one_row_strips_when_loaded_then_it_costs_what_its_pixels_do():
    # Pillow's own decoder made a Python tile per strip when the file was opened, before any check: 2.9 M
    # strips (a 20 MB file) took 1.1 GB and 33 s; here 200,000 strips took 70 MB of Python objects
    import tracemalloc

    data = _uncompressed_tiff_of_one_row_strips(200_000)
    tracemalloc.start()
    try:
        image = load_image(data, size=224)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert image.mode == "RGB" and np.asarray(image).mean() == 128
    assert peak < 10 * 1024 * 1024
