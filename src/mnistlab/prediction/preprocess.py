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

from mnistlab.prediction.framing import (
    crop,
    fit_digit,
    fit_objects,
    normalize_stroke,
    resize,
    to_uint8,
)
from mnistlab.prediction.images import (
    MAX_PIXELS,
    MIN_SIDE,
    ImageError,
    ImageSource,
    gray_image,
    open_image,
)

WORK_SIDE = 1000  # the finest resolution any step sees: a JPEG is decoded down to about this
ANALYSIS_SIDE = 256  # the whole image is cleaned up at 129-256 px to find the ink
DETAIL_SIDE = 400  # the digit's own region is then redone from the fine copy at up to this
BLUR_PER_SIDE = 0.001  # Gaussian sigma per pixel of the longest side: evens out sensor noise
MIN_CONTRAST = 0.1  # ink must differ from the background by this much (of 1.0)


@dataclass(frozen=True)
class PreprocessOptions:
    """Which steps run; all are on by default. `preprocessing` comes from the run's config."""

    preprocessing: Literal["digits", "objects"] = "digits"
    exif_orientation: bool = True  # phones store rotation as a tag, not in the pixels
    flatten_alpha: bool = True  # canvas exports: opaque strokes on transparent pixels
    auto_invert: bool = True  # MNIST is light ink on black; paper is the opposite
    denoise: bool = True  # background to 0, ink to full strength, specks dropped
    crop: bool = True  # only the ink's bounding box is scaled
    normalize_stroke: bool = True  # thin pen or thick marker -> MNIST's stroke width
    center_of_mass: bool = True  # digits: centre of mass at (14, 14), as MNIST did
    max_pixels: int = MAX_PIXELS  # decompression-bomb guard, checked before decoding
    min_side: int = MIN_SIDE  # smaller images cannot hold a digit


@dataclass(frozen=True)
class Ink:
    """What preprocessing found besides the image, for the reject rule: how big the drawing
    is against the image (longest sides), and how wide its strokes are against its own size
    (digits only; None for objects)."""

    extent: float
    stroke: float | None

    @property
    def too_little(self) -> bool:
        """A dot or a short flick rather than a drawing: blob-like strokes (a digit's are at
        most ~0.3 of its height even with a marker), or thick ones on a small patch."""
        if self.stroke is None:
            return False
        return self.stroke >= TOO_THICK or (self.stroke >= THICK and self.extent <= SMALL)


TOO_THICK, THICK, SMALL = 0.45, 0.25, 0.2


def preprocess(source: ImageSource, options: PreprocessOptions | None = None) -> np.ndarray:
    """The 28x28 uint8 image (light ink on black) that the model will see.

    Speed comes from never working on more pixels than the step needs: a JPEG is decoded
    at a reduced scale, the clean-up runs on a 129-256 px copy, and only the digit's region
    is redone from the finer copy, with the same background, lighting and thresholds.
    """
    return prepare(source, options)[0]


def prepare(
    source: ImageSource, options: PreprocessOptions | None = None
) -> tuple[np.ndarray, Ink]:
    """preprocess's image, and what it found of the ink (Ink)."""
    options = options or PreprocessOptions()
    image = open_image(source, options.max_pixels, options.min_side, WORK_SIDE)
    if options.exif_orientation:
        image = ImageOps.exif_transpose(image)
    image = gray_image(image)
    k = -(-max(image.size) // ANALYSIS_SIDE)  # thin strokes still show at this size
    small = image.reduce(k) if k > 1 else image  # k x k block means, alpha premultiplied
    gray, alpha = _arrays(small)
    flat = _background(gray, alpha) if alpha is not None and options.flatten_alpha else None
    if flat is not None:
        gray = gray * alpha + flat * (1 - alpha)
    ink, how = _ink(gray, options)
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    extent = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) / max(ink.shape)
    if options.crop:
        ink = crop(_detail(image, k, ink, how, flat) if k > 1 else ink)
    if options.preprocessing == "objects":
        return to_uint8(fit_objects(ink)), Ink(float(extent), None)
    measured: dict = {}
    if options.normalize_stroke:
        ink = normalize_stroke(ink, measured)
        ink = crop(ink) if options.crop else ink
    found = Ink(float(extent), measured.get("stroke"))
    return to_uint8(fit_digit(ink, options.center_of_mass)), found


def _arrays(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Luminance and alpha (None for an opaque mode) in [0, 1], from an L or LA image."""
    a = np.asarray(image, dtype=np.float32) * np.float32(1 / 255)
    return (a, None) if a.ndim == 2 else (a[..., 0], a[..., 1])


def _background(gray: np.ndarray, alpha: np.ndarray) -> float | None:
    """The colour to composite over so that the ink stays ink (None: nothing to flatten).

    A canvas export is a few opaque strokes on transparent pixels whose colour is
    often black, so dropping alpha loses the drawing. When the opaque pixels are the
    minority they are the ink: composite over the opposite of their colour. When they
    are the majority, the transparent part is margin: extend their own colour.
    """
    opaque = alpha > 0.5
    share = float(opaque.mean())
    if share == 1.0:
        return None
    if share == 0.0:
        raise ImageError("no ink found: the image is fully transparent", "no_ink")
    tone = float(np.median(gray[opaque]))
    return (1.0 if tone < 0.5 else 0.0) if share < 0.5 else tone


def _border(a: np.ndarray) -> np.ndarray:
    k = max(1, round(min(a.shape) * 0.02))
    return np.concatenate([a[:k].ravel(), a[-k:].ravel(), a[:, :k].ravel(), a[:, -k:].ravel()])


@dataclass(frozen=True)
class _How:
    """How gray became ink on the analysis copy, so the digit's region can be redone finely."""

    invert: bool
    surface: np.ndarray  # the background: quadratic over [-1, 1]^2 (see _surface)
    peak: float
    threshold: float  # Otsu's split between background and ink; 0: no denoising
    digits: bool  # digits' ink is stretched to full strength; objects keep their shading
    dropped: np.ndarray | None  # analysis pixels of the components removed as specks/clutter


def _ink(gray: np.ndarray, options: PreprocessOptions) -> tuple[np.ndarray, _How]:
    """Ink strength in [0, 1] on a 0 background: polarity, lighting and noise handled."""
    sigma = _sigma(max(gray.shape))
    smooth = ndimage.gaussian_filter(gray, sigma) if sigma else gray
    # A digit's paper is most of the image (its border may be the table under a photographed
    # page); an object fills most of its picture, whose border is the background.
    digits = options.preprocessing == "digits"
    background = float(np.median(smooth if digits else _border(smooth)))
    lo, hi = float(smooth.min()), float(smooth.max())
    if hi - lo < MIN_CONTRAST:
        raise ImageError("no ink found: the image is blank (draw or upload a digit)", "no_ink")
    invert = options.auto_invert and background - lo > hi - background  # ink darker than paper
    if invert:
        smooth, background = 1 - smooth, 1 - background
    ys, xs = _grid(smooth.shape[0]), _grid(smooth.shape[1])
    # A digital drawing's paper is one flat colour (most pixels exactly the median): the
    # lighting fit would find that same constant, so it is skipped.
    flat = np.count_nonzero(smooth == background) * 2 >= smooth.size
    surface = np.array([background, 0, 0, 0, 0, 0])
    surface = _lighting(smooth) if options.denoise and not flat else surface
    smooth = smooth - _surface(surface, ys, xs)
    peak = float(smooth.max())
    if peak < MIN_CONTRAST:
        raise ImageError("no ink found: the image is blank (draw or upload a digit)", "no_ink")
    ink = np.clip(smooth / peak, 0, 1)
    threshold, dropped = (_otsu(ink), None) if options.denoise else (0.0, None)
    if threshold:
        ink, dropped = _despeckle(_levels(ink, threshold, digits))
    if not (ink > 0).any():
        raise ImageError("no ink found: nothing stands out from the background", "no_ink")
    return ink, _How(invert, surface, peak, threshold, digits, dropped)


def _sigma(side: float) -> float:
    """The blur for an image whose longest side is `side` px: none when under half a pixel."""
    sigma = side * BLUR_PER_SIDE  # ~1 px on big photos; none on small images
    return sigma if sigma >= 0.5 else 0.0


def _levels(ink: np.ndarray, threshold: float, digits: bool) -> np.ndarray:
    """Background to 0; digits' ink stretched so that its median stroke is full strength."""
    if not digits:
        return np.where(ink > threshold * 0.25, ink, 0)
    floor, level = threshold * 0.5, float(np.median(ink[ink > threshold]))
    return np.clip((ink - floor) / max(level - floor, 1e-6), 0, 1)


def _detail(image: Image.Image, k: int, ink: np.ndarray, how: _How, flat: float | None):
    """The ink's region redone from the fine copy (k x k fine pixels per analysis pixel): the
    analysis copy has too few pixels for a small digit's strokes, but its background,
    lighting, threshold and dropped specks hold for the whole image, so they are reused;
    the strokes' strength is measured again."""
    h, w = ink.shape
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    top, bottom = max(0, rows[0] - 2), min(h, rows[-1] + 3)  # 2 px margin: edges, blur
    left, right = max(0, cols[0] - 2), min(w, cols[-1] + 3)
    box = (left * k, top * k, min(image.width, right * k), min(image.height, bottom * k))
    bw, bh = box[2] - box[0], box[3] - box[1]
    scale = min(1.0, DETAIL_SIDE / max(bw, bh))
    size = (max(1, round(bw * scale)), max(1, round(bh * scale)))
    region = image.crop(box) if scale == 1 else image.resize(size, Image.Resampling.BOX, box=box)
    gray, alpha = _arrays(region)
    if alpha is not None and flat is not None:
        gray = gray * alpha + flat * (1 - alpha)
    sigma = _sigma(max(image.size) * scale)
    smooth = ndimage.gaussian_filter(gray, sigma) if sigma else gray
    smooth = 1 - smooth if how.invert else smooth
    # Each fine pixel's centre in analysis pixel indices, the grid the surface was fitted on.
    ay = (box[1] + (np.arange(size[1]) + 0.5) * bh / size[1]) / k - 0.5
    ax = (box[0] + (np.arange(size[0]) + 0.5) * bw / size[0]) / k - 0.5
    smooth = smooth - _surface(how.surface, _grid(h, ay), _grid(w, ax))
    if how.dropped is not None:
        iy, ix = np.clip(np.rint(ay), 0, h - 1).astype(int), np.clip(np.rint(ax), 0, w - 1)
        smooth = np.where(how.dropped[np.ix_(iy, ix.astype(int))], 0, smooth)
    fine = np.clip(smooth / max(how.peak, float(smooth.max())), 0, 1)
    fine = _levels(fine, how.threshold, how.digits) if how.threshold else fine
    return fine if (fine > 0).any() else ink


def _grid(n: int, at: np.ndarray | None = None) -> np.ndarray:
    """Pixel indices (all n, or `at`) mapped to [-1, 1], as the lighting surface sees them."""
    at = np.arange(n, dtype=np.float64) if at is None else at
    return (2 * at / max(n - 1, 1) - 1).astype(np.float32)


def _surface(coef: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray | np.float32:
    """c0 + c1 x + c2 y + c3 x² + c4 xy + c5 y² on the grid ys x xs, as two outer sums."""
    c = coef.astype(np.float32)
    if not c[1:].any():  # flat paper: one constant
        return c[0]
    by_row = c[0] + c[2] * ys + c[5] * ys * ys
    by_col = c[1] * xs + c[3] * xs * xs
    return (by_row[:, None] + by_col[None, :]) + c[4] * ys[:, None] * xs[None, :]


def _lighting(a: np.ndarray) -> np.ndarray:
    """The background's brightness as a quadratic surface, so uneven light is not ink.

    It is fitted to a 64 px copy, refitted without the pixels that stand above it (the
    ink) until only paper is left; photos' gradients and vignetting are that smooth,
    strokes are not. Returns the six coefficients (see _surface).
    """
    small = resize(a, min(1.0, 64 / max(a.shape)))
    ys, xs = np.meshgrid(_grid(small.shape[0]), _grid(small.shape[1]), indexing="ij")
    ys, xs = ys.ravel().astype(np.float64), xs.ravel().astype(np.float64)
    design = np.stack([np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys], axis=1)
    values = small.ravel().astype(np.float64)
    paper = values < _otsu(values)  # a first guess; ink is far from paper, light is not
    for _ in range(5):
        if paper.sum() < 2 * design.shape[1]:
            return np.array([np.median(values), 0, 0, 0, 0, 0])
        d = design[paper]
        coef = np.linalg.solve(d.T @ d + 1e-9 * np.eye(d.shape[1]), d.T @ values[paper])
        residual = values - design @ coef
        spread = 1.4826 * float(np.median(np.abs(residual[paper])))
        settled = paper
        paper = residual < max(2.5 * spread, 0.02)
        if np.array_equal(paper, settled):  # a fixed point: more rounds would change nothing
            break
    return coef


def _despeckle(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Drop small specks and the scene's clutter; also the mask of what was dropped."""
    reach = max(1, round(max(ink.shape) / 200))  # pieces this close belong together
    near = _dilate(ink > 0, reach)
    labels, n = ndimage.label(near, structure=np.ones((3, 3)))
    if n < 2:
        return ink, None
    mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=n + 1)[1:]
    clutter = _clutter(labels, n)
    if mass[~clutter].sum() >= 0.002 * mass[clutter].sum():  # a drawing besides the clutter
        mass = np.where(clutter, 0, mass)
    keep = np.concatenate([[False], mass >= 0.02 * mass.sum()])
    dropped = ~keep[labels] & (labels > 0)
    return np.where(dropped, 0, ink), dropped


def _dilate(mask: np.ndarray, reach: int) -> np.ndarray:
    """Binary dilation by `reach` steps of the 4-neighbour cross (scipy's default structure),
    as shifted ORs: the same pixels as ndimage.binary_dilation, several times faster."""
    out = mask.copy()
    for _ in range(reach):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


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
    bins = np.minimum((values.ravel() * 256).astype(np.intp), 255)  # np.histogram's bins
    hist = np.bincount(bins, minlength=256)
    p = hist / hist.sum()
    centres = (np.arange(256) + 0.5) / 256
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (m0[-1] * w0 - m0) ** 2 / (w0 * (1 - w0))
    return float(centres[np.nanargmax(between)])
