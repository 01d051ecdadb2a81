"""`mnistlab train` and `mnistlab summary`: a run's flags, from mnistlab.training.settings."""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any

import typer

from mnistlab.cli import tables
from mnistlab.cli.common import DataDir, JsonFlag, app, out, print_json
from mnistlab.errors import MnistlabError
from mnistlab.models import MODELS
from mnistlab.training.settings import COMMON, HELP

log = logging.getLogger("mnistlab.cli")


RECIPE_KEYS = {  # the settings some model's recipe sets (for a dataset, a compute path)
    key
    for spec in MODELS.values()
    for layer in (spec.defaults, *spec.per_dataset.values(), *spec.per_precision.values())
    for key in layer
}


def _flag(name: str, *decls: str, **kwargs: Any) -> Any:
    """The option for Settings field `name`: its help is the field's (training.settings), with
    the default every model shares, or "per model" where each recipe sets its own."""
    default = COMMON.get(name)
    if name not in COMMON or name in RECIPE_KEYS:
        note = "(Default: per model.)"
    elif isinstance(default, tuple):
        note = f"(Default: {','.join(map(str, default))}.)"
    else:
        note = f"(Default: {str(default).lower() if isinstance(default, bool) else default}.)"
    return typer.Option(*decls, help=f"{HELP[name]} {note}", **kwargs)


@app.command("train")
def train_cmd(  # long only by its flags, one a line; the body is 20 lines
    dataset: Annotated[str | None, _flag("dataset")] = None,
    model: Annotated[str | None, _flag("model")] = None,
    epochs: Annotated[int | None, _flag("epochs")] = None,
    batch_size: Annotated[int | None, _flag("batch_size")] = None,
    lr: Annotated[float | None, _flag("lr")] = None,
    optimizer: Annotated[str | None, _flag("optimizer")] = None,
    schedule: Annotated[str | None, _flag("schedule")] = None,
    weight_decay: Annotated[float | None, _flag("weight_decay")] = None,
    shift: Annotated[int | None, _flag("shift")] = None,
    augment: Annotated[int | None, typer.Option(hidden=True)] = None,  # 0.1's --shift
    rotate: Annotated[float | None, _flag("rotate")] = None,
    scale: Annotated[float | None, _flag("scale")] = None,
    erase: Annotated[float | None, _flag("erase")] = None,
    flip: Annotated[bool | None, _flag("flip", "--flip/--no-flip")] = None,
    grow_from: Annotated[int | None, _flag("grow_from")] = None,
    label_smoothing: Annotated[float | None, _flag("label_smoothing")] = None,
    outlier_exposure: Annotated[float | None, _flag("outlier_exposure")] = None,
    betas: Annotated[str | None, _flag("betas")] = None,
    seed: Annotated[int | None, _flag("seed")] = None,
    seeds: Annotated[
        str | None, typer.Option(help="One run per seed, e.g. 0-4 or 0,1,2 (in OUT/seed-N).")
    ] = None,
    val_size: Annotated[int | None, _flag("val_size")] = None,
    calibration_size: Annotated[int | None, _flag("calibration_size")] = None,
    patience: Annotated[int | None, _flag("patience")] = None,
    train_limit: Annotated[int | None, _flag("train_limit")] = None,
    budget: Annotated[
        str | None, typer.Option(help="End inside this wall time, e.g. 30m or 1h: sets the epochs.")
    ] = None,
    nproc: Annotated[
        int, typer.Option(min=1, help="Processes on this machine, data-parallel (torchrun).")
    ] = 1,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads (default all; 1 on a busy machine).")
    ] = None,
    hidden: Annotated[
        str | None, typer.Option(help="numpy model: hidden sizes, e.g. 512 or 256,128.")
    ] = None,
    activation: Annotated[str | None, typer.Option(help="numpy model: relu or sigmoid.")] = None,
    device: Annotated[str, typer.Option(help="auto (CUDA if present), cpu or cuda.")] = "auto",
    precision: Annotated[
        str | None,
        typer.Option(
            help="auto (bf16 where native), bf16 or fp32 (default MNISTLAB_PRECISION, else auto)."
        ),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default runs/DATASET-MODEL-TIME).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out from its last epoch.")
    ] = False,
    from_run: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help=(
                "Start a new run (--out) from this finished run's weights: its model, a fresh "
                "schedule, the recipe's settings and yours; the run itself is left as it is."
            ),
        ),
    ] = None,  # fmt: skip
    log_every: Annotated[
        int, typer.Option(min=0, help="Also print batch loss and accuracy every N steps.")
    ] = 0,
    data_dir: DataDir = None,
    reject_outliers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Made-up non-digits the reject rule learns from at the end; 0: no rule "
            "(default MNISTLAB_REJECT_OUTLIERS, else 3000).",
        ),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Train a model; write config, weights, history and test metrics to a run folder."""
    options = dict(locals())  # first, so it holds the flags only
    from mnistlab.training.run import train

    if nproc > 1:  # the same command in N processes, started by torchrun's own entry point
        from mnistlab.training import distributed

        argv = distributed.without_nproc(sys.argv[1:])
        return distributed.launch(nproc, argv, model, out_dir if resume else None)
    config = train_config(options)
    if threads:
        limit_threads(threads)
    runs = _seeds(config, seeds) if seeds is not None else [{}]  # per run: what differs
    trained = [train(dataclasses.replace(config, **changes)) for changes in runs]
    documents = [{
        "run": str(run.dir), "dataset": run.config["dataset"], "model": run.config["model"],
        "epochs": len(run.history), "test_accuracy": run.metrics["accuracy"],
        "test_loss": run.metrics["loss"], "train_seconds": run.metrics["train_seconds"],
    } for run in trained]  # fmt: skip
    if json_out and os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 alone
        print_json(documents[0] if seeds is None else documents)


def train_config(options: dict[str, Any]):
    """The TrainConfig of `train`'s flags (a dict of them by name; `mnistlab sweep` passes its
    own, which are train's)."""
    from mnistlab.training import budget as budgets
    from mnistlab.training.run import TrainConfig

    converted = {  # the flags whose text becomes another type, or whose name differs
        "budget": budgets.parse(options["budget"]) if options["budget"] is not None else None,
        "hidden": _numbers(options["hidden"], int, "--hidden", "512 or 256,128"),
        "betas": _numbers(options["betas"], float, "--betas", "0.9,0.999"),
        "out": str(options["out_dir"]) if options.get("out_dir") else None,
        "from_run": str(options["from_run"]) if options.get("from_run") else None,
        "data_dir": str(options["data_dir"]) if options["data_dir"] else None,
        "shift": _renamed("--augment", options["augment"], "--shift", options["shift"]),
    }
    return TrainConfig(**_config_values(TrainConfig, options) | converted)


def train_options() -> list[inspect.Parameter]:
    """`train`'s flags as parameters, declarations and help included, for commands that pass
    them through (`mnistlab sweep`); the flags that only make one run are left out."""
    own = ("out_dir", "resume", "from_run", "json_out", "seeds", "nproc")
    parameters = inspect.signature(train_cmd, eval_str=True).parameters.values()
    return [p for p in parameters if p.name not in own]


def as_flags(values: dict[str, Any]) -> list[str]:
    """The `mnistlab train` flags that give these TrainConfig values (the inverse of
    train_config): every flag is named after its field."""
    flags = []
    for name, value in values.items():
        flag = f"--{name.replace('_', '-')}"
        if isinstance(value, bool):
            flags.append(flag if value else f"--no-{name}")
        elif name == "budget":
            flags += [flag, f"{value:g}s"]
        else:
            text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
            flags += [flag, text]
    return flags


def _seeds(config, text: str) -> list[dict]:
    """`--seeds 0-4` or `0,1,2` → one run per seed, in OUT/seed-N when --out is given."""
    if config.seed is not None or config.resume:
        raise MnistlabError("--seeds makes one run per seed: drop --seed and --resume (resume "
                            "one seed's run with --out DIR/seed-N --resume)")  # fmt: skip
    try:
        seeds = [seed for part in text.split(",") for seed in _seed_range(part)]
    except ValueError:
        raise MnistlabError(
            f"--seeds takes a range like 0-4 or a list like 0,1,2, got {text!r}"
        ) from None
    if len(set(seeds)) != len(seeds) or not seeds:
        raise MnistlabError(f"--seeds names each seed once, got {text!r}")
    out = config.out
    return [{"seed": seed, "out": str(Path(out) / f"seed-{seed}") if out else None}
            for seed in seeds]  # fmt: skip


def _seed_range(part: str) -> range:
    low, _, high = part.strip().partition("-")
    low = int(low)
    high = int(high) if high else low
    if high < low:
        raise ValueError(part)
    return range(low, high + 1)


def _renamed(old: str, old_value: Any, new: str, value: Any) -> Any:
    """A flag's 0.1 spelling still works until 0.3, with one line saying the new one."""
    if old_value is None:
        return value
    log.warning("%s is now called %s; the old name goes in 0.3", old, new)
    return old_value if value is None else value


def _config_values(config_class: type, options: dict[str, Any]) -> dict[str, Any]:
    """The options named like a field of the config dataclass: each field is written once,
    there, and a flag reaches it by having the same name."""
    return {f.name: options[f.name] for f in fields(config_class) if f.name in options}


def _numbers(text: str | None, kind: type, flag: str, example: str) -> tuple | None:
    """ "512,256" → (512, 256) for list-valued flags; a malformed list is a user error."""
    if text is None:
        return None
    try:
        return tuple(kind(part) for part in text.split(","))
    except ValueError:
        raise MnistlabError(f"{flag} takes numbers like {example}, got {text!r}") from None


def limit_threads(threads: int) -> None:
    """Cap torch's and the BLAS/OpenMP pools: on a shared machine, threads that wait for
    each other at every parallel region are many times slower than one thread."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)


@app.command("summary")
def summary_cmd(
    model: Annotated[str, typer.Option(help=HELP["model"])] = "cnn",
    dataset: Annotated[
        str, typer.Option(help="Its pixel statistics fill the Normalize layer.")
    ] = "mnist",
    data_dir: DataDir = None,  # still accepted; the registry's constants need no data
    json_out: JsonFlag = False,
) -> None:
    """Layers, output shapes and parameter counts of a model, like Keras' model.summary()."""
    from mnistlab.data import get_spec
    from mnistlab.models import build_model, get_model_spec

    spec = get_model_spec(model)
    data = get_spec(dataset)
    m = build_model(model, mean=data.pixel_mean, std=data.pixel_std)
    rows = m.summary()
    if json_out:
        print_json({"model": model, "layers": rows, "total_params": m.num_parameters()})
        return
    tables.model_summary(out, model, spec.about, rows, m.num_parameters())
