"""What a run says when it cannot go on: a saved config.json that cannot settle is one line."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from mnistlab import reading, runs
from mnistlab.training.settings import Settings

# config.json's kinds of Settings' fields (`reading` names JSON's kinds)
_KINDS = {"int": "int", "float": "number", "str": "str", "bool": "bool", "dict": "object",
          "tuple[float, float]": "list", "dict | None": "object|null"}  # fmt: skip
SAVED_KINDS = {f.name: _KINDS[str(f.type)] for f in fields(Settings)}


def check_saved(saved: dict, run_dir: Path) -> None:
    """The saved hyper-parameters a resumed run settles from: each of its Settings kind."""
    path = Path(run_dir) / runs.CONFIG
    reading.check_fields(saved, path, runs.fix(run_dir, runs.CONFIG), {}, SAVED_KINDS)
