"""Matplotlib figures, drawn off-screen (Agg) so they work on servers and in CI."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mnistlab.atomic import atomic_path  # noqa: E402


def save(fig: plt.Figure, path: str | os.PathLike) -> None:
    """Write a figure as PNG atomically and free it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def image_grid(
    images: np.ndarray, titles: Sequence[str], suptitle: str | None = None, cols: int | None = None
) -> plt.Figure:
    """A grid of grayscale images, each with its own title, as the tutorials show them."""
    n = len(images)
    cols = cols or math.ceil(math.sqrt(n))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.1 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles, strict=False):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def sample_grid(images: np.ndarray, labels: np.ndarray, classes: Sequence[str], title: str):
    """Sample images titled with their labels, the classic first look at a dataset."""
    names = [f"Label: {classes[y]}" if classes[y] == str(y) else f"{y}: {classes[y]}"
             for y in labels.tolist()]
    return image_grid(images, names, suptitle=title)
