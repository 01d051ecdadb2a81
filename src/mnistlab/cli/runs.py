"""`mnistlab evaluate`, `report` and `compare`: what a run folder shows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnistlab.cli import tables
from mnistlab.cli.common import JsonFlag, RunDir, app, console, out, print_json


@app.command("evaluate")
def evaluate_cmd(
    run_dir: RunDir,
    split: Annotated[
        str,
        typer.Option(help='test, or val (saved under "val" in metrics.json, plots in plots/val).'),
    ] = "test",
    json_out: JsonFlag = False,
) -> None:
    """Metrics, plots and report.html for a run; never changes its weights or history."""
    from mnistlab.evaluation.evaluate import evaluate_run
    from mnistlab.evaluation.report import write_report

    metrics = evaluate_run(run_dir, split)
    write_report(run_dir)
    if json_out:
        print_json(metrics)
    else:
        tables.evaluation(out, split, metrics)
    console.print(f"report: {run_dir / 'report.html'}")


@app.command("report")
def report_cmd(run_dir: RunDir) -> None:
    """Rebuild RUN_DIR/report.html from the run folder; prints its path."""
    from mnistlab.evaluation.report import write_report

    out.print(str(write_report(run_dir)), markup=False, highlight=False, soft_wrap=True)


@app.command("compare")
def compare_cmd(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run folders to compare.")],
    json_out: JsonFlag = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also write validation curves to this PNG.")
    ] = None,
) -> None:
    """A table of runs, best test accuracy first; runs that differ only by seed are one row
    (mean ± standard deviation; each seed's figures under "per_seed" in --json)."""
    from mnistlab.evaluation.compare import compare_runs, plot_comparison
    from mnistlab.evaluation.compare import run_dirs as members

    rows = compare_runs(_run_folders(run_dirs))
    if plot is not None:
        console.print(f"wrote {plot_comparison(members(rows), plot)}")
    if json_out:
        print_json(rows)
        return
    tables.comparison(out, rows)


def _run_folders(paths: list[Path]) -> list[Path]:
    """The paths that are run folders (they hold config.json), with one note for the rest,
    so that `mnistlab compare runs/*` works beside the files a demo writes there. With none,
    all of them: the first says what it lacks."""
    folders = [p for p in paths if (p / "config.json").is_file()]
    others = [str(p) for p in paths if p not in folders]
    if folders and others:
        note = f"skipped {len(others)} path(s) that are not run folders: {', '.join(others)}"
        console.print(note, markup=False, highlight=False, soft_wrap=True)
    return folders or paths
