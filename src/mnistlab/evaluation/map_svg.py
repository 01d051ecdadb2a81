"""The report's map of the test set: every mapped test image as a dot coloured by its true
class, its mistakes ringed and linked to their tiles in the gallery (mistakes.py).

The points are mnistlab.explanation's map (`data_map`: the first two principal components of
the penultimate features): near dots are images the model sees alike. An SVG, so the page
stays one file and a mistake is a link (the gallery's anchor) with a tooltip, no script.
"""

from __future__ import annotations

import html

import numpy as np

WIDTH, HEIGHT, LEGEND, PAD = 600, 460, 170, 12
# matplotlib's tab10, the colours of the explanation's own figure (mnistlab.explanation)
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")  # fmt: skip


def map_svg(points: np.ndarray, labels: np.ndarray, predicted: np.ndarray, indices: np.ndarray,
            classes: list[str], linked: dict[int, str]) -> str:  # fmt: skip
    """The SVG: `points` (M, 2) of test images `indices`, `linked` maps a test index to the
    anchor of its tile in the gallery. Mistakes are drawn last, so no dot hides them."""
    low, high = points.min(axis=0), points.max(axis=0)
    scale = (np.array([WIDTH, HEIGHT]) - 2 * PAD) / np.maximum(high - low, 1e-9)
    xy = PAD + (points - low) * scale
    xy[:, 1] = HEIGHT - xy[:, 1]  # y grows upwards, as on the explanation's figure
    dots = [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.2" fill="{COLOURS[c % 10]}"/>'
            for (x, y), c, p in zip(xy, labels, predicted, strict=True) if c == p]  # fmt: skip
    rings = []
    for (x, y), c, p, i in zip(xy, labels, predicted, indices, strict=True):
        if c == p:
            continue
        tip = f"test image {i}: a {classes[c]} taken for a {classes[p]}"
        ring = (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{COLOURS[c % 10]}" stroke="#111"'
                f' stroke-width="1.6"><title>{html.escape(tip)}</title></circle>')  # fmt: skip
        rings.append(f'<a href="#{linked[int(i)]}">{ring}</a>' if int(i) in linked else ring)
    count = (f'<text x="{WIDTH + 16}" y="{HEIGHT - 30}" fill="#52606d">{len(points):,} test '
             f'images,</text><text x="{WIDTH + 16}" y="{HEIGHT - 12}" fill="#52606d">'
             f"{len(rings)} mistakes</text>")  # fmt: skip
    head = (f'<svg class="map" viewBox="0 0 {WIDTH + LEGEND} {HEIGHT}" role="img" '
            f'aria-label="Map of {len(points):,} test images, {len(rings)} mistakes ringed" '
            'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="13">'
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>')  # fmt: skip
    body = '<g opacity="0.75">' + "".join(dots) + "</g>" + "".join(rings)
    return head + count + body + _legend(classes) + "</svg>"


def _legend(classes: list[str]) -> str:
    rows = [f'<g transform="translate({WIDTH + 16},{24 + 22 * c})">'
            f'<circle r="5" fill="{COLOURS[c % 10]}"/>'
            f'<text x="12" y="4.5">{html.escape(name)}</text></g>'
            for c, name in enumerate(classes)]  # fmt: skip
    ring = (f'<g transform="translate({WIDTH + 16},{34 + 22 * len(classes)})">'
            '<circle r="5" fill="#fff" stroke="#111" stroke-width="1.6"/>'
            '<text x="12" y="4.5">a mistake</text></g>')  # fmt: skip
    return "".join(rows) + ring
