"""Put the ink where MNIST puts it: cropped, strokes as wide as MNIST's, fitted into 20x20
and centred by its centre of mass in 28x28 (digits), or fitted into 28x28 (clothes).

The last steps of preprocess.py, kept apart because they are the ones that depend on
how the datasets were built, not on how the person's image was made.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

MNIST_STROKE = 0.135  # median stroke width / longest side of an MNIST digit (measured)
STROKE_SIDE = 200  # digits are resized to this to measure and change stroke width
MNIST_CENTRE = 14.0  # MNIST's mean centre of mass, in pixel indices (measured on its digits)
# OpenCV's own thread pool: on these small images a second thread costs CPU and saves no
# time (docs/decisions/preprocessing.md). Process-wide.
cv2.setNumThreads(1)


def crop(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def normalize_stroke(ink: np.ndarray, measured: dict | None = None) -> np.ndarray:
    """Grow thin strokes or thin thick ones to MNIST's stroke width for this digit size.

    Widths come from the distance transform (a stroke of width w has mean inner
    distance w/4), measured at 200 px, the size the MNIST figure was measured at.
    Growing and thinning are distance thresholds, so they cost O(N). Strokes already
    within MNIST's usual range are left alone. `measured["stroke"]` receives the width found,
    as a share of the ink's longest side (a dot: ~0.7; MNIST: 0.135).
    """
    work = resize(ink, STROKE_SIDE / max(ink.shape))
    mask = work > 0.5
    if not mask.any():
        return ink
    inside = distances(np.pad(mask, 1))[1:-1, 1:-1]
    width = 4 * float(inside[mask].mean())
    target = MNIST_STROKE * max(work.shape)
    if measured is not None:
        measured["stroke"] = width / max(work.shape)
    if width < 0.75 * target:
        radius = (target - width) / (2 * (1 - MNIST_STROKE))  # the box grows too
        pad = int(np.ceil(radius)) + 1
        work, mask = np.pad(work, pad), np.pad(mask, pad)
        outside = distances(~mask)
        return np.maximum(work, np.clip(radius + 0.5 - outside, 0, 1))
    if width > 1.5 * target:
        thinned = np.minimum(work, np.clip(inside - (width - target) / 2 + 0.5, 0, 1))
        return thinned if (thinned > 0).any() else ink
    return ink


def distances(mask: np.ndarray) -> np.ndarray:
    """Each True pixel's exact Euclidean distance to the nearest False one (0 on False).

    OpenCV's exact transform gives scipy.ndimage.distance_transform_edt's values in a
    quarter of the time (AMD EPYC Zen 5); it had been the largest step of a canvas upload's
    preprocessing (docs/decisions/preprocessing.md).
    """
    return cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def resize(a: np.ndarray, factor: float) -> np.ndarray:
    size = (max(1, round(a.shape[1] * factor)), max(1, round(a.shape[0] * factor)))
    out = Image.fromarray(a.astype(np.float32)).resize(size, _filter(factor))
    return np.clip(np.asarray(out), 0, 1)


def _filter(factor: float) -> Image.Resampling:
    """Area averaging to shrink (antialiased, no ringing halo around the strokes), bilinear
    to enlarge."""
    return Image.Resampling.BOX if factor <= 1 else Image.Resampling.BILINEAR


def fit_digit(ink: np.ndarray, center_of_mass: bool) -> np.ndarray:
    """Longest side to 20 px (antialiased), centre of mass (or box centre) at MNIST's centre.

    One resampling does both: the output's 28x28 grid is laid over the input so that
    its centre falls on the ink's centre of mass, and Pillow averages what each output
    pixel covers.
    """
    if max(ink.shape) > STROKE_SIDE:  # 10x the output is plenty to average from
        ink = resize(ink, STROKE_SIDE / max(ink.shape))
    h, w = ink.shape
    scale = 20 / max(h, w)  # output pixels per input pixel
    if center_of_mass:  # pixel indices + 0.5: continuous coordinates
        total = float(ink.sum())
        cy = float(ink.sum(1) @ np.arange(h)) / total + 0.5
        cx = float(ink.sum(0) @ np.arange(w)) / total + 0.5
    else:
        cy, cx = h / 2, w / 2
    target = MNIST_CENTRE + 0.5
    left, top = cx - target / scale, cy - target / scale  # the 28x28 window, in input px
    right, bottom = cx + (28 - target) / scale, cy + (28 - target) / scale
    # It reaches past the ink: zeros there, and as far again as the filter reads around it.
    reach = int(np.ceil(1 / scale)) + 2
    before = (max(0, reach - int(np.floor(top))), max(0, reach - int(np.floor(left))))
    after = (max(0, int(np.ceil(bottom)) + reach - h), max(0, int(np.ceil(right)) + reach - w))
    padded = np.pad(ink.astype(np.float32, copy=False), tuple(zip(before, after, strict=True)))
    box = (left + before[1], top + before[0], right + before[1], bottom + before[0])
    canvas = Image.fromarray(padded)
    out = np.clip(np.asarray(canvas.resize((28, 28), _filter(scale), box=box)), 0, 1)
    return out / max(float(out.max()), 1e-6)  # MNIST digits all reach full white


def fit_objects(ink: np.ndarray) -> np.ndarray:
    """Fashion-MNIST: longest side to 28 px, centred by the bounding box, no stretch."""
    small = resize(ink, 28 / max(ink.shape))
    (h, w), out = small.shape, np.zeros((28, 28), np.float32)
    top, left = (28 - h) // 2, (28 - w) // 2
    out[top : top + h, left : left + w] = small
    return out


def to_uint8(a: np.ndarray) -> np.ndarray:
    return np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8)
