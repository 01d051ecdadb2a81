"""`mnistlab export`: a run's model as one file that other runtimes run, or as a static page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnistlab.cli.common import RunDir, app, console, out
from mnistlab.errors import MnistlabError


@app.command("export")
def export_cmd(
    run_dir: RunDir,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="onnx (one file), or web (the draw-a-digit page as a static folder that runs "
            "the model in the browser: index.html, model.onnx, onnxruntime-web).",
        ),
    ] = "onnx",
    to: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="File to write (default RUN_DIR/model.onnx); web: the folder "
            "(default RUN_DIR/site).",
        ),
    ] = None,
) -> None:
    """Export the whole model (normalization, averaging, softmax) as ONNX; prints its path.

    Input `images` float32 (N, 1, 28, 28) in [0, 1], output `probabilities` (N, 10).
    `--format web` writes a folder that any static file server serves (`python -m
    http.server -d SITE`): no mnistlab process needed.
    """
    from mnistlab.prediction.export import FORMATS, export_run

    if fmt not in (*FORMATS, "web"):
        raise MnistlabError(f"unknown export format {fmt!r}; choose one of "
                            f"{', '.join((*FORMATS, 'web'))}")  # fmt: skip
    if fmt == "web":
        return _web(run_dir, to or Path(run_dir) / "site")

    path = export_run(run_dir, to, fmt)
    size = path.stat().st_size / 1e6
    console.print(f"exported {run_dir} as ONNX ({size:.1f} MB)", highlight=False, soft_wrap=True)
    out.print(str(path), markup=False, highlight=False, soft_wrap=True)


def _web(run_dir: Path, site: Path) -> None:
    from mnistlab.serve.site import write_site

    sizes = write_site(run_dir, site)
    parts = ", ".join(f"{name} {sizes[name] / 1e6:.2f} MB" for name in
                      ("model.onnx", "runtime", "page", "model.json"))  # fmt: skip
    console.print(f"exported {run_dir} as a static page: {sizes['total'] / 1e6:.1f} MB ({parts}); "
                  f"try it: python -m http.server -d {site}",
                  highlight=False, soft_wrap=True)  # fmt: skip
    out.print(str(site), markup=False, highlight=False, soft_wrap=True)
