"""Preprocessing on images built here the way people make them; bad files refused clearly."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from mnistlab.prediction.framing import distances
from mnistlab.prediction.preprocess import ImageError, PreprocessOptions, preprocess
from predict_helpers import (
    canvas_export,
    centre_of_mass,
    draw_seven,
    encode,
    ink_box,
    png_header_only,
)


def assert_mnist_like(x: np.ndarray) -> None:
    """White ink on black, longest side 20 px (±1), centre of mass within 1 px of (14, 14)."""
    assert x.shape == (28, 28) and x.dtype == np.uint8
    assert x.max() == 255
    corners = [x[:3, :3], x[:3, -3:], x[-3:, :3], x[-3:, -3:]]
    assert max(c.max() for c in corners) == 0 and np.median(x) == 0, "the background is black"
    assert (x > 127).mean() < 0.35, "ink, not background, must be the bright part"
    assert 19 <= max(ink_box(x)) <= 21
    cy, cx = centre_of_mass(x)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1


def seven_shape(x: np.ndarray) -> None:
    """A "7" upright: its bar is at the top, so the top rows hold the widest ink."""
    rows = np.flatnonzero(x.any(1))
    top, bottom = x[rows[0] : rows[0] + 4], x[rows[-1] - 3 : rows[-1] + 1]
    assert (top > 127).sum() > 2 * (bottom > 127).sum()


IMAGES = {
    "dark on light, off-centre": lambda: draw_seven(),
    "light on dark": lambda: draw_seven(ink=240, paper=10),
    "blue pen on cream paper": lambda: draw_seven(
        ink=(30, 40, 120), paper=(250, 246, 232), mode="RGB"
    ),
    "canvas export, transparent": canvas_export,
    "canvas export, white strokes on transparent": lambda: canvas_export((255, 255, 255)),
    "thin pen": lambda: draw_seven(width=4),
    "thick marker": lambda: draw_seven(width=70),
    "small in a big page": lambda: draw_seven((2000, 1500), (1500, 200, 1560, 290), width=6),
}


@pytest.mark.parametrize("name", IMAGES)
def test_synthetic_digit_comes_out_like_mnist(name):
    image = IMAGES[name]()
    x = preprocess(encode(image))
    assert_mnist_like(x)
    seven_shape(x)


def test_photo_with_uneven_light_noise_blur_and_jpeg():
    paper = draw_seven(size=(1600, 1200), box=(300, 200, 800, 900), width=30, ink=60, paper=0)
    ink = np.asarray(paper, np.float32) / 60  # 1 on the strokes
    ramp = np.linspace(140, 220, 1600)[None, :] + np.linspace(-20, 20, 1200)[:, None]
    gray = ramp * (1 - ink) + 50 * ink + np.random.default_rng(0).normal(0, 6, ink.shape)
    photo = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(2)
    )
    x = preprocess(encode(photo, "JPEG", quality=70))
    assert_mnist_like(x)
    seven_shape(x)


TURNS = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270, 3: Image.Transpose.ROTATE_180}


@pytest.mark.parametrize("orientation", TURNS)
def test_exif_orientation_is_honoured(orientation):
    upright = draw_seven(mode="RGB", ink=(20, 20, 20), paper=(235, 235, 235))
    exif = Image.Exif()
    exif[0x0112] = orientation  # what a phone stores instead of turning the pixels
    turned = encode(upright.transpose(TURNS[orientation]), "JPEG", quality=95, exif=exif)
    x = preprocess(turned)
    assert_mnist_like(x)
    seven_shape(x)
    reference = preprocess(encode(upright, "JPEG", quality=95))
    assert np.abs(x.astype(int) - reference).mean() < 8
    ignored = preprocess(turned, PreprocessOptions(exif_orientation=False))
    assert np.abs(ignored.astype(int) - reference).mean() > 20


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF"])
def test_every_format_pillow_reads(fmt, tmp_path):
    path = tmp_path / f"seven.{fmt.lower()}"
    draw_seven().save(path, format=fmt)
    assert_mnist_like(preprocess(path))


def test_sixteen_bit_and_palette_with_transparency():
    sixteen = np.asarray(draw_seven(), np.uint16) * 257
    assert_mnist_like(preprocess(encode(Image.fromarray(sixteen))))
    palette = canvas_export().convert("P")  # GIF-style palette image with a transparent index
    assert_mnist_like(preprocess(encode(palette, "GIF", transparency=0)))


def test_arrays_and_pil_images_match_files():
    image = draw_seven()
    from_file = preprocess(encode(image))
    assert np.array_equal(preprocess(image), from_file)
    assert np.array_equal(preprocess(np.asarray(image)), from_file)
    float_array = np.asarray(image, np.float32) / 255
    assert np.abs(preprocess(float_array).astype(int) - from_file).max() <= 2


def test_mnist_rows_pass_nearly_unchanged():
    from mnistlab.data import load_dataset

    rows = load_dataset("mnist", "test").images[:50]
    out = np.stack([preprocess(r) for r in rows])
    assert np.abs(out.astype(int) - rows).mean() < 15  # of 255: resampling, not a new image


def test_options_switch_steps_off():
    image = encode(draw_seven())
    dark_board = encode(draw_seven(ink=240, paper=10))
    keep = PreprocessOptions(auto_invert=False)
    assert np.array_equal(preprocess(dark_board, keep), preprocess(dark_board))
    with pytest.raises(ImageError, match="no ink found"):  # dark ink is not brighter than paper
        preprocess(image, PreprocessOptions(auto_invert=False, denoise=False))
    no_crop = preprocess(image, PreprocessOptions(crop=False))
    assert max(ink_box(no_crop)) < 17  # the whole page was fitted, not the digit
    by_box = preprocess(image, PreprocessOptions(center_of_mass=False))
    h, w = ink_box(by_box)
    rows, cols = np.flatnonzero(by_box.any(1)), np.flatnonzero(by_box.any(0))
    assert abs((rows[0] + rows[-1]) / 2 - 14) <= 1 and abs((cols[0] + cols[-1]) / 2 - 14) <= 1


def test_objects_fill_the_frame_without_centre_of_mass():
    shirt = Image.new("L", (300, 400), 250)
    shirt.paste(60, (40, 60, 260, 380))  # a dark item on a light background
    x = preprocess(encode(shirt), PreprocessOptions(preprocessing="objects"))
    assert max(ink_box(x)) >= 27 and x[0, 0] == 0 and x[14, 14] > 200


BAD = {
    "empty": (b"", "empty"),
    "not an image": (b"hello, this is text\n" * 10, "unreadable"),
    "truncated": (encode(draw_seven())[:1500], "corrupt"),
    "1x1": (encode(Image.new("L", (1, 1), 0)), "too_small"),
    "20000x20000": (png_header_only(20000, 20000), "too_large"),
    "blank white": (encode(Image.new("L", (300, 300), 255)), "no_ink"),
    "blank canvas": (encode(Image.new("RGBA", (300, 300), (0, 0, 0, 0))), "no_ink"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_images_are_refused_with_a_reason(name):
    data, reason = BAD[name]
    with pytest.raises(ImageError) as caught:
        preprocess(data)
    assert caught.value.reason == reason
    assert "\n" not in str(caught.value)


def test_bad_files_name_the_file(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty.png is empty"):
        preprocess(empty)
    with pytest.raises(ImageError, match=r"too small to hold a digit"):
        preprocess(Image.new("L", (1, 1)))
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_header_only(20000, 20000))
    with pytest.raises(ImageError, match=r"huge.png is over the 40 MP limit"):
        preprocess(huge)
    big = tmp_path / "big.png"
    big.write_bytes(png_header_only(8000, 8000))
    with pytest.raises(ImageError, match=r"big.png is 8000x8000 pixels, over the 40 MP limit"):
        preprocess(big)


def test_blank_paper_photo_is_no_ink():
    rng = np.random.default_rng(1)
    ramp = np.linspace(150, 210, 1200)[None, :] + np.zeros((900, 1))
    paper = Image.fromarray(np.clip(ramp + rng.normal(0, 5, ramp.shape), 0, 255).astype(np.uint8))
    with pytest.raises(ImageError, match="no ink found"):
        preprocess(encode(paper, "JPEG", quality=80))


def test_photo_of_a_page_on_a_dark_table_keeps_only_the_digit():
    page = draw_seven(size=(1600, 1200), box=(600, 350, 900, 800), width=22, ink=40, paper=215)
    photo = Image.new("L", (1600, 1200), 50)  # the table, darker than the page
    photo.paste(page.crop((0, 0, 1300, 1000)), (180, 120))
    x = preprocess(encode(photo, "JPEG", quality=85))
    assert_mnist_like(x)
    seven_shape(x)


def test_a_stroke_running_off_the_edge_is_kept():
    drawing = Image.new("L", (400, 400), 255)
    ImageDraw.Draw(drawing).line([(200, 0), (190, 399)], fill=0, width=30)  # a "1", edge to edge
    x = preprocess(encode(drawing))
    assert_mnist_like(x)
    assert ink_box(x)[0] >= 19 and ink_box(x)[1] <= 8


def test_distances_are_scipys_exact_euclidean_distance_transform():
    rng = np.random.default_rng(0)
    for shape, share in [((202, 134), 0.9), ((50, 300), 0.5), ((7, 7), 0.97)]:
        mask = rng.random(shape) < share
        mask[0, 0] = False  # at least one background pixel
        np.testing.assert_allclose(
            distances(mask), ndimage.distance_transform_edt(mask), rtol=0, atol=1e-5
        )
