"""What a run says when it stops before its end, and what it leaves behind.

Ctrl-C and an error while writing (a full disk, a folder made read-only) are one line each:
where the run stopped, what its folder keeps, and the command that continues it. A new run
that kept no epoch leaves nothing behind (train.py removes what it wrote), so the same
command can simply be run again. A saved config.json that cannot settle is one line too.
"""

from __future__ import annotations

import errno
import shlex
from dataclasses import fields
from pathlib import Path

from mnistlab import reading, runs
from mnistlab.errors import MnistlabError, cannot_write
from mnistlab.training.settings import Settings


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with the line that says where the run stopped and how to continue it (empty
    on the ranks of a data-parallel run other than 0, which say nothing)."""


def resume_command(run_dir: Path, processes: int = 1) -> str:
    command = f"mnistlab train --out {shlex.quote(str(run_dir))} --resume"
    return command + (f" --nproc {processes}" if processes > 1 else "")


def stopped(error: BaseException, run_dir: Path, epochs: int, finishing: bool, lead: bool,
            processes: int) -> BaseException | None:  # fmt: skip
    """The one-line exception that replaces `error` (Ctrl-C, or an OSError while writing the
    run folder); None for any other error, which says what it says itself."""
    if isinstance(error, Interrupted):
        return None  # already said (a sweep's trial inside its worker)
    if isinstance(error, OSError) and error.filename is not None:
        return cannot_write(error, _after_write_error(error, run_dir, processes))
    if not isinstance(error, KeyboardInterrupt):
        return None
    if not lead:
        return Interrupted("")
    kept, command = _kept_epoch(run_dir), resume_command(run_dir, processes)
    if not kept and finishing:  # between the last file written and the checkpoint's removal
        return Interrupted(f"interrupted as the run finished; see {run_dir}")
    if not kept:
        return Interrupted(f"interrupted in epoch 1 of {epochs}; no epoch finished, so nothing "
                           "was kept: run the same command again to start over")  # fmt: skip
    if finishing:
        where = f"after epoch {kept} of {epochs}, while scoring the test split"
        return Interrupted(f"interrupted {where}; the checkpoint keeps epoch {kept}; finish "
                           f"with: {command}")  # fmt: skip
    return Interrupted(f"interrupted in epoch {kept + 1} of {epochs}; the last checkpoint is "
                       f"epoch {kept}; continue with: {command}")  # fmt: skip


def _after_write_error(error: OSError, run_dir: Path, processes: int) -> str:
    """What to do after a failed write: make room (or make the folder writable), then go on."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        remedy = "free space"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        remedy = f"make {run_dir} writable"
    else:
        remedy = "fix that"
    if not _kept_epoch(run_dir):
        return f"{remedy} and run the same command again (no epoch was kept)"
    return f"{remedy}, then continue with: {resume_command(run_dir, processes)}"


def _kept_epoch(run_dir: Path | None) -> int:
    """The epoch the run folder's checkpoint holds (0: none)."""
    if run_dir is None or not runs.has_checkpoint(run_dir):
        return 0
    try:
        return runs.checkpoint_state(run_dir)["epoch"]
    except MnistlabError:
        return 0


# config.json's kinds of Settings' fields (`reading` names JSON's kinds)
_KINDS = {"int": "int", "float": "number", "str": "str", "bool": "bool", "dict": "object",
          "tuple[float, float]": "list", "dict | None": "object|null"}  # fmt: skip
SAVED_KINDS = {f.name: _KINDS[str(f.type)] for f in fields(Settings)}


def check_saved(saved: dict, run_dir: Path) -> None:
    """The saved hyper-parameters a resumed run settles from: each of its Settings kind."""
    path = Path(run_dir) / runs.CONFIG
    reading.check_fields(saved, path, runs.fix(run_dir, runs.CONFIG), {}, SAVED_KINDS)
