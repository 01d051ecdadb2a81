"""Search hyper-parameters with Optuna: each trial an ordinary run folder, scored on validation.

A sweep is an Optuna study in a database (SQLite in the sweep's folder by default; a
PostgreSQL URL lets workers on many machines share it). The study stores what it searches and
what every trial shares (`Sweep`), so a worker that joins needs only the storage and the study's
name. Each trial trains with mnistlab.training.run.train into DIR/trial-NNNN, reports every epoch's
validation accuracy to a median pruner and returns the last one: test figures never steer it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.trial import TrialState

from mnistlab import runs
from mnistlab.errors import MnistlabError
from mnistlab.evaluation import plots
from mnistlab.training import requeue
from mnistlab.training.run import TrainConfig, train
from mnistlab.training.settings import GIVEN, Settings, settle

TYPES = {"int": int, "float": float, "str": str, "bool": bool}
NOT_SEARCHED = ("val_size", "budget")  # the objective's yardstick; --budget sets the epochs
SEARCHABLE = {f.name: TYPES[f.type] for f in fields(Settings)
              if f.name in GIVEN and f.type in TYPES and f.name not in NOT_SEARCHED}  # fmt: skip
FORM = (
    "name=LOW..HIGH[:log] for a range or name=a,b,c for choices, "
    "e.g. lr=1e-3..3e-2:log or batch_size=128,256,512"
)
STATES = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned",
          TrialState.FAIL: "failed", TrialState.RUNNING: "running"}  # fmt: skip
HEARTBEAT_S = 30  # a trial silent for 2 heartbeats (its worker died) is stale (requeue.py)
optuna.logging.set_verbosity(optuna.logging.ERROR)  # each trial prints its own line


@dataclass(frozen=True)
class Param:
    """One searched Settings field: a range (`low`..`high`, maybe log-scaled) or `choices`."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()

    def suggest(self, trial: optuna.Trial):
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        if SEARCHABLE[self.name] is int:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def text(self) -> str:
        """The --param form it was parsed from (the study stores this)."""
        if self.choices:
            return f"{self.name}={','.join(map(_text, self.choices))}"
        return f"{self.name}={self.low}..{self.high}{':log' if self.log else ''}"

    def extremes(self) -> tuple:
        """The values that settle() must accept for every trial to be trainable."""
        return self.choices or (self.low, self.high)


def parse_param(text: str) -> Param:
    """`lr=1e-3..3e-2:log`, `epochs=1..4` or `batch_size=128,256` → Param; else one line."""
    name, sep, spec = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not spec.strip():
        raise MnistlabError(f"bad --param {text!r}: expected {FORM}")
    if name not in SEARCHABLE:
        raise MnistlabError(
            f"bad --param {text!r}: {name!r} cannot be searched; choose one of "
            f"{', '.join(SEARCHABLE)} (form {FORM})"
        )
    kind = SEARCHABLE[name]
    try:
        if ".." not in spec:
            return Param(name, choices=tuple(_value(kind, c.strip()) for c in spec.split(",")))
        bounds, _, scale = spec.partition(":")
        low, high = (kind(b.strip()) for b in bounds.split(".."))
        if kind not in (int, float) or scale not in ("", "log"):
            raise ValueError
    except ValueError:
        raise MnistlabError(f"bad --param {text!r}: expected {FORM}") from None
    if not low < high:
        raise MnistlabError(f"bad --param {text!r}: LOW must be below HIGH ({FORM})")
    if scale and low <= 0:
        raise MnistlabError(f"bad --param {text!r}: a :log range needs LOW > 0 ({FORM})")
    return Param(name, low, high, scale == "log")


def _value(kind: type, text: str):
    """A choice's text as the field's type; ValueError if it is not one."""
    if kind is not bool:
        return kind(text)
    if text.lower() not in ("true", "false"):
        raise ValueError(text)
    return text.lower() == "true"


def _text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Sweep:
    """What a study searches and what its trials share; stored in the study itself."""

    params: tuple[Param, ...]
    train: dict  # TrainConfig run values every trial shares; None: the model's recipe
    prune: bool = True  # a median pruner stops trials below the median of the finished ones
    prune_after: int = 5  # ...once this many trials have finished

    def to_dict(self) -> dict:
        return {"params": [p.text() for p in self.params], "train": self.train,
                "prune": self.prune, "prune_after": self.prune_after}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> Sweep:
        params = tuple(parse_param(p) for p in d["params"])
        return cls(params, d["train"], d["prune"], d["prune_after"])


def check(sweep: Sweep) -> None:
    """Refuse a sweep whose trials could not train, before anything is written."""
    names = [p.name for p in sweep.params]
    if not names:
        raise MnistlabError(f"give at least one --param to search ({FORM})")
    twice = [n for n in names if names.count(n) > 1]
    if twice:
        raise MnistlabError(f"--param {twice[0]} is given twice; give each parameter once")
    fixed = [n for n in names if sweep.train.get(n) is not None]
    if fixed:
        flag = f"--{fixed[0].replace('_', '-')}"
        raise MnistlabError(f"{fixed[0]} is both searched (--param) and fixed ({flag}); drop one")
    for p in sweep.params:
        for value in p.extremes():
            settings = settle({**sweep.train, p.name: value})
    if not settings.val_size:
        raise MnistlabError("a sweep scores trials on the validation split: give --val-size > 0")


def open_study(out: Path, storage: str | None, name: str, sweep: Sweep | None,
               resume: bool) -> tuple[optuna.Study, Sweep]:  # fmt: skip
    """Create the study (refusing one that exists) or, with `resume`, load it and its Sweep."""
    url = storage or f"sqlite:///{out / 'study.db'}"
    if not resume:
        if sweep is None:
            raise MnistlabError(f"give at least one --param to search ({FORM})")
        check(sweep)
        if out.exists() and any(out.iterdir()):
            raise MnistlabError(f"{out} is not empty; pass --resume to continue its sweep, "
                                "or choose another --out")  # fmt: skip
    elif storage is None and not (out / "study.db").exists():
        raise MnistlabError(f"no sweep in {out} (no study.db); start it without --resume")
    out.mkdir(parents=True, exist_ok=True)
    try:
        db = _storage(url)
    except Exception as e:  # SQLAlchemy's many errors: a bad URL, a missing driver, no server
        raise MnistlabError(f"cannot open the sweep storage {url}: {e}") from None
    names = [s.study_name for s in optuna.get_all_study_summaries(db)]
    if resume:
        if name not in names:
            raise MnistlabError(f"no study {name!r} in {url}; start it without --resume")
        study = optuna.load_study(study_name=name, storage=db)
        if not isinstance(study.user_attrs.get("mnistlab"), dict):
            raise MnistlabError(f"the study {name!r} in {url} is not a mnistlab sweep (it "
                                "stores no --param); give another --study or --out")  # fmt: skip
        stored = Sweep.from_dict(study.user_attrs["mnistlab"])
        if sweep is not None and sweep != stored:
            searched = " ".join(stored.to_dict()["params"])
            raise MnistlabError("a resumed sweep keeps its --param and train flags; drop them "
                                f"(the study searches {searched})")  # fmt: skip
        return study, stored
    if name in names:
        raise MnistlabError(f"{url} already holds a study {name!r}; pass --resume to continue "
                            "it, or give another --study")  # fmt: skip
    study = optuna.create_study(study_name=name, storage=db, direction="maximize")
    study.set_user_attr("mnistlab", sweep.to_dict())
    return study, sweep


def run_sweep(out: Path, trials: int, sweep: Sweep | None = None, *, storage: str | None = None,
              study: str | None = None, workers: int = 1, resume: bool = False,
              how: dict | None = None, seed: int = 0,
              threads: int | None = None) -> tuple[list[dict], Sweep]:  # fmt: skip
    """Run the study until it holds `trials` trials, with `workers` local processes (each of
    `threads` threads, default 1; one worker runs in this process); write DIR/sweep.png.
    The trials, best first (results()), and the study's Sweep. `how`: TrainConfig's device,
    precision, data_dir and log_every on this machine; `seed` seeds the sampler."""
    out = Path(out)
    name = study or out.name
    study_, sweep = open_study(out, storage, name, sweep, resume)
    for number in requeue.requeue_dead(study_) if resume else ():
        print(f"trial {number}: its worker had stopped; it runs again from its checkpoint",
              file=sys.stderr, flush=True)  # fmt: skip
    remaining = trials - len(_counted(study_))
    shares = [remaining // workers + (i < remaining % workers) for i in range(workers)]
    job = dict(out=str(out), storage=storage or f"sqlite:///{out / 'study.db'}", study=name,
               trials=trials, how=how or {}, seed=seed)  # fmt: skip
    try:
        if workers == 1 and remaining > 0:
            work(**job, share=remaining, worker=0)
        elif remaining > 0:
            _run_workers(job, [s for s in shares if s], out, threads or 1)
    except (KeyboardInterrupt, requeue.TrialInterrupted):
        said = requeue.interrupted_line(study_, out, trials, workers, storage, study)
        print(said, file=sys.stderr, flush=True)
        raise KeyboardInterrupt from None  # the CLI's exit status 130
    rows = results(optuna.load_study(study_name=name, storage=job["storage"]))
    plots.save(plots.sweep(rows, sweep.params), out / "sweep.png")
    return rows, sweep


def _run_workers(job: dict, shares: list[int], out: Path, threads: int) -> None:
    """One process per share: N processes on one study, as N machines would join it."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    code = "import sys; from mnistlab.training.requeue import worker_main; "
    code += "worker_main(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", code,
                               json.dumps({**job, "share": share, "worker": i})], env=env)
             for i, share in enumerate(shares)]  # fmt: skip
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:  # Ctrl-C: each worker puts its trial back, then ends
        _stop(procs)
        raise
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
    if 130 in codes:  # a worker was interrupted on its own
        raise KeyboardInterrupt
    failed = [i for i, code in enumerate(codes) if code != 0]
    if failed:
        raise MnistlabError(f"sweep worker {failed[0]} failed; see its trial's log in {out}/logs")


def _stop(procs: list[subprocess.Popen]) -> None:
    """Let interrupted workers put their trials back: a terminal's Ctrl-C reached them too;
    one that did not get it gets it now."""
    for signalled in (False, True):
        for p in procs:
            if signalled and p.poll() is None:
                p.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=30 if signalled else 2)


def sampler_seed(seed: int, worker: int, done: int) -> int:
    """One sampler seed per (sweep seed, worker, trials already in the study), so workers
    never draw the same parameters; a sum of the three collided (worker 1 at 0 trials and
    worker 0 at 1 sampled alike)."""
    return int(np.random.SeedSequence([seed, worker, done]).generate_state(1)[0])


def work(out: str, storage: str, study: str, trials: int, share: int, worker: int,
         how: dict, seed: int) -> None:  # fmt: skip
    """A worker: run `share` trials of the study (fewer if it reaches `trials` in all)."""
    db = _storage(storage)
    stored = optuna.load_study(study_name=study, storage=db)
    sweep = Sweep.from_dict(stored.user_attrs["mnistlab"])
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=sweep.prune_after)
              if sweep.prune else optuna.pruners.NopPruner())  # fmt: skip
    sampler = optuna.samplers.TPESampler(seed=sampler_seed(seed, worker, len(stored.trials)))
    study_ = optuna.load_study(study_name=study, storage=db, sampler=sampler, pruner=pruner)
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
    try:
        study_.optimize(
            lambda trial: _objective(trial, sweep, Path(out), how), n_trials=share,
            catch=(MnistlabError,), callbacks=[optuna.study.MaxTrialsCallback(trials, states)],
        )  # fmt: skip
    except (KeyboardInterrupt, requeue.TrialInterrupted):  # Ctrl-C: its trial goes back
        requeue.requeue_mine(study_)
        raise


def _objective(trial: optuna.Trial, sweep: Sweep, out: Path, how: dict) -> float:
    """_trial, with Ctrl-C raised past Optuna, which would mark the trial failed."""
    try:
        return _trial(trial, sweep, out, how)
    except KeyboardInterrupt:
        raise requeue.TrialInterrupted(trial.number) from None


def _trial(trial: optuna.Trial, sweep: Sweep, out: Path, how: dict) -> float:
    """Train one trial's run folder (or, for a trial put back in the queue, continue it from
    its checkpoint); its last validation accuracy (pruned: TrialPruned)."""
    trial.set_user_attr("worker", requeue.this_worker())  # to tell later if it is still alive
    params = {p.name: p.suggest(trial) for p in sweep.params}
    run_dir, log = out / f"trial-{trial.number:04d}", out / "logs" / f"trial-{trial.number:04d}.log"
    trial.set_user_attr("run", str(run_dir))
    config = TrainConfig(**{**sweep.train, **params}, **how, out=str(run_dir))
    again = requeue.folder_state(run_dir)
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in params.items())  # fmt: skip

    # After its last epoch a trial's training is done: it is scored, not pruned (unless a
    # budget sets its epochs as it goes).
    last = None if config.budget else settle(config.run_values()).epochs

    def report(row: dict, model) -> None:
        trial.report(row["val_acc"], row["epoch"])
        if row["epoch"] != last and trial.should_prune():
            runs.save_model(run_dir, model)  # so evaluate, report and compare work on it
            raise optuna.TrialPruned(f"val_acc {row['val_acc']:.4f} after epoch {row['epoch']}")

    log.parent.mkdir(exist_ok=True)
    started = time.perf_counter()
    if again == "resume":
        config = TrainConfig(**how, out=str(run_dir), resume=True)  # every setting saved
        with warnings.catch_warnings():  # "already reported": the epochs it heard before
            warnings.simplefilter("ignore")
            for row in runs.checkpoint_state(run_dir)["history"]:
                trial.report(row["val_acc"], row["epoch"])
    try:
        if again == "finished":
            history = runs.load_history(run_dir)
        else:
            with open(log, "a" if again == "resume" else "w", encoding="utf-8") as f, \
                 contextlib.redirect_stderr(f):  # fmt: skip
                history = train(config, on_epoch_end=report).history
    except (optuna.TrialPruned, MnistlabError) as e:
        end = "pruned" if isinstance(e, optuna.TrialPruned) else "failed"
        trial.set_user_attr("why", str(e))
        print(f"trial {trial.number}: {end}, {e} ({shown})", file=sys.stderr, flush=True)
        raise
    value = history[-1]["val_acc"]
    print(f"trial {trial.number}: val_acc {value:.4f} ({shown}), "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)  # fmt: skip
    return value


def _storage(url: str) -> optuna.storages.RDBStorage:
    """The study's database, with heartbeats (experimental in Optuna 5, said once here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_S)


def _counted(study: optuna.Study) -> list:
    """The trials that count towards --trials: all but those queued and not yet started."""
    return [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]


def results(study: optuna.Study) -> list[dict]:
    """One row per trial: finished best first (higher val_acc), then pruned, failed, running."""
    rows = []
    for t in _counted(study):
        steps = t.intermediate_values
        value = t.value if t.value is not None else (steps[max(steps)] if steps else None)
        rows.append({"trial": t.number, "state": STATES[t.state], "val_acc": value,
                     "epochs": len(steps), "params": t.params, "run": t.user_attrs.get("run"),
                     "why": t.user_attrs.get("why"),
                     "seconds": t.duration.total_seconds() if t.duration else None})  # fmt: skip
    order = list(STATES.values())
    return sorted(rows, key=lambda r: (order.index(r["state"]), -(r["val_acc"] or 0), r["trial"]))


def best_train_values(best: dict, sweep: Sweep) -> dict:
    """The run values that repeat a finished trial (what `mnistlab train` needs)."""
    return {k: v for k, v in {**sweep.train, **best["params"]}.items() if v is not None}
