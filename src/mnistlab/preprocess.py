"""Prepare a person's image the way MNIST (or Fashion-MNIST) images were prepared.

A model with 99% on MNIST misreads a digit drawn on white paper or exported from a
canvas because the image does not look like its training data: white ink on black,
the digit fitted into a 20x20 box and placed in 28x28 by its centre of mass. Every
step below undoes one such difference, and each can be switched off to see why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

from mnistlab.images import MAX_PIXELS, MIN_SIDE, ImageError, ImageSource, open_image

WORK_SIDE = 1024  # images are reduced to this before the numpy steps; 20 px is the goal
BLUR_PER_SIDE = 0.001  # Gaussian sigma per pixel of the longest side: evens out sensor noise
MIN_CONTRAST = 0.1  # ink must differ from the background by this much (of 1.0)
MNIST_STROKE = 0.135  # median stroke width / longest side of an MNIST digit (measured)
STROKE_SIDE = 200  # digits are resized to this to measure and change stroke width
MNIST_CENTRE = 14.0  # MNIST's mean centre of mass, in pixel indices (measured: 13.99, 14.00)


@dataclass(frozen=True)
class PreprocessOptions:
    """Which steps run; all are on by default. `kind` comes from the run's config."""

    kind: Literal["digits", "objects"] = "digits"
    exif_orientation: bool = True  # phones store rotation as a tag, not in the pixels
    flatten_alpha: bool = True  # canvas exports: opaque strokes on transparent pixels
    auto_invert: bool = True  # MNIST is light ink on black; paper is the opposite
    denoise: bool = True  # background to 0, ink to full strength, specks dropped
    crop: bool = True  # only the ink's bounding box is scaled
    normalize_stroke: bool = True  # thin pen or thick marker -> MNIST's stroke width
    center_of_mass: bool = True  # digits: centre of mass at (14, 14), as MNIST did
    max_pixels: int = MAX_PIXELS  # decompression-bomb guard, checked before decoding
    min_side: int = MIN_SIDE  # smaller images cannot hold a digit


def preprocess(source: ImageSource, options: PreprocessOptions | None = None) -> np.ndarray:
    """The 28x28 uint8 image (light ink on black) that the model will see."""
    options = options or PreprocessOptions()
    image = open_image(source, options.max_pixels, options.min_side)
    if options.exif_orientation:
        image = ImageOps.exif_transpose(image)
    gray, alpha = _gray_alpha(image)
    if alpha is not None and options.flatten_alpha:
        gray = _flatten(gray, alpha)
    ink = _ink(gray, options)
    if options.crop:
        ink = _crop(ink)
    if options.kind == "objects":
        return _to_uint8(_fit_objects(ink))
    if options.normalize_stroke:
        ink = _normalize_stroke(ink)
        ink = _crop(ink) if options.crop else ink
    return _to_uint8(_fit_digit(ink, options.center_of_mass))


def _gray_alpha(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Luminance and alpha in [0, 1] at working size (Pillow premultiplies when resizing)."""
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        a = np.asarray(image, dtype=np.float64)
        a = a / (65535.0 if a.max(initial=0) > 255 else 255.0) * 255
        image = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    image = image.convert("RGBA" if has_alpha else "L")
    if max(image.size) > WORK_SIDE:
        image.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    if not has_alpha:
        return np.asarray(image, dtype=np.float32) / 255, None
    rgba = np.asarray(image, dtype=np.float32) / 255
    gray = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return gray, rgba[..., 3]


def _flatten(gray: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite over a background chosen so that the ink stays ink.

    A canvas export is a few opaque strokes on transparent pixels whose colour is
    often black, so dropping alpha loses the drawing. When the opaque pixels are the
    minority they are the ink: composite over the opposite of their colour. When they
    are the majority, the transparent part is margin: extend their own colour.
    """
    opaque = alpha > 0.5
    if opaque.all():
        return gray
    if not opaque.any():
        raise ImageError("no ink found: the image is fully transparent", "no_ink")
    tone = float(np.median(gray[opaque]))
    contrast = 1.0 if tone < 0.5 else 0.0
    background = contrast if opaque.mean() < 0.5 else tone
    return gray * alpha + background * (1 - alpha)


def _border(a: np.ndarray) -> np.ndarray:
    k = max(1, round(min(a.shape) * 0.02))
    return np.concatenate([a[:k].ravel(), a[-k:].ravel(), a[:, :k].ravel(), a[:, -k:].ravel()])


def _ink(gray: np.ndarray, options: PreprocessOptions) -> np.ndarray:
    """Ink strength in [0, 1] on a 0 background: polarity, lighting and noise handled."""
    sigma = max(gray.shape) * BLUR_PER_SIDE  # ~1 px on big photos; none on small images
    smooth = ndimage.gaussian_filter(gray, sigma) if sigma >= 0.5 else gray
    # A digit's paper is most of the image (its border may be the table under a photographed
    # page); an object fills most of its picture, whose border is the background.
    background = float(np.median(smooth if options.kind == "digits" else _border(smooth)))
    lo, hi = float(smooth.min()), float(smooth.max())
    if hi - lo < MIN_CONTRAST:
        raise ImageError("no ink found: the image is blank (draw or upload a digit)", "no_ink")
    if options.auto_invert and background - lo > hi - background:  # ink darker than paper
        smooth, background = 1 - smooth, 1 - background
    smooth = smooth - (_lighting(smooth) if options.denoise else background)
    peak = float(smooth.max())
    if peak < MIN_CONTRAST:
        raise ImageError("no ink found: the image is blank (draw or upload a digit)", "no_ink")
    ink = np.clip(smooth / peak, 0, 1)
    if options.denoise:
        ink = _denoise(ink, options.kind)
    if not (ink > 0).any():
        raise ImageError("no ink found: nothing stands out from the background", "no_ink")
    return ink


def _lighting(a: np.ndarray) -> np.ndarray:
    """The background's brightness as a smooth surface, so uneven light is not ink.

    A quadratic surface is fitted to a 64 px copy, refitted without the pixels that
    stand above it (the ink) until only paper is left; photos' gradients and
    vignetting are that smooth, strokes are not.
    """
    small = _resize(a, min(1.0, 64 / max(a.shape)))
    design = np.stack([np.broadcast_to(t, small.shape).ravel() for t in _quadratic(*small.shape)])
    design = design.T
    values = small.ravel()
    paper = values < _otsu(values)  # a first guess; ink is far from paper, light is not
    for _ in range(5):
        if paper.sum() < 2 * design.shape[1]:
            return np.full(a.shape, np.median(values), np.float32)
        d = design[paper]
        coef = np.linalg.solve(d.T @ d + 1e-9 * np.eye(d.shape[1]), d.T @ values[paper])
        residual = values - design @ coef
        spread = 1.4826 * float(np.median(np.abs(residual[paper])))
        paper = residual < max(2.5 * spread, 0.02)
    surface = sum(c * t for c, t in zip(coef, _quadratic(*a.shape), strict=True))
    return np.broadcast_to(surface, a.shape).astype(np.float32)


def _quadratic(h: int, w: int) -> list[np.ndarray]:
    """1, x, y, x², xy, y² over an h x w grid spanning [-1, 1], broadcast lazily."""
    y, x = np.linspace(-1, 1, h)[:, None], np.linspace(-1, 1, w)[None, :]
    return [np.ones((1, 1)), x, y, x * x, x * y, y * y]


def _denoise(ink: np.ndarray, kind: str) -> np.ndarray:
    """Zero the background, stretch digits' ink to full strength, drop small specks."""
    threshold = _otsu(ink)
    if kind == "digits":
        level = float(np.median(ink[ink > threshold]))
        floor = threshold * 0.5
        ink = np.clip((ink - floor) / max(level - floor, 1e-6), 0, 1)
    else:
        ink = np.where(ink > threshold * 0.25, ink, 0)
    reach = max(1, round(max(ink.shape) / 200))  # pieces this close belong together
    near = ndimage.binary_dilation(ink > 0, iterations=reach)
    labels, n = ndimage.label(near, structure=np.ones((3, 3)))
    if n < 2:
        return ink
    mass = ndimage.sum_labels(ink, labels, index=np.arange(1, n + 1))
    clutter = _clutter(labels, n)
    if mass[~clutter].sum() >= 0.002 * mass[clutter].sum():  # a drawing besides the clutter
        mass = np.where(clutter, 0, mass)
    keep = mass >= 0.02 * mass.sum()
    return np.where(np.concatenate([[False], keep])[labels], ink, 0)


def _clutter(labels: np.ndarray, n: int) -> np.ndarray:
    """Components that are the scene rather than the drawing: the table around a photographed
    page, a paper edge, a shadow. They run along the border; a digit that merely touches
    the edge (a stroke's width of contact) does not."""
    h, w = labels.shape
    contact = [np.bincount(edge, minlength=n + 1)[1:] for edge in
               (labels[0], labels[-1], labels[:, 0], labels[:, -1])]  # fmt: skip
    top, bottom, left, right = contact
    return (top > w / 4) | (bottom > w / 4) | (left > h / 4) | (right > h / 4)


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold of values in [0, 1]: the split that best separates two classes."""
    hist, edges = np.histogram(values, bins=256, range=(0, 1))
    p = hist / hist.sum()
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (m0[-1] * w0 - m0) ** 2 / (w0 * (1 - w0))
    return float(centres[np.nanargmax(between)])


def _crop(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _normalize_stroke(ink: np.ndarray) -> np.ndarray:
    """Grow thin strokes or thin thick ones to MNIST's stroke width for this digit size.

    Widths come from the distance transform (a stroke of width w has mean inner
    distance w/4), measured at 200 px, the size the MNIST figure was measured at.
    Growing and thinning are distance thresholds, so they cost O(N). Strokes already
    within MNIST's usual range are left alone.
    """
    work = _resize(ink, STROKE_SIDE / max(ink.shape))
    mask = work > 0.5
    if not mask.any():
        return ink
    inside = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    width = 4 * float(inside[mask].mean())
    target = MNIST_STROKE * max(work.shape)
    if width < 0.75 * target:
        radius = (target - width) / (2 * (1 - MNIST_STROKE))  # the box grows too
        pad = int(np.ceil(radius)) + 1
        work, mask = np.pad(work, pad), np.pad(mask, pad)
        outside = ndimage.distance_transform_edt(~mask)
        return np.maximum(work, np.clip(radius + 0.5 - outside, 0, 1))
    if width > 1.5 * target:
        thinned = np.minimum(work, np.clip(inside - (width - target) / 2 + 0.5, 0, 1))
        return thinned if (thinned > 0).any() else ink
    return ink


def _resize(a: np.ndarray, factor: float) -> np.ndarray:
    size = (max(1, round(a.shape[1] * factor)), max(1, round(a.shape[0] * factor)))
    out = Image.fromarray(a.astype(np.float32)).resize(size, _filter(factor))
    return np.clip(np.asarray(out), 0, 1)


def _filter(factor: float) -> Image.Resampling:
    """Area averaging to shrink (antialiased, no ringing halo around the strokes), bilinear
    to enlarge."""
    return Image.Resampling.BOX if factor <= 1 else Image.Resampling.BILINEAR


def _fit_digit(ink: np.ndarray, center_of_mass: bool) -> np.ndarray:
    """Longest side to 20 px (antialiased), centre of mass (or box centre) at MNIST's centre.

    One resampling does both: the output's 28x28 grid is laid over the input so that
    its centre falls on the ink's centre of mass, and Pillow averages what each output
    pixel covers.
    """
    if max(ink.shape) > STROKE_SIDE:  # 10x the output is plenty to average from
        ink = _resize(ink, STROKE_SIDE / max(ink.shape))
    h, w = ink.shape
    scale = 20 / max(h, w)  # output pixels per input pixel
    if center_of_mass:
        cy, cx = ndimage.center_of_mass(ink)
        cy, cx = cy + 0.5, cx + 0.5  # pixel indices -> continuous coordinates
    else:
        cy, cx = h / 2, w / 2
    target = MNIST_CENTRE + 0.5
    pad = int(np.ceil(target / scale)) + 1  # the 28x28 window reaches past the ink
    box = tuple(
        float(v) + pad
        for v in (
            cx - target / scale,
            cy - target / scale,
            cx + (28 - target) / scale,
            cy + (28 - target) / scale,
        )
    )
    canvas = Image.fromarray(np.pad(ink, pad).astype(np.float32))
    out = np.clip(np.asarray(canvas.resize((28, 28), _filter(scale), box=box)), 0, 1)
    return out / max(float(out.max()), 1e-6)  # MNIST digits all reach full white


def _fit_objects(ink: np.ndarray) -> np.ndarray:
    """Fashion-MNIST: longest side to 28 px, centred by the bounding box, no stretch."""
    h, w = ink.shape
    scale = 28 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = Image.fromarray(ink.astype(np.float32)).resize(size, _filter(scale))
    small = np.clip(np.asarray(small), 0, 1)
    out = np.zeros((28, 28), np.float32)
    top, left = (28 - size[1]) // 2, (28 - size[0]) // 2
    out[top : top + size[1], left : left + size[0]] = small
    return out


def _to_uint8(a: np.ndarray) -> np.ndarray:
    return np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8)
