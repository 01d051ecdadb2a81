"""Render the benchmark records into docs/benchmarks.md and the README's results table.

Every bench/results/<bench>.jsonl line is one record (bench/records.py). The page has a
section per benchmark and, per CPU kind, the newest record of each distinct command: its
command, a table of its figures, the date, commit and machine line, and its targets. The
README's one results table (between `<!-- results:start -->` and `<!-- results:end -->`,
when the markers are there) shows REFERENCE_KIND's accuracy per model and dataset and the
time-to-99% speed-up, with the commands that produced them. Only the standard library, so
that rendering is quick and needs no set-up; it runs no benchmark.

    python3 bench/summary.py            # write docs/benchmarks.md (and the README's table)
    python3 bench/summary.py --check    # exit 1 when either is out of date with the records
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from render import RENDER, fmt, targets_line  # noqa: E402  (bench/ is a folder of scripts)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PAGE, README = ROOT / "docs" / "benchmarks.md", ROOT / "README.md"
REFERENCE_KIND = "Intel Xeon (AMX)"  # the CPU kind of the README's table: the most complete
MARKERS = ("<!-- results:start -->", "<!-- results:end -->")
COMMAND = "python3 bench/summary.py"


def load(folder: Path = RESULTS) -> list[dict]:
    """Every record of every bench/results/*.jsonl, in file order."""
    found = []
    for path in sorted(folder.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    found.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise SystemExit(f"{path}:{number}: not a JSON record ({e})") from None
    return found


def kind(record: dict) -> str:
    return (record.get("machine") or {}).get("kind") or "unknown CPU"


def key(record: dict) -> str:
    """What makes two records the same measurement: the command, less its output format."""
    return " ".join(word for word in record.get("command", "").split() if word != "--json")


def newest(records: Iterable[dict], by: Callable[[dict], object]) -> list[dict]:
    """The newest record per `by(record)`, newest first (a later line wins a tie of dates)."""
    chosen = {}
    for record in sorted(records, key=lambda r: r.get("date") or ""):
        chosen[by(record)] = record
    return sorted(chosen.values(), key=lambda r: r.get("date") or "", reverse=True)


def kinds(records: Iterable[dict]) -> list[str]:
    """The CPU kinds in these records, REFERENCE_KIND first, the others by name."""
    return sorted({kind(r) for r in records}, key=lambda k: (k != REFERENCE_KIND, k))


NOT_SCRIPTS = {  # record files of commands that are not a bench/ script
    "suite": "`make test` in a fresh clone: tests passed and seconds.",
    "demo": "`make demo`: its training time, test accuracy and the whole command's time.",
    "make_bench": "`make bench` as a whole.",
    "train": "`mnistlab train` runs: recipes, their variants and budgets.",
    "sweep": "`mnistlab sweep` runs.",
    "probe": "One-off measurements by throwaway scripts and profilers, kept for the record.",
}


def what(bench: str) -> str:
    """The first line of the benchmark script's docstring: what it measures."""
    script = ROOT / "bench" / f"{bench}.py"
    if not script.exists():
        return NOT_SCRIPTS.get(bench, f"`bench/{bench}.py` (not in this checkout).")
    return (ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or "").split("\n")[0]


def stamp(record: dict, with_machine: bool = True) -> str:
    """Date, commit, machine line, and where a carried-over figure came from."""
    date = record.get("date") or "–"
    date = date.replace("T", " ")[:16] + (" UTC" if "T" in date else "")
    parts = [date, f"commit {record.get('commit') or '–'}"]
    line = (record.get("machine") or {}).get("line")
    parts += [f"`{line}`"] if line and with_machine else []
    if record.get("carried_over"):
        parts.append(f"carried over from {record['carried_over']}")
    return ", ".join(parts) + "."


def block(record: dict) -> list[str]:
    """One record: its command, its figures, its stamp and its targets."""
    results = record.get("results") or {}
    lines = ["```", record.get("command", "–"), "```", ""]
    lines += RENDER.get(record.get("bench", ""), lambda _: [])(results)
    lines += ["", stamp(record)]
    lines += [targets_line(results)] if "targets" in results else []
    return lines + [""]


def page(records: list[dict]) -> str:
    """docs/benchmarks.md: the newest record per command and CPU kind, per benchmark."""
    lines = [
        "# Benchmark figures",
        "",
        f"Generated by `{COMMAND}` (`make benchmarks`) from the records in `bench/results/`;",
        "do not edit by hand. Each benchmark run appends a record (`--no-record` skips it); this",
        "page shows, per benchmark and CPU kind, the newest record of each command. A target",
        "missed makes the benchmark exit 1.",
        "",
    ]
    benches = list(RENDER) + sorted({r.get("bench", "") for r in records} - set(RENDER))
    for bench in benches:
        mine = [r for r in records if r.get("bench") == bench]
        script = f"`bench/{bench}.py`, its" if bench not in NOT_SCRIPTS else "Its"
        where = f"{script} records in `bench/results/{bench}.jsonl`."
        lines += [f"## {bench}", "", what(bench), where, ""]
        if not mine:
            lines += ["No records yet.", ""]
        for cpu in kinds(mine):
            lines += [f"### {cpu}", ""]
            for record in newest((r for r in mine if kind(r) == cpu), key):
                lines += block(record)
    return "\n".join(lines).rstrip("\n") + "\n"


MODEL_ORDER = ("numpy", "mlp", "cnn", "lenet5", "fast", "best")  # simplest first


def readme_table(records: list[dict]) -> str:
    """The README's results: REFERENCE_KIND's newest accuracy per model and dataset, `fast`'s
    time-to-99% speed-up on MNIST per compute path, the newest honest answers, and the
    commands under them."""
    ours = [r for r in records if kind(r) == REFERENCE_KIND]
    rows = newest_rows([r for r in ours if r.get("bench") == "accuracy"])
    rows.sort(key=lambda pair: (pair[0].get("dataset") != "mnist", pair[0].get("dataset"),
                                _order(pair[0].get("model"))))  # fmt: skip
    races = [r for r in ours if r.get("bench") == "time_to_accuracy"
             and (r.get("results") or {}).get("model", "fast") == "fast"
             and not (r.get("args") or {}).get("threads")]  # fmt: skip
    races = [r for r in newest(races, key) if (r.get("results") or {}).get("speedup")]
    ratios = ", ".join(
        f"{fmt(r['results']['speedup'], '.1f')}× in {(r.get('machine') or {}).get('precision')}"
        for r in sorted(races, key=key)
    )
    lines = [f"Each model's recipe, seed 0, on the reference machine: 2 cores of an "
             f"{REFERENCE_KIND} CPU.",
             "The last column: how many times sooner `fast` reaches 99% MNIST test accuracy",
             "than the PyTorch MNIST example (`pytorch/examples`' mnist/main.py).", "",
             "| model | dataset | epochs | test accuracy | training s | time to 99% |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for row, _ in rows:
        ratio = ratios if (row.get("model"), row.get("dataset")) == ("fast", "mnist") else ""
        lines.append(f"| `{row.get('model')}` | {row.get('dataset')} | {fmt(row.get('epochs'))} "
                     f"| {fmt(row.get('test_accuracy'), '.2%')} | "
                     f"{fmt(row.get('train_seconds'), '.1f')} | {ratio} |")  # fmt: skip
    used = sorted({id(r): r for _, r in rows}.values(), key=lambda r: r.get("date") or "")
    # What the reader refuses is not a speed: the newest record on any CPU, which it names.
    honest = sorted(
        (r for r in records if r.get("bench") == "honest"), key=lambda r: r.get("date") or ""
    )
    lines += honest_rows(honest[-1]) if honest else []
    commands = [r.get("command", "–") for r in used + sorted(races, key=key) + honest[-1:]]
    lines += ["", "Measured by:", "", "```", *commands, "```"]
    if any(r.get("carried_over") for r in used + races):
        lines += ["", "Some of these figures were carried over from earlier write-ups; their "
                      "records say when, where and on which CPU."]  # fmt: skip
    return "\n".join(lines) + "\n"


def honest_rows(record: dict) -> list[str]:
    """What the reader refuses and how often it refuses a digit, from one bench/honest.py
    record (its run: `make demo`'s)."""
    res = record.get("results") or {}
    kinds = ", ".join(f"{k} {fmt(v, '.0%')}" for k, v in (res.get("flagged") or {}).items())
    return ["", "Honest answers of the `make demo` run (`fast`, MNIST): what it refuses and how "
            f"often it refuses a digit; measured on an {kind(record)}.", "",
            "| held-out non-digits refused | MNIST test: accepted, right when accepted "
            "| people-style digits accepted and right |", "|---|---|---|",
            f"| {fmt(res.get('flagged_all'), '.1%')} ({kinds}) | "
            f"{fmt(res.get('test_accepted'), '.2%')}, "
            f"{fmt(res.get('test_accuracy_accepted'), '.2%')}"
            f" | {fmt(res.get('robust_accepted_right'), '.1%')} |"]  # fmt: skip


def _order(model: str | None) -> int:
    return MODEL_ORDER.index(model) if model in MODEL_ORDER else len(MODEL_ORDER)


def newest_rows(records: list[dict]) -> list[tuple[dict, dict]]:
    """The newest accuracy row per model and dataset, with its record, dataset by dataset."""
    rows: dict[tuple[str, str], tuple[dict, dict]] = {}
    for record in sorted(records, key=lambda r: r.get("date") or ""):
        for row in (record.get("results") or {}).get("results") or []:
            rows[(row.get("model"), row.get("dataset"))] = (row, record)
    datasets = list(dict.fromkeys(dataset for _, dataset in rows))
    return [rows[k] for k in sorted(rows, key=lambda k: datasets.index(k[1]))]


def with_table(readme: str, table: str) -> str:
    """The README with its text between the markers replaced (unchanged without them)."""
    start, end = MARKERS
    if start not in readme or end not in readme:
        return readme
    head, rest = readme.split(start, 1)
    return f"{head}{start}\n{table}{end}{rest.split(end, 1)[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a file is out of date")  # fmt: skip
    args = parser.parse_args(argv)
    records = load()
    wanted = {PAGE: page(records)}
    if README.exists():
        wanted[README] = with_table(README.read_text(encoding="utf-8"), readme_table(records))
    stale = [p for p, text in wanted.items()
             if not p.exists() or p.read_text(encoding="utf-8") != text]  # fmt: skip
    if args.check:
        for path in stale:
            print(f"{os.path.relpath(path, ROOT)} is out of date with bench/results/: run "
                  f"{COMMAND}", file=sys.stderr)  # fmt: skip
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {os.path.relpath(path, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
