"""Images that are not digits (nor clothes), made the way people make images, for the reject rule.

No data set of handwritten letters or doodles ships offline, so they are drawn here, seeded:
letters and symbols from the machine's fonts (often thinned to their centre line and redrawn
with a pen of random width, then slanted, stretched and wobbled like handwriting), random pen
scribbles, simple doodles (a house, a sun, a face, a spiral...), noise, near-empty canvases
holding a dot or a tick, and the other dataset (clothes for a digit reader, digits for a
clothes reader); and, for the rule's other side, digits drawn and printed the same ways.
Each ink drawing is put on one of the forms people's digits come in (`data/drawing.py`). The
images are what `prediction.preprocess` takes; what the model sees is what it makes of them.

`bench/nondigits.py` builds the held-out set with other fonts, seeds and doodles.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mnistlab.data.drawing import (
    crop,
    draw_lines,
    handwritten,
    jitter,
    on_form,
    pen,
    redrawn,
    skeleton,
)

KINDS = ("letters", "symbols", "scribbles", "doodles", "noise", "near-empty", "other dataset")
# Letters that no one could tell from a digit once written by hand (O/0, I/l/1, Z/2, S/5, B/8,
# b/6, g/q/9, G/6, T/7, A/4...) are left out: refusing them would refuse digits.
LETTERS = "ACEFHKLMNPRUVWXYcefhkmnprtuvwxy"
SYMBOLS = "#%&@+=?*$€£<>~^πΣΩ∞★☆♥♦♣♠→←↑↓↔✓✔✗✘☺☹☀☂☁♪♫✿❀☼⚡⌂✉✈☎⚓◯△□◇✚"
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".fonts"))
# The fonts the generator draws from (file names; any that the machine has), Debian packages
# in brackets (the Makefile's setup installs them). bench/nondigits.py uses none of these.
FONTS = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",  # dejavu
    "LiberationSans-Regular.ttf", "LiberationSerif-Italic.ttf", "LiberationMono-Regular.ttf",
    "ComicNeue-Regular.otf", "ComicNeue-Bold.otf", "ComicNeue-LightItalic.otf",  # comic-neue
    "Humor-Sans.ttf",  # fonts-humor-sans
    "BecauseWeBuild-Regular.otf", "BecauseWeConnect-Regular.otf", "BecauseWeCreate-Regular.otf",
    "BecauseWeLearn-Regular.otf", "BecauseWeMentor-Regular.otf", "BecauseWeOrganize-Regular.otf",
    "Breip.ttf", "femkeklaver.ttf", "Delphine.ttf", "SteveHand.ttf",  # breip, femkeklaver, sjfonts
    "Rufscript010.ttf", "DancingScript-Regular.otf",  # fonts-rufscript, fonts-dancingscript
    "Symbola_hint.ttf",  # fonts-symbola: the symbols
)  # fmt: skip


@dataclass(frozen=True)
class Outlier:
    kind: str
    image: np.ndarray  # uint8 (H, W) gray or (H, W, 4) RGBA, as prediction.preprocess takes it


def generate(
    n: int,
    seed: int = 0,
    kinds: Sequence[str] = KINDS,
    other: np.ndarray | None = None,
    fonts: Sequence[str] = FONTS,
    drawings: dict[str, Callable] | None = None,
) -> list[Outlier]:
    """`n` outliers, the kinds in turn (so every kind gets n / len(kinds)), from `seed`.

    `other`: uint8 (M, 28, 28) images of the other dataset ("other dataset" is skipped when
    None); `fonts`: font file names to look for; `drawings`: the doodles (default DOODLES)."""
    rng = np.random.default_rng(seed)
    paths = find_fonts(tuple(fonts))
    kinds = [k for k in kinds if k != "other dataset" or other is not None]
    makers = {"letters": lambda r: _glyph(r, paths, LETTERS),
              "symbols": lambda r: _symbol(r, paths),
              "scribbles": scribble, "doodles": lambda r: _doodle(r, drawings or DOODLES),
              "near-empty": near_empty, "noise": None,
              "other dataset": lambda r: _other(r, other)}  # fmt: skip
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if kind == "noise":
            out.append(Outlier(kind, noise_image(rng)))
            continue
        ink = makers[kind](rng)
        out.append(Outlier(kind, on_form(ink, rng, small=kind == "near-empty")))
    return out


# ── fonts ─────────────────────────────────────────────────────────────────────


@functools.cache
def find_fonts(names: tuple[str, ...]) -> tuple[Path, ...]:
    """The font files of `names` that this machine has (searched once per process)."""
    wanted, found = set(names), {}
    for root in FONT_DIRS:
        if Path(root).is_dir():
            for path in sorted(Path(root).rglob("*")):
                if path.name in wanted and path.name not in found:
                    found[path.name] = path
    return tuple(found[name] for name in names if name in found)


@functools.cache
def _font(path: Path | None, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size) if path else ImageFont.load_default(size)


def glyph_mask(char: str, path: Path | None, size: int = 96) -> np.ndarray | None:
    """A character as the font draws it, white on black, cropped; None when the font lacks it
    (it draws nothing, or the same box it draws for any missing character)."""
    font = _font(path, size)
    image = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(image).text((size // 2, size // 4), char, fill=255, font=font)
    a = np.asarray(image, np.float32) / 255
    if a.max() < 0.5 or _is_notdef(a, font, size):
        return None
    rows, cols = np.flatnonzero(a.max(1) > 0.1), np.flatnonzero(a.max(0) > 0.1)
    return a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _is_notdef(a: np.ndarray, font, size: int) -> bool:
    missing = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(missing).text((size // 2, size // 4), "\U000f0000", fill=255, font=font)
    return np.array_equal(np.asarray(missing, np.float32) / 255, a)


def _glyph(rng: np.random.Generator, paths: Sequence[Path], chars: str) -> np.ndarray:
    for _ in range(20):  # a font may lack a character: try another pair
        path = paths[rng.integers(len(paths))] if paths else None
        mask = glyph_mask(chars[rng.integers(len(chars))], path)
        if mask is not None and min(mask.shape) >= 3:
            break
    if rng.random() < 0.65:  # a pen's line through the glyph's centre
        mask = pen(skeleton(mask > 0.5), rng.uniform(0.05, 0.16) * max(mask.shape))
    return handwritten(mask, rng)


def _symbol(rng: np.random.Generator, paths: Sequence[Path]) -> np.ndarray:
    if rng.random() < 0.35:  # drawn by hand: #, +, =, *, arrows, ticks, crosses, stars, hearts
        return _doodle(rng, SYMBOL_DRAWINGS)
    return _glyph(rng, paths, SYMBOLS)


# ── scribbles, doodles, near-empty canvases, noise, the other dataset ─────────


def scribble(rng: np.random.Generator) -> np.ndarray:
    """One to three pen paths that wander with momentum: loops, zigzags, tangles."""
    strokes = []
    for _ in range(rng.integers(1, 4)):
        steps, turn = int(rng.integers(15, 120)), rng.uniform(0.1, 1.2)
        heading, p, path = rng.uniform(0, 2 * np.pi), rng.uniform(0.25, 0.75, 2), []
        spin = rng.normal(0, 0.3)
        for _ in range(steps):
            heading += spin + rng.normal(0, turn)
            p = np.clip(p + 0.03 * np.array([math.cos(heading), math.sin(heading)]), 0.02, 0.98)
            path.append(p.copy())
        strokes.append(np.array(path))
    return crop(draw_lines(strokes, 200, rng.uniform(4, 16)))


def _doodle(rng: np.random.Generator, drawings: dict[str, Callable]) -> np.ndarray:
    name = list(drawings)[rng.integers(len(drawings))]
    strokes = [jitter(s, rng, 0.006) for s in drawings[name](rng)]
    mask = draw_lines(strokes, 220, rng.uniform(5, 15))
    return handwritten(crop(mask), rng) if rng.random() < 0.7 else crop(mask)


def _circle(cx, cy, r, start=0.0, end=2 * np.pi, n=40, ry=None) -> np.ndarray:
    t = np.linspace(start, end, n)
    return np.stack([cx + r * np.cos(t), cy + (ry or r) * np.sin(t)], 1)


def _house(rng):
    w, roof = rng.uniform(0.4, 0.6), rng.uniform(0.15, 0.3)
    left, top, bottom = 0.5 - w / 2, 0.45, 0.9
    door = rng.uniform(0.4, 0.55)
    walls = np.array([[left, top], [left, bottom], [left + w, bottom], [left + w, top],
                      [left, top], [0.5, top - roof], [left + w, top]])  # fmt: skip
    return [walls, np.array([[door, bottom], [door, 0.7], [door + 0.1, 0.7], [door + 0.1, bottom]])]


def _sun(rng):
    r, rays = rng.uniform(0.15, 0.22), int(rng.integers(6, 12))
    lines = [_circle(0.5, 0.5, r)]
    for t in np.linspace(0, 2 * np.pi, rays, endpoint=False):
        d = np.array([math.cos(t), math.sin(t)])
        lines.append(np.array([0.5 + d * (r + 0.06), 0.5 + d * (r + rng.uniform(0.15, 0.25))]))
    return lines


def _face(rng):
    r = rng.uniform(0.32, 0.42)
    eyes = [_circle(0.5 + dx, 0.4, 0.035, n=12) for dx in (-0.13, 0.13)]
    smile = rng.uniform(-0.1, 0.12)
    mouth = np.array([[0.35, 0.65], [0.5, 0.65 + smile], [0.65, 0.65]])
    return [_circle(0.5, 0.5, r), *eyes, mouth]


def _spiral(rng):
    turns, t = rng.uniform(2, 4), np.linspace(0, 1, 120)
    angle = t * turns * 2 * np.pi + rng.uniform(0, 6)
    return [np.stack([0.5 + 0.42 * t * np.cos(angle), 0.5 + 0.42 * t * np.sin(angle)], 1)]


def _star(rng):
    k = int(rng.integers(5, 8))
    t = np.linspace(0, 2 * np.pi, 2 * k + 1) - np.pi / 2
    r = np.where(np.arange(2 * k + 1) % 2, rng.uniform(0.15, 0.25), 0.42)
    return [np.stack([0.5 + r * np.cos(t), 0.5 + r * np.sin(t)], 1)]


def _heart(rng):
    t = np.linspace(0, 2 * np.pi, 60)
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    return [np.stack([0.5 + x / 40, 0.45 - y / 40], 1)]


def _tree(rng):
    return [np.array([[0.45, 0.95], [0.45, 0.6]]), np.array([[0.55, 0.95], [0.55, 0.6]]),
            _circle(0.5, 0.38, rng.uniform(0.2, 0.3), ry=rng.uniform(0.2, 0.3))]  # fmt: skip


def _flower(rng):
    petals = int(rng.integers(5, 8))
    lines = [_circle(0.5, 0.35, 0.06, n=16), np.array([[0.5, 0.45], [0.5, 0.95]])]
    for t in np.linspace(0, 2 * np.pi, petals, endpoint=False):
        lines.append(_circle(0.5 + 0.14 * math.cos(t), 0.35 + 0.14 * math.sin(t), 0.08, n=16))
    return lines


def _fish(rng):
    body = _circle(0.45, 0.5, 0.3, ry=rng.uniform(0.15, 0.22))
    return [body, np.array([[0.75, 0.5], [0.95, 0.3], [0.95, 0.7], [0.75, 0.5]]),
            _circle(0.28, 0.45, 0.025, n=10)]  # fmt: skip


def _cloud(rng):
    bumps = int(rng.integers(3, 6))
    xs = np.linspace(0.2, 0.8, bumps)
    return [_circle(x, 0.5, 0.7 / bumps, np.pi, 2 * np.pi, n=16) for x in xs] + [
        np.array([[0.2 - 0.7 / bumps, 0.5], [0.8 + 0.7 / bumps, 0.5]])]  # fmt: skip


def _cat(rng):
    face = _circle(0.5, 0.55, 0.3)
    ears = np.array([[0.25, 0.4], [0.25, 0.12], [0.42, 0.28]]), np.array(
        [[0.75, 0.4], [0.75, 0.12], [0.58, 0.28]])  # fmt: skip
    whiskers = [np.array([[0.5, 0.62], [x, 0.58 + dy]]) for x in (0.15, 0.85) for dy in (0, 0.08)]
    return [face, *ears, *whiskers]


def _envelope(rng):
    h = rng.uniform(0.35, 0.55)
    top, bottom = 0.5 - h / 2, 0.5 + h / 2
    return [np.array([[0.1, top], [0.9, top], [0.9, bottom], [0.1, bottom], [0.1, top]]),
            np.array([[0.1, top], [0.5, 0.5], [0.9, top]])]  # fmt: skip


def _bolt(rng):
    return [np.array([[0.6, 0.05], [0.3, 0.55], [0.55, 0.5], [0.35, 0.95], [0.75, 0.4],
                      [0.5, 0.45], [0.7, 0.05]])]  # fmt: skip


def _grid(rng):
    n = int(rng.integers(2, 4))
    ts = np.linspace(0.15, 0.85, n + 1)
    return [np.array([[t, 0.1], [t, 0.9]]) for t in ts] + [
        np.array([[0.1, t], [0.9, t]]) for t in ts]  # fmt: skip


DOODLES: dict[str, Callable] = {
    "house": _house, "sun": _sun, "face": _face, "spiral": _spiral, "star": _star,
    "heart": _heart, "tree": _tree, "flower": _flower, "fish": _fish, "cloud": _cloud,
    "cat": _cat, "envelope": _envelope, "bolt": _bolt, "grid": _grid,
}  # fmt: skip


def _hash(rng):
    return [np.array([[0.35, 0.1], [0.3, 0.9]]), np.array([[0.65, 0.1], [0.6, 0.9]]),
            np.array([[0.1, 0.35], [0.9, 0.35]]), np.array([[0.1, 0.65], [0.9, 0.65]])]  # fmt: skip


def _plus(rng):
    return [np.array([[0.5, 0.1], [0.5, 0.9]]), np.array([[0.1, 0.5], [0.9, 0.5]])]


def _equals(rng):
    return [np.array([[0.1, 0.35], [0.9, 0.35]]), np.array([[0.1, 0.65], [0.9, 0.65]])]


def _asterisk(rng):
    angles = np.linspace(0, np.pi, 3 + int(rng.integers(0, 2)), endpoint=False)
    return [0.5 + 0.4 * np.array([[-math.cos(t), -math.sin(t)], [math.cos(t), math.sin(t)]])
            for t in angles]  # fmt: skip


def _arrow(rng):
    return [np.array([[0.1, 0.5], [0.9, 0.5]]), np.array([[0.65, 0.25], [0.9, 0.5], [0.65, 0.75]])]


def _tick(rng):
    return [np.array([[0.1, 0.55], [0.35, 0.85], [0.9, 0.15]])]


def _cross(rng):
    return [np.array([[0.15, 0.15], [0.85, 0.85]]), np.array([[0.85, 0.15], [0.15, 0.85]])]


SYMBOL_DRAWINGS: dict[str, Callable] = {
    "hash": _hash, "plus": _plus, "equals": _equals, "asterisk": _asterisk, "arrow": _arrow,
    "tick": _tick, "cross": _cross, "star": _star, "heart": _heart,
}  # fmt: skip


def near_empty(rng: np.random.Generator) -> np.ndarray:
    """What a canvas holds after one click or a flick: a dot, two dots, a short tick or dash."""
    choice, width = rng.integers(4), rng.uniform(10, 40)
    if choice == 0:
        strokes = [np.array([[0.5, 0.5], [0.5 + rng.normal(0, 0.01), 0.5]])]
    elif choice == 1:
        d = rng.uniform(0.05, 0.2, 2)
        strokes = [np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([[0.5 + d[0], 0.5 + d[1]]] * 2)]
    elif choice == 2:
        a = rng.uniform(0.03, 0.1)
        strokes = [
            np.array([[0.5 - a, 0.5 - a / 2], [0.5 - a / 3, 0.5 + a / 2], [0.5 + a, 0.5 - a]])
        ]
    else:
        t, a = rng.uniform(0, np.pi), rng.uniform(0.02, 0.09)
        d = a * np.array([math.cos(t), math.sin(t)])
        strokes = [np.array([[0.5, 0.5] - d, [0.5, 0.5] + d])]
    return crop(draw_lines(strokes, 560, width))


def _other(rng: np.random.Generator, images: np.ndarray) -> np.ndarray:
    a = images[rng.integers(len(images))].astype(np.float32) / 255
    side = int(rng.integers(80, 240))
    return cv2.resize(a, (side, side), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def digits_on_forms(images: np.ndarray, printed: int, seed: int) -> list[np.ndarray]:
    """Digits as people send them, for the reject rule's other side: each of `images` (uint8
    (N, 28, 28)) redrawn on one of the forms, then `printed` digits from the generator's fonts
    written like its letters, so that neither a form nor a font's look tells a letter from a
    digit (images as `prediction.preprocess` takes them)."""
    rng = np.random.default_rng(seed)
    paths = find_fonts(FONTS)
    drawn = [on_form(redrawn(rng, image), rng) for image in images]
    return drawn + [on_form(_glyph(rng, paths, "0123456789"), rng) for _ in range(printed)]


def noise_image(rng: np.random.Generator) -> np.ndarray:
    """Noise, blotches, a gradient, a texture: a camera pointed at nothing in particular."""
    side = int(rng.integers(64, 400))
    kind = rng.integers(4)
    if kind == 0:
        a = rng.random((side, side))
    elif kind == 1:
        a = cv2.GaussianBlur(rng.random((side, side)).astype(np.float32), (0, 0), side / 20)
        a = (a - a.min()) / max(float(a.max() - a.min()), 1e-6)
    elif kind == 2:
        a = rng.random((side, side)) < rng.uniform(0.01, 0.2)
    else:
        ys, xs = np.mgrid[0:side, 0:side] / side
        f = rng.uniform(2, 12, 2)
        a = 0.5 + 0.5 * np.sin(2 * np.pi * (f[0] * xs + f[1] * ys + rng.random()))
        a = a + rng.normal(0, 0.15, a.shape)
    return (np.clip(a, 0, 1) * 255).astype(np.uint8)
