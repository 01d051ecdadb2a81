"""Benchmark records and the page made from them: bench/records.py appends one JSON line per
run, bench/summary.py renders every line into docs/benchmarks.md (and the README's table),
and a benchmark that misses its target exits 1. No training: fake results, one quick bench."""

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def flags(*on: str) -> dict[str, bool]:
    return {flag: flag in on for flag in ("avx2", "avx512_f", "avx512_bf16", "amx_bf16")}


XEON = {
    "cpu": "Intel(R) Xeon(R) Processor",
    "flags": flags("avx2", "avx512_f", "avx512_bf16", "amx_bf16"),
    "cores": 2,
    "torch_threads": 2,
    "gpu": None,
    "precision_detail": "bf16 (auto, native bf16)",
    "torch": "2.13.0+cpu",
    "load_average": [0.5, 0.4, 0.3],
}
ZEN4 = XEON | {"cpu": "AMD EPYC 9R14 96-Core Processor",
               "flags": flags("avx2", "avx512_f", "avx512_bf16")}  # fmt: skip
ZEN3 = XEON | {"cpu": "AMD EPYC 7R13 Processor", "flags": flags("avx2")}
KINDS = {XEON["cpu"]: "Intel Xeon (AMX)", ZEN4["cpu"]: "AMD EPYC Zen 4/5 (AVX-512 BF16)"}
CARRIED = "README.md at e9fb5af"


@pytest.fixture(scope="module")
def bench():
    """bench/'s modules by name (a folder of scripts, not a package)."""
    sys.path.insert(0, str(ROOT / "bench"))
    yield importlib.import_module
    sys.path.remove(str(ROOT / "bench"))


def accuracy_results(acc: float) -> dict:
    rows = [{"model": "numpy", "dataset": "mnist", "epochs": 5, "test_accuracy": acc,
             "train_seconds": 5.4}]  # fmt: skip
    return {"results": rows, "targets": {"min_accuracy": {"numpy:mnist": 0.975}}, "met": True}


def record(bench_name: str, date: str, info: dict, results: dict, command: str, **extra) -> dict:
    """A record as records.append writes it (or as the carry-over writes an old figure)."""
    machine = {**info, "line": "# " + info["cpu"], "kind": KINDS[info["cpu"]]}
    base = {"bench": bench_name, "date": date, "commit": "abc1234", "command": command,
            "args": {}, "machine": machine, "results": results, "carried_over": None}  # fmt: skip
    return base | extra


def test_kind_names_the_three_families_and_falls_back(bench):
    kind = bench("machine").kind
    assert kind(XEON) == "Intel Xeon (AMX)"
    assert kind(ZEN4) == "AMD EPYC Zen 4/5 (AVX-512 BF16)"
    assert kind(ZEN3) == "AMD EPYC Zen 1-3 (AVX2)"
    assert kind(XEON | {"flags": flags("avx2", "avx512_f")}) == "Intel (AVX-512)"
    assert kind({"cpu": "aarch64", "flags": {}}) == "aarch64 (no AVX2)"


def test_a_record_round_trips_through_append_and_the_page(bench, tmp_path, monkeypatch):
    records, summary = bench("records"), bench("summary")
    monkeypatch.setattr(sys, "argv", ["bench/accuracy.py", "--models", "numpy"])
    args = argparse.Namespace(models="numpy", runs=Path("runs/bench"), no_record=False)
    written = records.append("accuracy", args, {"machine": XEON, **accuracy_results(0.9803)},
                             XEON, folder=tmp_path)  # fmt: skip
    records.append("accuracy", args, accuracy_results(0.9810), XEON, folder=tmp_path)
    lines = (tmp_path / "accuracy.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 2 and first == json.loads(json.dumps(written, default=str))
    assert first["command"] == ".venv/bin/python bench/accuracy.py --models numpy"
    assert first["args"]["runs"] == "runs/bench" and "machine" not in first["results"]
    assert written["machine"]["kind"] == "Intel Xeon (AMX)"
    assert written["machine"]["line"].startswith("# Intel(R) Xeon(R) Processor (AVX2")
    assert written["date"].endswith("Z") and written["carried_over"] is None
    page = summary.page(summary.load(tmp_path))
    assert "### Intel Xeon (AMX)" in page and "| numpy | mnist | 5 | 98.10% | 5.4 |" in page
    assert "98.03%" not in page  # the newer record of the same command
    assert "Targets `--min-accuracy numpy:mnist=0.975`: met." in page


def test_the_page_shows_the_newest_record_per_command_on_each_kind(bench):
    summary = bench("summary")
    command = ".venv/bin/python bench/accuracy.py --models numpy --datasets mnist"
    old = record("accuracy", "2026-11-21", XEON, accuracy_results(0.97), command,
                 carried_over=CARRIED)  # fmt: skip
    new = record("accuracy", "2026-12-07T20:40:00Z", XEON, accuracy_results(0.9803), command)
    other = record("accuracy", "2026-12-06", ZEN4, accuracy_results(0.9811), command + " --json",
                   carried_over=CARRIED)  # fmt: skip
    row = {"model": "fast", "dataset": "mnist", "epochs": 1, "test_accuracy": 0.9921}
    fast_command = ".venv/bin/python bench/accuracy.py --models fast"
    fast = record("accuracy", "2026-11-21", XEON, {"results": [row]}, fast_command,
                  carried_over=CARRIED)  # fmt: skip
    page = summary.page([new, old, other, fast])
    xeon, zen = page.split("### Intel Xeon (AMX)")[1].split("### AMD EPYC Zen 4/5")
    assert "98.03%" in xeon and "97.00%" not in page and "98.11%" in zen
    assert "2026-12-07 20:40 UTC, commit abc1234, `# Intel(R) Xeon(R) Processor`." in xeon
    assert "carried over from README.md at e9fb5af" in zen and "| fast | mnist | 1 |" in xeon
    assert "`--min-accuracy numpy:mnist=0.975`: met" in zen
    table = summary.readme_table([new, old, other, fast])
    assert "| `numpy` | mnist | 5 | 98.03% | 5.4 |" in table and "| `fast` | mnist | 1 |" in table
    assert "98.11%" not in table and f"\n{command}\n" in table


def test_the_readme_table_has_the_speedup_and_only_its_markers_change(bench):
    summary = bench("summary")
    results = {"target": 0.99, "model": "fast", "median_seconds_to_target": 2.06,
               "speedup": 84.7, "reference": {"seconds_to_target": 174.42}}  # fmt: skip
    race = record("time_to_accuracy", "2026-11-21", XEON, results,
                  ".venv/bin/python bench/time_to_accuracy.py", carried_over=CARRIED)  # fmt: skip
    row = {"model": "fast", "dataset": "mnist", "epochs": 1, "test_accuracy": 0.9921}
    fast_command = ".venv/bin/python bench/accuracy.py --models fast"
    fast = record("accuracy", "2026-11-21", XEON, {"results": [row]}, fast_command,
                  carried_over=CARRIED)  # fmt: skip
    table = summary.readme_table([race, fast])
    assert "| `fast` | mnist | 1 | 99.21% | – | 84.7× in " in table
    assert ".venv/bin/python bench/time_to_accuracy.py\n" in table and "carried over" in table
    start, end = summary.MARKERS
    readme = f"# x\n\nabove\n{start}\nold\n{end}\nbelow\n"
    assert summary.with_table(readme, table) == f"# x\n\nabove\n{start}\n{table}{end}\nbelow\n"
    assert summary.with_table("no markers\n", table) == "no markers\n"


def test_every_renderer_writes_a_dash_for_what_a_record_lacks(bench):
    render = bench("render")
    for name, draw in render.RENDER.items():
        lines = draw({"results": [{}], "rows": [{}], "runs": [{}], "runtimes": [{}]})
        assert any("–" in line for line in lines), name
        draw({})  # a carried-over record may hold only a few keys


def test_a_missed_target_names_itself_and_exits_1(bench, tmp_path, monkeypatch, capsys):
    records = bench("records")
    monkeypatch.setattr(records, "RESULTS", tmp_path)
    args = argparse.Namespace(no_record=True)
    assert records.finish("bench/x.py", args, {}, XEON, ["fast 98.00% < 99.00%"]) == 1
    assert capsys.readouterr().err == "x: missed fast 98.00% < 99.00%\n"
    assert records.finish("bench/x.py", args, {}, XEON) == 0 and not list(tmp_path.iterdir())


def test_time_to_accuracy_checks_every_seed_and_the_speedup(bench):
    check = bench("time_to_accuracy").check
    run = {"seed": 0, "seconds_to_target": 1.5, "final_accuracy": 0.992}
    result = {"target": 0.99, "model": "fast", "runs": [run], "speedup": 82.9,
              "reference": {"seconds_to_target": 124.0}}  # fmt: skip
    assert check(result, 100) == ({"target": 0.99, "min_speedup": 100},
                                  ["reference / fast 82.9× < 100×"])  # fmt: skip
    assert check(result, 80) == ({"target": 0.99, "min_speedup": 80}, [])
    missed = result | {"runs": [run | {"seconds_to_target": None, "final_accuracy": 0.985}],
                       "reference": None, "speedup": None}  # fmt: skip
    assert check(missed, 100) == ({"target": 0.99}, ["fast seed 0 never reached 99.00% "
                                                     "(final 98.50%)"])  # fmt: skip


def test_accuracy_checks_only_the_runs_that_have_a_target(bench):
    accuracy = bench("accuracy")
    targets = accuracy.parse_targets("numpy:mnist=0.975,cnn:mnist=0.988")
    rows = [{"model": m, "dataset": "mnist", "test_accuracy": a}
            for m, a in (("numpy", 0.9803), ("cnn", 0.9871), ("fast", 0.5))]  # fmt: skip
    assert accuracy.check(rows, targets) == (targets, ["cnn on mnist 98.71% < 98.80%"])


def test_serve_load_wants_every_request_answered_and_one_fast_configuration(bench):
    check = bench("serve_load").check
    one = {"workers": 1, "batching": False, "rps": 320.0, "p99": 102.0, "non2xx": 0,
           "healthy": True}  # fmt: skip
    two = one | {"workers": 2, "rps": 600.0, "p99": 63.0}
    assert check([one, two], 500, 150) == ({"min_rps": 500, "max_p99_ms": 150}, [])
    assert check([one, two | {"p99": 180.0, "non2xx": 3}], 500, 150)[1] == [
        "2 worker(s), batching off: 3 non-2xx, healthy after: True",
        "500 req/s at p99 ≤ 150 ms: best 600 req/s at p99 180 ms",
    ]


def test_a_bench_below_its_target_exits_1_with_one_line():
    """The quickest benchmark end to end, held to an impossible target."""
    cmd = [sys.executable, "bench/preprocess_speed.py", "--repeats", "1", "--max-canvas-ms",
           "0.001", "--max-photo-ms", "1e9", "--no-record"]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("preprocess_speed: missed canvas 280x280, PNG ")
    assert done.stderr.endswith(" ms > 0.001 ms\n") and done.stderr.count("\n") == 1
    assert done.stdout.splitlines()[1].split() == ["image", "KB", "wall", "ms", "min", "max",
                                                   "CPU", "ms"]  # fmt: skip


def test_the_committed_page_is_up_to_date_with_the_records():
    """docs/benchmarks.md (and the README's table) cannot go stale: `make benchmarks`."""
    done = subprocess.run([sys.executable, "bench/summary.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
