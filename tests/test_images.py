"""Opening a person's image: only six formats are decoded; big JPEGs decode at a reduced scale."""

import io

import numpy as np
import pytest
from PIL import EpsImagePlugin, IcoImagePlugin, Image, PpmImagePlugin

from mnistlab.prediction.images import FORMATS, ImageError, open_image
from mnistlab.prediction.preprocess import preprocess
from predict_helpers import draw_seven, encode

# A minimal EPS: Pillow parses its header without Ghostscript (only drawing it needs gs).
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n0 0 moveto 64 64 lineto stroke\n%%EOF\n"

REFUSED = {
    "ICO": (lambda: encode(draw_seven().resize((64, 64)), "ICO"), IcoImagePlugin.IcoImageFile),
    "PPM": (lambda: encode(draw_seven(), "PPM"), PpmImagePlugin.PpmImageFile),
    "EPS": (lambda: EPS, EpsImagePlugin.EpsImageFile),
}


@pytest.mark.parametrize("fmt", REFUSED)
def test_formats_outside_the_allowlist_are_refused_before_any_decoder_runs(fmt, monkeypatch):
    make, plugin = REFUSED[fmt]
    data = make()
    assert Image.open(io.BytesIO(data)).format == fmt  # Pillow on its own would take it
    calls = []
    monkeypatch.setattr(plugin, "_open", lambda self: calls.append(self))
    with pytest.raises(ImageError, match="not an image in an accepted format") as caught:
        preprocess(data)
    assert caught.value.reason == "unreadable"  # the server answers 415
    assert calls == [], f"the {fmt} plugin was asked to parse the upload"


def test_the_allowlist_is_the_six_web_and_scan_formats():
    assert set(FORMATS) == {"PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF"}


def test_big_jpeg_decodes_in_grayscale_at_a_reduced_scale():
    photo = draw_seven(size=(4000, 3000), box=(800, 500, 2600, 2600), width=90, mode="RGB")
    data = encode(photo, "JPEG", quality=90)
    full = open_image(data)
    assert full.size == (4000, 3000) and full.mode == "RGB"
    reduced = open_image(data, draft_side=1000)
    assert reduced.size == (1000, 750) and reduced.mode == "L"  # libjpeg's 1/4 scale
    assert open_image(encode(draw_seven(), "JPEG"), draft_side=1000).size == (600, 400)
    expected = np.asarray(full.convert("L").reduce(4), np.float32)
    assert np.abs(np.asarray(reduced, np.float32) - expected).mean() < 3  # the same picture
