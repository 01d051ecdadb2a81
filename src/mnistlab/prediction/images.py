"""Open a person's image safely: six common formats only; bombs and broken files refused.

Every refusal is an ImageError whose one-line message names the file and says what to
do, and whose `reason` lets the server pick an HTTP status.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mnistlab.errors import MnistlabError

ImageSource = str | os.PathLike | bytes | Image.Image | np.ndarray

MAX_PIXELS = 40_000_000  # decompression-bomb guard: a 40 MP photo is already generous
MIN_SIDE = 8  # smaller images cannot hold a digit
# The only decoders Pillow may run (its security handbook says to allowlist): an EPS would
# otherwise go through Ghostscript, a PSD or ICO through decoders nobody here needs.
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
ACCEPTED = "PNG, JPEG, BMP, GIF, WebP or TIFF"


class ImageError(MnistlabError):
    """An image that cannot be used; `reason` lets the server choose an HTTP status."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # empty, unreadable, corrupt, too_large, too_small, no_ink


def open_image(
    source: ImageSource,
    max_pixels: int = MAX_PIXELS,
    min_side: int = MIN_SIDE,
    draft_side: int | None = None,
) -> Image.Image:
    """Decode a path, bytes, PIL image or array, refusing bombs and broken files clearly.

    The format and size are checked from the header (Pillow opens lazily), before any
    decoding. `draft_side`: a JPEG is decoded in grayscale at the smallest 1/2, 1/4 or 1/8
    scale whose longest side stays at least this (libjpeg scales while it decodes, so a
    12 MP photo costs a fraction of its full decode); other formats are unaffected.
    """
    if isinstance(source, Image.Image | np.ndarray):
        image = source if isinstance(source, Image.Image) else _from_array(source)
        _check_size(image, "the image", max_pixels, min_side)
        return image
    if isinstance(source, bytes | bytearray):
        name, fp = "upload", io.BytesIO(source)
        if not source:
            raise ImageError("the uploaded file is empty (0 bytes)", "empty")
    else:
        name, fp = str(source), Path(source)
        try:
            if fp.stat().st_size == 0:
                raise ImageError(f"{name} is empty (0 bytes)", "empty")
        except OSError as e:
            raise MnistlabError(f"cannot read {name}: {e.strerror}") from None
        if fp.is_dir():
            raise MnistlabError(f"{name} is a folder, not an image")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(fp, formats=FORMATS)  # lazy: reads the header only
        except Image.DecompressionBombError:  # Pillow's own guard, far above ours
            limit = f"{max_pixels / 1e6:.0f} MP"
            raise ImageError(
                f"{name} is over the {limit} limit; scale it down first", "too_large"
            ) from None
        except UnidentifiedImageError:
            raise ImageError(
                f"{name} is not an image in an accepted format ({ACCEPTED})", "unreadable"
            ) from None
        except OSError as e:
            raise MnistlabError(f"cannot read {name}: {e}") from None
        _check_size(image, name, max_pixels, min_side)
        if draft_side and image.format in ("JPEG", "MPO"):  # MPO: a phone's JPEG with extras
            w, h = image.size
            image.draft("L", (-(-w * draft_side // max(w, h)), -(-h * draft_side // max(w, h))))
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise ImageError(f"{name} is truncated or corrupt ({e})", "corrupt") from None
    return image


def _check_size(image: Image.Image, name: str, max_pixels: int, min_side: int) -> None:
    w, h = image.size
    if w * h > max_pixels:
        raise ImageError(
            f"{name} is {w}x{h} pixels, over the {max_pixels / 1e6:.0f} MP limit; "
            "scale it down first",
            "too_large",
        )
    if min(w, h) < min_side:
        raise ImageError(
            f"{name} is {w}x{h} pixels, too small to hold a digit "
            f"(need at least {min_side} px a side)",
            "too_small",
        )


def gray_image(image: Image.Image) -> Image.Image:
    """Luminance, with alpha (mode LA) where the image has any transparency; 16-bit and
    float images are scaled to 8 bits. Pillow premultiplies LA when resizing it."""
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        a = np.asarray(image, dtype=np.float64)
        a = a / (65535.0 if a.max(initial=0) > 255 else 255.0) * 255
        image = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    if "A" in image.getbands() or "transparency" in image.info:
        return image.convert("LA") if image.mode in ("LA", "RGBA") else image.convert(
            "RGBA").convert("LA")  # fmt: skip
    return image if image.mode == "L" else image.convert("L")


def _from_array(array: np.ndarray) -> Image.Image:
    """Arrays are images as a camera or canvas gives them: (H,W), (H,W,3) or (H,W,4)."""
    a = np.asarray(array)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise MnistlabError(f"an image array must be (H,W), (H,W,3) or (H,W,4), not {a.shape}")
    if a.dtype != np.uint8:
        a = a.astype(np.float64)
        a = np.clip(a * 255 if a.max(initial=0) <= 1 else a, 0, 255).round().astype(np.uint8)
    return Image.fromarray(a)


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 grayscale array as PNG file bytes (lossless, so what was seen is what is saved)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()
