"""`mnistlab export`: a run's model as one file that other runtimes run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnistlab.cli.common import RunDir, app, console, out


@app.command("export")
def export_cmd(
    run_dir: RunDir,
    fmt: Annotated[str, typer.Option("--format", help="onnx (the one format so far).")] = "onnx",
    to: Annotated[
        Path | None, typer.Option("--out", help="File to write (default RUN_DIR/model.onnx).")
    ] = None,
) -> None:
    """Export the whole model (normalization, averaging, softmax) as ONNX; prints its path.

    Input `images` float32 (N, 1, 28, 28) in [0, 1], output `probabilities` (N, 10).
    """
    from mnistlab.prediction.export import export_run

    path = export_run(run_dir, to, fmt)
    size = path.stat().st_size / 1e6
    console.print(f"exported {run_dir} as ONNX ({size:.1f} MB)", highlight=False, soft_wrap=True)
    out.print(str(path), markup=False, highlight=False, soft_wrap=True)
