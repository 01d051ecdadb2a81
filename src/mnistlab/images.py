"""Open a person's image safely: any format Pillow reads; bombs and broken files refused.

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


class ImageError(MnistlabError):
    """An image that cannot be used; `reason` lets the server choose an HTTP status."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # empty, unreadable, corrupt, too_large, too_small, no_ink


def open_image(
    source: ImageSource, max_pixels: int = MAX_PIXELS, min_side: int = MIN_SIDE
) -> Image.Image:
    """Decode a path, bytes, PIL image or array, refusing bombs and broken files clearly.

    The size is checked from the header (Pillow opens lazily), before any decoding.
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
            image = Image.open(fp)  # lazy: reads the header only
        except Image.DecompressionBombError:  # Pillow's own guard, far above ours
            limit = f"{max_pixels / 1e6:.0f} MP"
            raise ImageError(
                f"{name} is over the {limit} limit; scale it down first", "too_large"
            ) from None
        except UnidentifiedImageError:
            raise ImageError(
                f"{name} is not an image Pillow can read (PNG, JPEG, BMP, GIF, WebP, TIFF)",
                "unreadable",
            ) from None
        except OSError as e:
            raise MnistlabError(f"cannot read {name}: {e}") from None
        _check_size(image, name, max_pixels, min_side)
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
