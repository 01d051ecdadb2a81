"""Shared by the prediction tests: one small real run, and images built the way people make them."""

from __future__ import annotations

import functools
import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REJECT_OUTLIERS = 2000


@functools.cache
def trained_run() -> Path:
    """A CNN trained on 12,000 MNIST images for 2 epochs (~96% test accuracy, 8-25 s), once
    per test session: enough for round trips and drawn digits to mean something. Its reject
    rule learns from REJECT_OUTLIERS made-up non-digits (not 3,000: a few seconds, and fewer
    to draw on a fresh machine). The pytest workers of one session share it (the first trains
    it under a lock, the others wait)."""
    from filelock import FileLock

    from mnistlab.training.run import TrainConfig, train

    session = os.environ.get("PYTEST_XDIST_TESTRUNUID", f"pid-{os.getpid()}")
    out = Path(tempfile.gettempdir()) / f"mnistlab-predict-{session}" / "run"
    out.parent.mkdir(exist_ok=True)
    with FileLock(out.parent / "lock"):
        if not (out / "metrics.json").exists():
            config = TrainConfig(
                dataset="mnist", model="cnn", epochs=2, train_limit=12000, val_size=0,
                lr=3e-3, batch_size=64, out=str(out), reject_outliers=REJECT_OUTLIERS,
            )  # fmt: skip
            train(config)
    return out


def draw_seven(size=(600, 400), box=(60, 40, 260, 340), width=24, ink=20, paper=235, mode="L"):
    """A large "7" drawn with lines, off-centre (in `box`), dark on light by default."""
    image = Image.new(mode, size, paper)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box
    points = [(left, top), (right, top), (left + (right - left) * 0.35, bottom)]
    draw.line(points, fill=ink, width=width, joint="curve")
    return image


def canvas_export(strokes_rgb=(17, 17, 17), size=400) -> Image.Image:
    """What a browser canvas gives: opaque strokes on transparent black pixels."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.line([(150, 80), (260, 80), (190, 330)], fill=(*strokes_rgb, 255), width=28)
    return image


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but holds one pixel's data: decoding it
    would fail as truncated, so refusing it for its size proves no decoding happened."""
    import struct
    import zlib

    data = bytearray(encode(Image.new("L", (1, 1))))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def ink_box(image: np.ndarray) -> tuple[int, int]:
    """Height and width of the bounding box of the non-zero pixels."""
    rows, cols = np.flatnonzero(image.any(1)), np.flatnonzero(image.any(0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    ys, xs = np.mgrid[0:28, 0:28]
    mass = image.astype(np.float64)
    return float((ys * mass).sum() / mass.sum()), float((xs * mass).sum() / mass.sum())
