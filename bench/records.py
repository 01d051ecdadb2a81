"""Benchmark records: one JSON line per invocation in bench/results/<bench>.jsonl.

A record keeps a figure with what it depends on: the date (UTC), the commit ("+dirty" when
tracked files had changes), the command (as run from the repository root with the project's
.venv, whichever interpreter ran it) and its parsed arguments, the machine (with its
`machine.line` and `machine.kind`), and `results`, the document the script's `--json` prints
less its machine. `bench/summary.py` renders every record into docs/benchmarks.md, so prose
cites a record instead of copying a figure. Each record is appended with one write in append
mode, and the files merge as a union (.gitattributes): records are never rewritten.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-record", action="store_true",
                        help="append no record to bench/results/ (a quick trial)")  # fmt: skip


def parse(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """A benchmark's arguments, with --no-record and the compute path (machine.add_options),
    applied before anything is measured. Benchmarks that start their own processes take
    add_options alone."""
    machine.add_options(parser)
    add_options(parser)
    args = parser.parse_args()
    machine.apply_options(args)
    return args


def commit() -> str | None:
    """The short commit of the checkout, "+dirty" when tracked files changed (other than the
    records and the page rendered from them); None outside git."""
    try:
        sha = _git("rev-parse", "--short", "HEAD")
        changed = _git("status", "--porcelain", "--untracked-files=no", "--", ".",
                       ":(exclude)bench/results", ":(exclude)docs/benchmarks.md")  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha + ("+dirty" if changed else "")


def _git(*args: str) -> str:
    run = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return run.stdout.strip()


def append(
    bench: str,
    args: argparse.Namespace,
    results: dict,
    info: dict,
    folder: Path = RESULTS,
) -> dict:
    """Append one record of `bench` to FOLDER/<bench>.jsonl and return it."""
    record = {
        "bench": bench,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit(),
        "command": shlex.join([".venv/bin/python", f"bench/{bench}.py", *sys.argv[1:]]),
        "args": vars(args),
        "machine": {**info, "line": machine.line(info), "kind": machine.kind(info)},
        "results": {k: v for k, v in results.items() if k != "machine"},
        "carried_over": None,
    }
    line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{bench}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write: concurrent runs never interleave a line
    finally:
        os.close(fd)
    return record


def finish(
    script: str,
    args: argparse.Namespace,
    results: dict,
    info: dict,
    missed: Sequence[str] = (),
) -> int:
    """The end of every benchmark: append its record (unless --no-record), then name what it
    missed in one line on stderr. Returns the exit status: 1 when a target was missed."""
    bench = Path(script).stem
    if not args.no_record:
        append(bench, args, results, info)
    if missed:
        print(f"{bench}: missed {'; '.join(missed)}", file=sys.stderr)
    return 1 if missed else 0
