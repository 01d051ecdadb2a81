"""A sweep's trials outlive the workers that ran them: a trial whose worker died (kill -9, a
lost machine) or was stopped (Ctrl-C) goes back to the queue, and runs again from its run
folder's checkpoint, under the same number and parameters.

Optuna leaves such a trial RUNNING; `--trials N` counts it, so a resumed sweep would end
with fewer than N finished trials (and none at all once RUNNING ones fill the count: no
worker starts, and Optuna's own check for stale trials, which runs as a worker starts a
trial, never runs either). Each trial records its worker (host, process id and start time);
`requeue_dead` puts a RUNNING trial back to WAITING when that process is gone on this host,
or, for another host's, when its heartbeat is stale. Ctrl-C puts the worker's own trial back
at once (`requeue`). A WAITING trial keeps its number, parameters and reported values, and
is taken before any new one.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState


class TrialInterrupted(BaseException):  # noqa: N818  # not an Exception: Optuna must not catch
    """Ctrl-C inside a trial, raised past Optuna's optimize(), which would otherwise mark the
    trial failed (it catches KeyboardInterrupt too); the worker puts the trial back."""


def this_worker() -> dict:
    """What a trial records of the process that runs it, to tell later whether it is alive."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": _started(os.getpid())}


def _started(pid: int) -> str | None:
    """A process's start time (clock ticks since boot, from /proc), so that a new process that
    got a dead one's id is not taken for it; None where /proc is not there."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime


def _alive(worker: dict) -> bool:
    try:
        os.kill(worker["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process, with that id: alive, and not ours to judge
    started = _started(worker["pid"])
    return started is None or worker.get("started") in (None, started)


def requeue(study: optuna.Study, trial: FrozenTrial | int) -> bool:
    """Put a RUNNING trial (or trial number) back in the queue, with a fresh heartbeat so that
    no worker takes it for stale before it runs again; False if it is no longer RUNNING."""
    storage = study._storage
    trial = trial if isinstance(trial, FrozenTrial) else study.trials[trial]
    try:
        if storage.get_trial(trial._trial_id).state != TrialState.RUNNING:
            return False
        storage.set_trial_state_values(trial._trial_id, TrialState.WAITING)
        with contextlib.suppress(Exception):  # no heartbeats in this storage: nothing to fresh
            storage.record_heartbeat(trial._trial_id)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    return True


def requeue_mine(study: optuna.Study) -> None:
    """Put back the RUNNING trials of this process (it was interrupted)."""
    me = this_worker()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("worker") == me:
            requeue(study, trial)


def requeue_dead(study: optuna.Study) -> list[int]:
    """Put back every RUNNING trial whose worker is gone; their numbers."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return []
    try:
        stale = set(study._storage._get_stale_trial_ids(study._study_id))
    except Exception:  # a storage without heartbeats
        stale = set()
    host = socket.gethostname()
    dead = []
    for trial in running:
        worker = trial.user_attrs.get("worker")
        here = isinstance(worker, dict) and worker.get("host") == host
        if (not _alive(worker) if here else trial._trial_id in stale) and requeue(study, trial):
            dead.append(trial.number)
    return dead


def folder_state(run_dir: Path) -> str:
    """How a trial that runs again finds its run folder: "new" (none, or nothing kept: what
    a dead start left is removed), "resume" (a checkpoint) or "finished" (trained to the
    end; the worker died before the study heard)."""
    from mnistlab import runs

    if (run_dir / runs.METRICS).is_file() and (run_dir / runs.WEIGHTS).is_file():
        return "finished"
    if runs.has_checkpoint(run_dir):
        return "resume"
    if run_dir.exists():
        runs.discard_run_dir(run_dir, created=True)
    return "new"


def interrupted_line(study: optuna.Study, out: Path, trials: int, workers: int,
                     storage: str | None, name: str | None) -> str:  # fmt: skip
    """What a sweep stopped by Ctrl-C says: how far it got and the command that goes on."""
    command = shlex.join(["mnistlab", "sweep", "--out", str(out), "--resume", "--trials",
                          str(trials), *(["--workers", str(workers)] if workers > 1 else []),
                          *(["--storage", storage] if storage else []),
                          *(["--study", name] if name else [])])  # fmt: skip
    done = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
    queued = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    back = f"; {queued} stopped trial(s) go on from their checkpoints" if queued else ""
    return f"interrupted with {done} of {trials} trials done{back}; continue with: {command}"


def worker_main(job: str) -> None:
    """A worker process of `mnistlab sweep --workers N`: Ctrl-C (which its trial has put back
    in the queue) ends it with status 130 and no traceback; its parent says what happened."""
    import json

    from mnistlab.training.sweep import work

    try:
        work(**json.loads(job))
    except (KeyboardInterrupt, TrialInterrupted):
        raise SystemExit(130) from None
