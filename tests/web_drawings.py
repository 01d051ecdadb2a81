"""Canvas drawings as a browser's canvas holds them, for the page's preprocessing parity test:
dark antialiased strokes on transparent pixels (the page's canvas) or on white (other
drawing apps), digit-like shapes of several stroke widths and sizes, placed off-centre."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

SUPERSAMPLE = 2  # strokes drawn 2x larger and averaged down: antialiased edges, as a canvas

RING = np.linspace(0, 2 * math.pi, 24)
# Digit-like paths in a unit box (x right, y down); each is one or two strokes.
SHAPES = {
    "1": [[(0.55, 0.0), (0.5, 0.5), (0.45, 1.0)]],
    "7": [[(0.1, 0.05), (0.9, 0.05), (0.35, 1.0)]],
    "4": [[(0.6, 0.0), (0.05, 0.65), (0.95, 0.65)], [(0.7, 0.3), (0.7, 1.0)]],
    "L": [[(0.2, 0.0), (0.2, 1.0), (0.9, 1.0)]],
    "0": [[(0.5 + 0.45 * math.sin(t), 0.5 - 0.5 * math.cos(t)) for t in RING]],
    "2": [[(0.1, 0.25), (0.4, 0.0), (0.85, 0.2), (0.75, 0.5), (0.1, 1.0), (0.95, 1.0)]],
    "3": [[(0.1, 0.1), (0.8, 0.05), (0.4, 0.45), (0.9, 0.7), (0.5, 1.0), (0.05, 0.9)]],
    "dot": [[(0.5, 0.5), (0.52, 0.5)]],
}


def drawings(n: int, seed: int = 0) -> list[np.ndarray]:
    """`n` RGBA (H, W, 4) uint8 drawings; most on the page's 560 px canvas, some smaller."""
    rng = np.random.default_rng(seed)
    names = list(SHAPES)
    out = []
    for i in range(n):
        side = int(rng.choice([560, 560, 560, 400, 280]))
        size = side * rng.uniform(0.2, 0.7)  # the drawing's height on the canvas
        width = side * rng.uniform(0.012, 0.12)  # a thin pen to a thick marker
        x0 = rng.uniform(0, side - size * 0.8)  # anywhere, often far from the centre
        y0 = rng.uniform(0, side - size)
        jitter = rng.normal(0, 0.03, (16, 2))
        shape = SHAPES[names[i % len(names)]]
        strokes = [[(x0 + (x + jitter[j % 16, 0]) * size * 0.8,
                     y0 + (y + jitter[j % 16, 1]) * size)
                    for j, (x, y) in enumerate(s)] for s in shape]  # fmt: skip
        out.append(canvas(side, strokes, width, white=i % 5 == 4))
    return out


def canvas(side: int, strokes, width: float, white: bool = False) -> np.ndarray:
    """Strokes (lists of points in canvas pixels) with round caps, #111 ink, antialiased."""
    big = Image.new("L", (side * SUPERSAMPLE, side * SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(big)
    w = max(1, round(width * SUPERSAMPLE))
    for s in strokes:
        points = [(x * SUPERSAMPLE, y * SUPERSAMPLE) for x, y in s]
        draw.line(points, fill=255, width=w, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=255)
    coverage = np.asarray(big.reduce(SUPERSAMPLE))
    rgba = np.zeros((side, side, 4), np.uint8)
    if white:  # opaque: #111 blended over white
        gray = np.rint(255 - coverage.astype(np.float32) * (255 - 17) / 255).astype(np.uint8)
        rgba[..., :3], rgba[..., 3] = gray[..., None], 255
    else:
        rgba[..., :3], rgba[..., 3] = np.where(coverage > 0, 17, 0)[..., None], coverage
    return rgba
