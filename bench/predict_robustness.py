"""How well does preprocessing hold up on images made the way people make them?

MNIST test digits are redrawn large in the styles a new user brings: canvas exports
(transparent or white), thin pen scans, thick marker, phone photos (grey paper, uneven
light, noise, blur, JPEG, slight rotation), small digits in a big page, light ink on
a dark board, photos with an EXIF rotation tag, and tiny images. Each image goes
through the real file path (encode, decode, preprocess, predict); the accuracy per
style is compared with the same model on the raw 28x28 test arrays.

    .venv/bin/python bench/predict_robustness.py --run RUN_DIR [--n 300] [--json]

No targets. Each invocation appends a record to bench/results/predict_robustness.jsonl; the
figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from mnistlab.data import load_dataset

sys.path.insert(0, os.path.dirname(__file__))
import machine  # noqa: E402  (bench/ is a folder of scripts, not a package)
import records  # noqa: E402

Style = Callable[[np.ndarray, np.random.Generator], bytes]


def strokes(digit: np.ndarray, height: int, width_ratio: float) -> np.ndarray:
    """A pen drawing of an MNIST digit, `height` px tall: its centre line drawn with a round
    pen of width `width_ratio * height`, as a real pen or marker would."""
    size = round(28 * height / 20)
    big = np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC))
    pen = ndimage.distance_transform_edt(~skeleton(big > 100)) <= width_ratio * height / 2
    return ndimage.gaussian_filter(pen.astype(np.float32), 0.7)  # antialiased edges


def skeleton(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning: the one-pixel-wide, connected centre line of a binary shape."""
    img = np.pad(mask.astype(np.uint8), 1)
    around = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            p = [np.roll(img, (-dy, -dx), (0, 1)) for dy, dx in around]
            count = sum(p)
            turns = sum((p[i] == 0) & (p[(i + 1) % 8] == 1) for i in range(8))
            first, second = (p[0] * p[2] * p[4], p[2] * p[4] * p[6]) if step == 0 else (
                p[0] * p[2] * p[6], p[0] * p[4] * p[6])  # fmt: skip
            remove = (img == 1) & (count >= 2) & (count <= 6) & (turns == 1)
            remove &= (first == 0) & (second == 0)
            if remove.any():
                img[remove] = 0
                changed = True
    return img[1:-1, 1:-1].astype(bool)


def place(ink: np.ndarray, canvas: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Put the ink at a random position on a canvas of (height, width)."""
    out = np.zeros(canvas, np.float32)
    h, w = ink.shape
    top = rng.integers(0, max(1, canvas[0] - h))
    left = rng.integers(0, max(1, canvas[1] - w))
    region = out[top : top + h, left : left + w]
    region[...] = ink[: region.shape[0], : region.shape[1]]
    return out


def drawn(digit, rng, heights, widths, canvas) -> np.ndarray:
    """A random-sized, random-width drawing of `digit` somewhere on a canvas (h, w)."""
    ink = strokes(digit, int(rng.integers(*heights)), rng.uniform(*widths))
    return place(ink, canvas, rng)


def encode(array: np.ndarray, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def canvas_transparent(digit, rng):
    ink = drawn(digit, rng, (160, 320), (0.08, 0.2), (400, 400))
    rgba = np.zeros((400, 400, 4), np.uint8)  # transparent black, as canvas.toBlob gives
    rgba[..., 3] = (ink * 255).astype(np.uint8)
    return encode(rgba, "PNG")


def canvas_white(digit, rng):
    ink = drawn(digit, rng, (160, 320), (0.08, 0.2), (400, 400))
    return encode((255 - ink * 230).astype(np.uint8), "PNG")


def thin_pen_scan(digit, rng):
    ink = drawn(digit, rng, (150, 500), (0.025, 0.06), (800, 1000))
    paper = np.array([250, 248, 240], np.float32)
    pen = np.array([30, 40, 120], np.float32)
    rgb = paper * (1 - ink[..., None]) + pen * ink[..., None]
    return encode(rgb.astype(np.uint8), "JPEG", quality=90)


def thick_marker(digit, rng):
    ink = drawn(digit, rng, (200, 400), (0.2, 0.3), (500, 500))
    return encode((255 - ink * 240).astype(np.uint8), "PNG")


def photo(digit, rng, exif: bool = False):
    h, w = 1200, 1600
    ink = drawn(digit, rng, (250, 600), (0.04, 0.12), (h, w))
    ink = ndimage.rotate(ink, rng.uniform(-8, 8), reshape=False, order=1)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h) * rng.uniform(20, 60)
    paper = rng.uniform(150, 220) + ramp
    gray = paper * (1 - ink) + rng.uniform(20, 80) * ink
    gray += rng.normal(0, rng.uniform(3, 8), gray.shape)
    image = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(1, 2.5))).convert("RGB")
    quality = int(rng.integers(60, 86))
    if not exif:
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=quality)
        return buf.getvalue()
    orientation = int(rng.choice([6, 8]))  # the camera stored it turned; the tag undoes it
    turn = Image.Transpose.ROTATE_90 if orientation == 6 else Image.Transpose.ROTATE_270
    turned = image.transpose(turn)
    exif_data = Image.Exif()
    exif_data[0x0112] = orientation
    buf = io.BytesIO()
    turned.save(buf, "JPEG", quality=quality, exif=exif_data)
    return buf.getvalue()


def page_on_table(digit, rng):
    """A phone photo of a sheet that does not fill the frame: a dark table shows around it."""
    h, w = 1200, 1600
    ink = drawn(digit, rng, (200, 450), (0.05, 0.12), (h // 2, w // 2))
    sheet = np.zeros((h, w), np.float32)
    top, left = rng.integers(60, 200), rng.integers(60, 260)
    sheet[top : top + int(h * 0.8), left : left + int(w * 0.75)] = 1
    sheet = ndimage.rotate(sheet, rng.uniform(-6, 6), reshape=False, order=1)
    strokes_at = np.zeros((h, w), np.float32)
    strokes_at[top + 100 : top + 100 + h // 2, left + 150 : left + 150 + w // 2] = ink
    table = rng.uniform(30, 90) + rng.normal(0, 10, (h, w))
    paper = rng.uniform(170, 230) + np.linspace(-20, 20, w)[None, :]
    gray = table * (1 - sheet) + paper * sheet
    gray = gray * (1 - strokes_at) + rng.uniform(20, 70) * strokes_at + rng.normal(0, 4, (h, w))
    image = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).filter(ImageFilter.BLUR)
    return encode(np.asarray(image.convert("RGB")), "JPEG", quality=80)


def lined_paper(digit, rng):
    """A digit written across a notebook's blue rules."""
    ink = drawn(digit, rng, (200, 400), (0.04, 0.1), (700, 900))
    rgb = np.empty((700, 900, 3), np.float32)
    rgb[:] = (250, 250, 245)
    rgb[int(rng.integers(10, 40)) :: 40] = (170, 200, 235)  # one rule every 40 px
    pen = np.array([20, 30, 90], np.float32)
    rgb = rgb * (1 - ink[..., None]) + pen * ink[..., None]
    return encode(rgb.astype(np.uint8), "JPEG", quality=85)


def photo_exif(digit, rng):
    return photo(digit, rng, exif=True)


def small_in_page(digit, rng):
    ink = drawn(digit, rng, (40, 90), (0.06, 0.15), (800, 600))
    return encode((250 - ink * 220).astype(np.uint8), "WEBP", quality=90)


def chalkboard(digit, rng):
    ink = drawn(digit, rng, (200, 400), (0.06, 0.15), (480, 640))
    board = 40 + rng.normal(0, 6, ink.shape)
    return encode(np.clip(board + ink * 180, 0, 255).astype(np.uint8), "BMP")


def tiny_inverted(digit, rng):
    image = Image.fromarray(255 - digit).resize((32, 32), Image.Resampling.BILINEAR)
    return encode(np.asarray(image), "GIF")


STYLES: dict[str, Style] = {
    "canvas, transparent PNG": canvas_transparent,
    "canvas, white PNG": canvas_white,
    "thin pen scan, JPEG": thin_pen_scan,
    "thick marker, PNG": thick_marker,
    "phone photo, JPEG": photo,
    "photo + EXIF rotation": photo_exif,
    "page on a dark table, JPEG": page_on_table,
    "lined notebook paper, JPEG": lined_paper,
    "small digit in a page, WebP": small_in_page,
    "chalk on dark board, BMP": chalkboard,
    "tiny 32x32 inverted, GIF": tiny_inverted,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a trained MNIST run folder")
    parser.add_argument("--n", type=int, default=300, help="test digits per style")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = records.parse(parser)

    from mnistlab.prediction.classifier import Classifier

    classifier = Classifier.load(args.run)
    test = load_dataset("mnist", "test")
    pick = np.random.default_rng(args.seed).choice(len(test), args.n, replace=False)
    digits, labels = test.images[pick], test.labels[pick]
    raw = [p.label for p in classifier.predict(digits, preprocessed=True)]
    info = machine.machine()
    document = {"machine": info, "run": args.run, "n": args.n,
                "raw_accuracy": float(np.mean(np.array(raw) == labels)), "results": []}  # fmt: skip
    if not args.json:
        print(machine.line(info))
        print(f"{'raw 28x28 test arrays':32s} {document['raw_accuracy']:7.1%}")
    for name, style in STYLES.items():
        rng = np.random.default_rng(args.seed)
        start = time.perf_counter()
        files = [style(d, rng) for d in digits]
        made = time.perf_counter() - start
        start = time.perf_counter()
        got = [p.label for p in classifier.predict(files)]
        took = (time.perf_counter() - start) / len(files) * 1000
        acc = float(np.mean(np.array(got) == labels))
        document["results"].append({"style": name, "accuracy": acc, "ms_per_image": took,
                                    "made_seconds": made})  # fmt: skip
        if not args.json:
            print(f"{name:32s} {acc:7.1%}   ({took:.0f} ms/image, made in {made:.0f} s)")
    if args.json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    return records.finish(__file__, args, document, info)


if __name__ == "__main__":
    sys.exit(main())
