"""One PNG per explanation: the image, the two attributions, the map, the nearest training
images, and each layer's strongest responses (drawn off-screen, without pyplot)."""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure

from mnistlab.atomic import atomic_path
from mnistlab.explanation.embedding import DataMap
from mnistlab.explanation.explain import Explanation

SHOWN_MAPS = 8  # of each layer's strongest channels, in the figure
COLUMNS = max(SHOWN_MAPS, 6)


def figure(explanation: Explanation, places: DataMap) -> Figure:
    """The explanation's figure: rows of panels, one row per layer at the bottom."""
    e, p = explanation, explanation.prediction
    ratios = [2.2, 1, *[1] * len(e.layers)]
    fig = Figure(figsize=(COLUMNS * 1.3, sum(ratios) * 1.5 + 0.9))
    grid = fig.add_gridspec(len(ratios), COLUMNS, height_ratios=ratios, hspace=0.6,
                            wspace=0.25, left=0.02, right=0.98, top=1 - 0.9 / fig.get_figheight(),
                            bottom=0.03)  # fmt: skip
    verdict = "" if p["accepted"] else f" (refused: {p['reason']})"
    fig.suptitle(
        f"{p['name']}, {max(p['probabilities']):.1%}{verdict}", y=1 - 0.2 / fig.get_figheight()
    )
    _image(fig.add_subplot(grid[0, 0:2]), e.image, "what the model saw", "gray")
    for j, (c, values) in enumerate(e.attribution.items()):
        ax = fig.add_subplot(grid[0, 2 + 2 * j : 4 + 2 * j])
        bound = float(np.abs(values).max()) or 1.0
        ax.imshow(values, cmap="RdBu_r", vmin=-bound, vmax=bound)
        ax.set_title(f"{e.classes[c]} ({p['probabilities'][c]:.1%}): red raises, blue lowers",
                     fontsize=8)  # fmt: skip
        ax.axis("off")
    _map(fig.add_subplot(grid[0, 6:]), places, e.map_point, e.classes)
    for j, (n, image) in enumerate(zip(e.neighbors, e.neighbor_images, strict=True)):
        title = f"{e.classes[n.label]}, d={n.distance:.3f}"
        _image(fig.add_subplot(grid[1, j]), image, ("nearest: " if j == 0 else "") + title, "gray")
    for i, layer in enumerate(e.layers, start=2):
        _layer(fig, grid, i, layer)
    return fig


def save(fig: Figure, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def _image(ax, image: np.ndarray, title: str, cmap: str) -> None:
    ax.imshow(image, cmap=cmap)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def _map(ax, places: DataMap, point: tuple[float, float], classes) -> None:
    ax.scatter(places.points[:, 0], places.points[:, 1], c=places.labels, cmap="tab10", s=2,
               vmin=-0.5, vmax=9.5)  # fmt: skip
    for c, name in enumerate(classes):  # each class's name where most of its points are
        here = places.points[places.labels == c]
        if len(here):
            x, y = np.median(here, axis=0)
            ax.text(
                x,
                y,
                name[:12],
                fontsize=7,
                ha="center",
                va="center",
                weight="bold",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7},
            )
    ax.scatter([point[0]], [point[1]], marker="*", s=220, c="black", edgecolors="white")
    ax.set_title("its place among test images", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def _layer(fig: Figure, grid, row: int, layer) -> None:
    if layer.kind == "dense":
        ax = fig.add_subplot(grid[row, :])
        shown = layer.channels[: SHOWN_MAPS * 2]
        ax.bar(range(len(shown)), layer.strength[: len(shown)], color="tab:orange")
        ax.set_xticks(range(len(shown)), [str(u) for u in shown], fontsize=6)
        ax.set_title(f"{layer.name}: strongest of {layer.shape[0]} units", fontsize=8)
        return
    top = float(np.maximum(layer.maps, 0).max()) or 1.0
    for j, (channel, m) in enumerate(zip(layer.channels[:SHOWN_MAPS], layer.maps, strict=False)):
        ax = fig.add_subplot(grid[row, j])
        ax.imshow(np.maximum(m, 0), cmap="magma", vmin=0, vmax=top)
        ax.set_title(f"#{channel}", fontsize=6)
        ax.axis("off")
        if j == 0:
            ax.text(0, -0.22, f"{layer.name}: {'×'.join(map(str, layer.shape))}", fontsize=7,
                    transform=ax.transAxes)  # fmt: skip
