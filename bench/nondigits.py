"""The held-out non-digits of bench/honest.py: none of the reject rule's own training images.

Other fonts (handwriting and book faces from Debian's fonts-dkg-handwriting, fonts-kristi,
fonts-klee, fonts-ecolier-court, fonts-tomsontalks, fonts-urw-base35, fonts-cabinsketch,
fonts-opensymbol), other seeds, other doodles (a boat, a key, a ladder, a snowman, a moon,
a kite, a crown, a tent), and the other dataset's test split, on the same forms as people's
images (mnistlab.data.drawing.on_form). Fixed seed: the same set every run.
"""

from __future__ import annotations

import numpy as np

from mnistlab.data import load_dataset, outliers

SEED = 20291
FONTS = (
    "dkg.ttf", "dkgIt.ttf", "Kristi.ttf", "KleeOne-Regular.ttf", "Ecolier-court.ttf",
    "TomsonTalks.ttf", "YuseiMagic-Regular.ttf", "NimbusSans-Regular.otf", "Z003-MediumItalic.otf",
    "C059-Roman.otf", "URWGothic-Book.otf", "CabinSketch-Regular.ttf", "opens___.ttf",
    "D050000L.otf", "StandardSymbolsPS.otf",
)  # fmt: skip


def _circle(cx, cy, r, start=0.0, end=2 * np.pi, n=40):
    t = np.linspace(start, end, n)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)


def _boat(rng):
    return [np.array([[0.1, 0.6], [0.9, 0.6], [0.75, 0.8], [0.25, 0.8], [0.1, 0.6]]),
            np.array([[0.5, 0.6], [0.5, 0.1], [0.8, 0.5], [0.5, 0.5]])]  # fmt: skip


def _key(rng):
    return [_circle(0.25, 0.5, 0.15), np.array([[0.4, 0.5], [0.9, 0.5], [0.9, 0.62]]),
            np.array([[0.78, 0.5], [0.78, 0.6]])]  # fmt: skip


def _ladder(rng):
    rungs = [np.array([[0.3, y], [0.7, y]]) for y in np.linspace(0.2, 0.8, 4)]
    return [np.array([[0.3, 0.05], [0.3, 0.95]]), np.array([[0.7, 0.05], [0.7, 0.95]]), *rungs]


def _snowman(rng):
    return [_circle(0.5, 0.7, 0.22), _circle(0.5, 0.32, 0.15)]


def _moon(rng):
    return [np.concatenate([_circle(0.5, 0.5, 0.4, 0.5 * np.pi, 1.5 * np.pi),
                            _circle(0.62, 0.5, 0.3, 1.4 * np.pi, 0.6 * np.pi)])]  # fmt: skip


def _kite(rng):
    return [np.array([[0.5, 0.05], [0.8, 0.4], [0.5, 0.75], [0.2, 0.4], [0.5, 0.05]]),
            np.array([[0.5, 0.05], [0.5, 0.75]]), np.array([[0.2, 0.4], [0.8, 0.4]]),
            np.array([[0.5, 0.75], [0.45, 0.85], [0.55, 0.9], [0.5, 0.97]])]  # fmt: skip


def _crown(rng):
    return [np.array([[0.1, 0.8], [0.1, 0.3], [0.3, 0.55], [0.5, 0.2], [0.7, 0.55], [0.9, 0.3],
                      [0.9, 0.8], [0.1, 0.8]])]  # fmt: skip


def _tent(rng):
    return [np.array([[0.05, 0.85], [0.5, 0.15], [0.95, 0.85], [0.05, 0.85]]),
            np.array([[0.5, 0.15], [0.4, 0.85]])]  # fmt: skip


DOODLES = {"boat": _boat, "key": _key, "ladder": _ladder, "snowman": _snowman, "moon": _moon,
           "kite": _kite, "crown": _crown, "tent": _tent}  # fmt: skip


def generate(per_kind: int) -> dict[str, list[np.ndarray]]:
    """Images by kind, `per_kind` each, as people's files hold them."""
    other = load_dataset("fashion-mnist", "test").images
    made: dict[str, list[np.ndarray]] = {}
    for i, kind in enumerate(outliers.KINDS):
        items = outliers.generate(per_kind, seed=SEED + i, kinds=(kind,), other=other,
                                  fonts=FONTS, drawings=DOODLES)  # fmt: skip
        made[kind] = [item.image for item in items]
    return made
