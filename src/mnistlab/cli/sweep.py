"""`mnistlab sweep`: an Optuna search whose trials are `mnistlab train` runs (training.sweep).

Its flags are its own (below) and every flag of `mnistlab train` that makes a run, taken from
that command's declarations (cli/train.py), so help, defaults and checks are written once.
"""

from __future__ import annotations

import inspect
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from mnistlab.cli import tables
from mnistlab.cli import train as train_cli
from mnistlab.cli.common import JsonFlag, app, console, out, print_json
from mnistlab.errors import MnistlabError

HOW = ("device", "precision", "data_dir", "log_every")  # this machine's, not the study's
STORAGE = (
    "Optuna database URL (default sqlite:///OUT/study.db); PostgreSQL lets workers on many "
    "machines join."
)
PRUNE = "Stop a trial below the median of the finished ones at the same epoch (default)."
OUT = "Sweep folder: study.db, trial-NNNN/, logs/, sweep.png (default runs/sweeps/...)."


def _sweep_flags(  # the declarations of the sweep's own flags; sweep_cmd takes them
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="A searched setting: name=LOW..HIGH[:log] (numbers) or name=a,b,c (choices), "
            "e.g. lr=1e-3..3e-2:log or batch_size=128,256,512; repeat for more.",
        ),
    ] = None,
    trials: Annotated[int, typer.Option(min=1, help="Trials the study holds at the end.")] = 20,
    workers: Annotated[int, typer.Option(min=1, help="Local worker processes, 1 thread each.")] = 1,
    storage: Annotated[str | None, typer.Option(help=STORAGE)] = None,
    study: Annotated[str | None, typer.Option(help="Study name (default: OUT's name).")] = None,
    prune: Annotated[bool, typer.Option("--prune/--no-prune", help=PRUNE)] = True,
    prune_after: Annotated[int, typer.Option(min=0, help="Finished trials before pruning.")] = 5,
    out_dir: Annotated[Path | None, typer.Option("--out", help=OUT)] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the study of --out.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Declarations only: sweep_cmd's signature is these and train's run flags."""


def sweep_cmd(**options: Any) -> None:
    """Search hyper-parameters with Optuna: each trial a run folder, scored on validation."""
    from mnistlab import runs
    from mnistlab.training import sweep

    config = train_cli.train_config(options)
    run_values = {k: list(v) if isinstance(v, tuple) else v  # as the study's JSON keeps them
                  for k, v in config.run_values().items()}  # fmt: skip
    if options["resume"] and options["out_dir"] is None:
        raise MnistlabError("--resume needs --out DIR, the sweep folder to continue")
    given = options["param"] or any(v is not None for v in run_values.values())
    plan = None
    if given or not options["resume"]:
        params = tuple(sweep.parse_param(p) for p in options["param"] or ())
        plan = sweep.Sweep(params, run_values, options["prune"], options["prune_after"])
    folder = options["out_dir"] or runs.default_run_dir(
        config.dataset or "mnist", config.model or "cnn", root="runs/sweeps"
    )
    how = {k: getattr(config, k) for k in HOW}
    if options["threads"] and options["workers"] == 1:
        train_cli.limit_threads(options["threads"])
    rows, stored = sweep.run_sweep(
        folder, options["trials"], plan, storage=options["storage"], study=options["study"],
        workers=options["workers"], resume=options["resume"], how=how, seed=config.seed or 0,
        threads=options["threads"],
    )  # fmt: skip
    best = next((r for r in rows if r["state"] == "complete"), None)
    command = None
    if best is not None:
        given_how = {k: v for k, v in how.items() if v not in (None, "auto", 0)}
        flags = train_cli.as_flags(sweep.best_train_values(best, stored) | given_how)
        command = shlex.join(["mnistlab", "train", *flags])
    if options["json_out"]:
        print_json({"out": str(folder), "plot": str(folder / "sweep.png"), "trials": rows,
                    "best": best and {**best, "command": command}})  # fmt: skip
        return
    tables.sweep(out, rows, [p.name for p in stored.params])
    console.print(f"plot: {folder / 'sweep.png'}")
    if best is None:
        raise MnistlabError(f"no trial finished; see the logs in {folder / 'logs'}")
    out.print(f"best: trial {best['trial']}, val_acc {best['val_acc']:.2%}; to train it:")
    out.print(command, markup=False, highlight=False, soft_wrap=True)


_parameters = [
    *inspect.signature(_sweep_flags, eval_str=True).parameters.values(),
    *train_cli.train_options(),
]
sweep_cmd.__signature__ = inspect.Signature(_parameters)  # type: ignore[attr-defined]
sweep_cmd.__annotations__ = {p.name: p.annotation for p in _parameters}
app.command("sweep")(sweep_cmd)
