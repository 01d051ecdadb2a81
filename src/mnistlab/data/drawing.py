"""Ink drawn the way people draw, and put on the forms their images come in.

A pen of any width along a centre line (the Zhang-Suen skeleton of a shape), polylines drawn
with a round pen, handwriting's slant, stretch and wobble, and the forms: a canvas export (dark
strokes on transparent pixels), white paper, a photographed page (uneven light, noise, blur)
or a dark board. `data/outliers.py` draws its non-digits with these, and the reject rule's
digits as people send them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import cv2
import numpy as np


def skeleton(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning to the one-pixel centre line, each pass one table look-up per pixel
    of its 8 neighbours' bit pattern."""
    img = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            code = _neighbour_code(img)
            remove = (img == 1) & _REMOVE[step][code]
            if remove.any():
                img[remove] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


_AROUND = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))  # P2..P9


def _neighbour_code(img: np.ndarray) -> np.ndarray:
    code = np.zeros(img.shape, np.int32)
    for bit, (dy, dx) in enumerate(_AROUND):
        code |= np.roll(img, (-dy, -dx), (0, 1)).astype(np.int32) << bit
    return code


def _removal_tables() -> tuple[np.ndarray, np.ndarray]:
    tables = np.zeros((2, 256), bool)
    for code in range(256):
        p = [(code >> i) & 1 for i in range(8)]
        count = sum(p)
        turns = sum(p[i] == 0 and p[(i + 1) % 8] == 1 for i in range(8))
        if 2 <= count <= 6 and turns == 1:
            tables[0, code] = p[0] * p[2] * p[4] == 0 and p[2] * p[4] * p[6] == 0
            tables[1, code] = p[0] * p[2] * p[6] == 0 and p[0] * p[4] * p[6] == 0
    return tables[0], tables[1]


_REMOVE = _removal_tables()


def pen(line: np.ndarray, width: float) -> np.ndarray:
    """A centre line (bool mask) drawn with a round pen of `width` pixels, antialiased."""
    pad = int(width) + 2
    line = np.pad(line, pad)
    outside = cv2.distanceTransform((~line).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.clip(width / 2 + 0.5 - outside, 0, 1).astype(np.float32)


def draw_lines(
    strokes: Iterable[np.ndarray], size: int, width: float, closed: bool = False
) -> np.ndarray:
    """Polylines (each (k, 2) x, y in [0, 1]) on a size × size float mask, round pen, AA."""
    canvas = np.zeros((size, size), np.uint8)
    for points in strokes:
        pts = np.round(np.asarray(points) * (size - 1) * 16).astype(np.int32)  # 4 fraction bits
        cv2.polylines(canvas, [pts.reshape(-1, 1, 2)], closed, 255, max(1, round(width)),
                      cv2.LINE_AA, shift=4)  # fmt: skip
    return canvas.astype(np.float32) / 255


def handwritten(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A mask slanted, rotated, stretched and wobbled (a smooth random displacement)."""
    h, w = mask.shape
    side = int(max(h, w) * 1.6) + 8
    m = np.zeros((side, side), np.float32)
    m[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = mask
    c = side / 2
    angle, shear = rng.uniform(-0.3, 0.3), rng.uniform(-0.45, 0.3)
    sx, sy = np.exp(rng.uniform(-0.25, 0.25, 2))
    a = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    a = a @ np.array([[1, shear], [0, 1]]) @ np.diag([sx, sy])
    affine = np.hstack([a, (np.array([c, c]) - a @ np.array([c, c]))[:, None]])
    m = cv2.warpAffine(m, affine.astype(np.float32), (side, side), flags=cv2.INTER_LINEAR)
    return crop(wobble(m, rng, rng.uniform(0.01, 0.035)))


def wobble(m: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Displace every pixel by a smooth random field of about `amount` × the side."""
    side = m.shape[0]
    coarse = rng.normal(0, amount * side, (2, 5, 5)).astype(np.float32)
    dy, dx = (
        cv2.resize(c, (m.shape[1], m.shape[0]), interpolation=cv2.INTER_CUBIC) for c in coarse
    )
    ys, xs = np.mgrid[0 : m.shape[0], 0 : m.shape[1]].astype(np.float32)
    return cv2.remap(m, xs + dx, ys + dy, cv2.INTER_LINEAR)


def crop(m: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(m.max(1) > 0.05), np.flatnonzero(m.max(0) > 0.05)
    if not len(rows):
        return np.ones((3, 3), np.float32)
    return m[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def jitter(points: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    points = np.asarray(points, np.float64)
    return points + rng.normal(0, amount, points.shape)


# ── the forms people's images come in ─────────────────────────────────────────


def on_form(ink: np.ndarray, rng: np.random.Generator, small: bool = False) -> np.ndarray:
    """Ink (float (h, w) in [0, 1]) at a random size and place on a canvas export, white
    paper, a photographed page or a dark board. `small`: the ink keeps its own size
    (a dot on a canvas), else it is scaled to 25-85% of the image's side."""
    side = int(rng.integers(200, 600))
    if not small:
        scale = rng.uniform(0.25, 0.85) * side / max(ink.shape)
        size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
        ink = cv2.resize(ink, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    else:
        side = 560  # the page's canvas, where one click makes a dot
    canvas = np.zeros((side, side), np.float32)
    h, w = min(ink.shape[0], side), min(ink.shape[1], side)
    top, left = rng.integers(0, side - h + 1), rng.integers(0, side - w + 1)
    canvas[top : top + h, left : left + w] = ink[:h, :w]
    form = rng.integers(4)
    if form == 0:  # canvas export: dark strokes on transparent black
        rgba = np.zeros((side, side, 4), np.uint8)
        rgba[..., :3] = 17
        rgba[..., 3] = (canvas * 255).astype(np.uint8)
        return rgba
    if form == 1:  # white paper, dark ink
        return (255 - canvas * rng.uniform(180, 240)).astype(np.uint8)
    if form == 2:  # a photographed page: grey paper, a light gradient, noise, blur
        ramp = np.linspace(0, 1, side)[None, :] * rng.uniform(-40, 40)
        paper = rng.uniform(150, 225) + ramp
        gray = paper * (1 - canvas) + rng.uniform(20, 80) * canvas
        gray = gray + rng.normal(0, rng.uniform(2, 7), gray.shape)
        gray = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), rng.uniform(0.5, 1.5))
        return np.clip(gray, 0, 255).astype(np.uint8)
    board = 40 + rng.normal(0, 5, canvas.shape)  # a dark board, light chalk
    return np.clip(board + canvas * rng.uniform(150, 200), 0, 255).astype(np.uint8)


def redrawn(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """A 28x28 digit drawn large, as people draw one: enlarged, and most times its centre line
    redrawn with a pen from a fine tip to a marker (ink float (h, w) in [0, 1])."""
    side = int(rng.integers(80, 240))
    a = crop(cv2.resize(image.astype(np.float32) / 255, (side, side),
                         interpolation=cv2.INTER_CUBIC).clip(0, 1))  # fmt: skip
    if rng.random() < 0.65 and (a > 0.5).any():
        a = crop(pen(skeleton(a > 0.5), rng.uniform(0.05, 0.3) * max(a.shape)))
    return a
