"""RUN_DIR/explain/: the files explanations keep in a run folder, written atomically.

Each file is safetensors (arrays, no pickle) with the digest of the weights it was computed
from in its metadata: a file from other weights (the run trained on with --resume), or one
that cannot be read, is built again rather than trusted, and a folder that cannot be written
is one line saying so.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors import numpy as st

from mnistlab import atomic, runs
from mnistlab.errors import MnistlabError

FOLDER = "explain"
log = logging.getLogger("mnistlab.explanation")


def path(run_dir: str | Path, name: str) -> Path:
    return Path(run_dir) / FOLDER / name


def load(run_dir: str | Path, name: str) -> tuple[dict[str, np.ndarray], dict[str, str]] | None:
    """The arrays and metadata of RUN_DIR/explain/NAME, or None when it is missing, damaged
    or computed from other weights (the caller builds it again)."""
    file = path(run_dir, name)
    if not file.is_file():
        return None
    try:
        with safe_open(file, framework="numpy") as f:
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
            metadata = f.metadata() or {}
    except (OSError, SafetensorError, ValueError, TypeError) as e:
        log.warning("%s cannot be read (%s); building it again", file, e)
        return None
    if metadata.get("weights_sha256") != runs.weights_sha256(run_dir):
        log.info("%s was computed from other weights; building it again", file)
        return None
    return arrays, metadata


def save(run_dir: str | Path, name: str, arrays: dict[str, np.ndarray],
         metadata: dict[str, str]) -> None:  # fmt: skip
    """Write RUN_DIR/explain/NAME atomically, stamped with the weights' digest. A run folder
    that cannot be written only costs the time to build it again next time (logged)."""
    file = path(run_dir, name)
    stamped = {**metadata, "weights_sha256": runs.weights_sha256(run_dir)}
    data = st.save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata=stamped)
    try:
        atomic.write_bytes(file, data)
    except OSError as e:
        log.warning("cannot keep %s (%s); it is built again each time it is needed", file,
                    e.strerror or e)  # fmt: skip


def require(arrays: dict[str, np.ndarray], shapes: dict[str, str], file: Path) -> bool:
    """Whether a loaded file holds every array named, of the shapes named ("M,D": a letter is
    a size that must agree wherever it appears, a digit a fixed size); else it is logged and
    built again."""
    missing = [n for n in shapes if n not in arrays]
    if missing:
        log.warning("%s lacks %s; building it again", file, ", ".join(missing))
        return False
    sizes: dict[str, int] = {}
    for name, shape in shapes.items():
        dims = shape.split(",")
        found = arrays[name].shape
        fits = len(found) == len(dims) and all(
            int(d) == n if d.isdigit() else sizes.setdefault(d, n) == n
            for d, n in zip(dims, found, strict=False)
        )
        if not fits:
            log.warning("%s: %s has shape %s, not (%s); building it again", file, name,
                        list(found), shape)  # fmt: skip
            return False
    return True


def official(dataset: str):
    """The dataset's two official splits (mnistlab.data.Official, cached by the data layer):
    what the index and the map are built from and show; one line if they are not here."""
    from mnistlab.data import load_official

    try:
        return load_official(dataset)
    except MnistlabError as e:
        raise MnistlabError(f"explanations need the {dataset} images to compare with, which "
                            f"are not available ({e}); run `mnistlab data fetch {dataset}`"
                            ) from None  # fmt: skip
