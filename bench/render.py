"""Each benchmark's results as markdown: one small function per benchmark (RENDER, in the
order of docs/benchmarks.md), from the document its `--json` prints. Records carried over
from older prose may lack any key, so every figure goes through `fmt`, which writes "–" for
what is missing. Only the standard library (bench/summary.py's rule).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath

MISSING = "–"


def fmt(value: object, spec: str = "") -> str:
    """`value` formatted by `spec`; "–" when missing, as given when it is not a number."""
    if value is None or value == "":
        return MISSING
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table; nothing when there are no rows."""
    if not rows:
        return []
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def name(run: object) -> str:
    """A run folder's last part: its full path belongs to the machine it ran on."""
    return PurePath(str(run)).name if run else MISSING


def targets_line(results: dict) -> str:
    """The targets as the flags that set them, and whether they were met."""
    targets = results.get("targets") or {}
    if not targets:
        return "No targets checked."
    flags = []
    for flag, value in targets.items():
        if isinstance(value, dict):
            value = ",".join(f"{k}={fmt(v, 'g')}" for k, v in value.items())
        flags.append(f"`--{flag.replace('_', '-')} {fmt(value, 'g')}`")
    met = {True: "met", False: "**missed**"}.get(results.get("met"), "not judged")
    return f"Targets {', '.join(flags)}: {met}."


def accuracy(res: dict) -> list[str]:
    rows = [[r.get("model", MISSING), r.get("dataset", MISSING), fmt(r.get("epochs")),
             fmt(r.get("test_accuracy"), ".2%"), fmt(r.get("train_seconds"), ".1f")]
            for r in res.get("results") or []]  # fmt: skip
    return table(["model", "dataset", "epochs", "test accuracy", "train s"], rows)


def time_to_accuracy(res: dict) -> list[str]:
    model, target = res.get("model", "fast"), fmt(res.get("target"), ".2%")
    runs = [(f"{model} seed {fmt(r.get('seed'))}", r) for r in res.get("runs") or []]
    runs += [("reference", res["reference"])] if res.get("reference") else []
    rows = [[label, fmt(r.get("seconds_to_target"), ".2f"), fmt(r.get("cpu_seconds_to_target"),
             ".2f"), fmt(r.get("steps_to_target")), fmt(r.get("final_accuracy"), ".2%")]
            for label, r in runs]  # fmt: skip
    lines = table([f"run (to {target})", "wall s", "CPU s", "steps", "final accuracy"], rows)
    return lines + ["", f"Median `{model}`: {fmt(res.get('median_seconds_to_target'), '.2f')} s "
                    f"({fmt(res.get('median_cpu_seconds_to_target'), '.2f')} CPU-s); reference / "
                    f"`{model}`: **{fmt(res.get('speedup'), '.1f')}×** wall, "
                    f"{fmt(res.get('cpu_speedup'), '.1f')}× CPU."]  # fmt: skip


def inference(res: dict) -> list[str]:
    rows = [[name(r.get("run")), fmt(r.get("model")), fmt(r.get("dataset")),
             fmt(r.get("images_per_second"), ",.0f"), fmt(r.get("api_p50_ms"), ".1f"),
             fmt(r.get("api_p99_ms"), ".1f"), fmt(r.get("http_p50_ms"), ".1f"),
             fmt(r.get("http_p99_ms"), ".1f"), fmt(r.get("accuracy"), ".2%")]
            for r in res.get("results") or []]  # fmt: skip
    lines = table(["run", "model", "dataset", "batch img/s", "API p50 ms", "API p99 ms",
                   "HTTP p50 ms", "HTTP p99 ms", "accuracy"], rows)  # fmt: skip
    runtimes = [[name(r.get("run")), fmt(r.get("runtime")), fmt(r.get("threads")),
                 fmt(r.get("images_per_second"), ",.0f"), fmt(r.get("p50_ms"), ".3f"),
                 fmt(r.get("p99_ms"), ".3f"), fmt(r.get("max_abs_diff"), ".1e")]
                for r in res.get("runtimes") or []]  # fmt: skip
    headers = ["run", "runtime", "threads", "batch img/s", "p50 ms", "p99 ms", "max abs Δp"]
    return lines + ([""] if lines and runtimes else []) + table(headers, runtimes)


def serve_load(res: dict) -> list[str]:
    batching = {True: "on", False: "off"}
    rows = [[fmt(r.get("workers")), batching.get(r.get("batching"), MISSING),
             fmt(r.get("rps"), ".0f"), fmt(r.get("cpu_ms_per_request"), ".2f"),
             fmt(r.get("p50"), ".0f"), fmt(r.get("p95"), ".0f"), fmt(r.get("p99"), ".0f"),
             fmt(r.get("non2xx")), fmt(r.get("memory_mb"), ".0f"),
             {True: "yes", False: "**no**"}.get(r.get("healthy"), MISSING)]
            for r in res.get("rows") or []]  # fmt: skip
    return table(["workers", "batching", "req/s", "CPU ms/req", "p50 ms", "p95 ms", "p99 ms",
                  "non-2xx", "memory MB", "healthy after"], rows)  # fmt: skip


def preprocess_speed(res: dict) -> list[str]:
    rows = [[fmt(r.get("image")), fmt(r.get("kb"), ".0f"), fmt(r.get("wall_ms"), ".2f"),
             fmt(r.get("min_ms"), ".2f"), fmt(r.get("max_ms"), ".2f"), fmt(r.get("cpu_ms"), ".2f")]
            for r in res.get("results") or []]  # fmt: skip
    return table(["image", "KB", "wall ms (median)", "min", "max", "CPU ms"], rows)


def web_page(res: dict) -> list[str]:
    sizes = res.get("sizes_bytes") or {}
    firsts = res.get("first_answers_s") or []
    row = [fmt(res.get("model")), fmt(res.get("settle_ms")), fmt(len(firsts) or None),
           fmt(res.get("first_answer_s"), ".2f"),
           fmt(res.get("answer_p50_ms"), ".1f"), fmt(res.get("answer_p95_ms"), ".1f"),
           fmt(res.get("answers")), *(fmt((sizes.get(part) or 0) / 1e6, ".2f") for part in
                                      ("total", "model.onnx", "runtime", "page"))]  # fmt: skip
    # settle ms: how long the browser ran, a blank tab open, before the page (– : none);
    # loads: the browsers whose first answers gave the median (– : one)
    head = ["model", "settle ms", "loads", "first answer s", "answer p50 ms", "p95 ms", "answers",
            "site MB", "model.onnx MB", "runtime MB", "page MB"]  # fmt: skip
    return table(head, [row])


def web_preprocess(res: dict) -> list[str]:
    def row(r: dict) -> list[str]:
        a = r.get("against") or {}
        return [fmt(r.get("set")), fmt(r.get("drawings")), fmt(r.get("p50_ms"), ".2f"),
                fmt(r.get("p95_ms"), ".2f"), fmt(a.get("p50_ms"), ".2f"),
                fmt(a.get("p95_ms"), ".2f"), fmt(r.get("speedup_p95"), ".2f"),
                fmt(r.get("differing"))]  # fmt: skip

    rows = [row(r) for r in res.get("results") or []]
    about = (f"node {fmt(res.get('node'))}, against `{fmt(res.get('against'))}`, a drawing's "
             f"median over {fmt(res.get('rounds'))} rounds.")  # fmt: skip
    return table(["drawings", "n", "p50 ms", "p95 ms", "against p50 ms", "against p95 ms",
                  "speedup p95", "differing"], rows) + ["", about]  # fmt: skip


def predict_robustness(res: dict) -> list[str]:
    rows = [["raw 28x28 test arrays", fmt(res.get("raw_accuracy"), ".1%"), MISSING]]
    rows += [[fmt(r.get("style")), fmt(r.get("accuracy"), ".1%"),
              fmt(r.get("ms_per_image"), ".0f")] for r in res.get("results") or []]  # fmt: skip
    about = f"{fmt(res.get('n'))} test digits per style, run `{name(res.get('run'))}`."
    return table(["images", "accuracy", "ms/image"], rows) + ["", about]


def compare_classics(res: dict) -> list[str]:
    def delta(r: dict) -> str:
        ours, theirs = r.get("test_accuracy"), r.get("tutorial")
        return MISSING if ours is None or theirs is None else f"{100 * (ours - theirs):+.2f}"

    rows = [[fmt(r.get("model")), fmt(r.get("parameters"), ","), fmt(r.get("epochs")),
             fmt(r.get("train_seconds"), ".0f"), fmt(r.get("test_accuracy"), ".2%"),
             fmt(r.get("tutorial"), ".2%"), delta(r)]
            for r in res.get("results") or []]  # fmt: skip
    lines = table(["model", "parameters", "epochs", "train s", "mnistlab", "tutorial",
                   "Δ points"], rows)  # fmt: skip
    minutes = res.get("seconds") and res["seconds"] / 60
    return lines + ["", f"{fmt(res.get('dataset'))}, {fmt(minutes, '.1f')} minutes in all."]


def distributed(res: dict) -> list[str]:
    rows = [[fmt(r.get("layout")), fmt(r.get("epoch_seconds"), ".2f"),
             " / ".join(fmt(s, ".2f") for s in r.get("epoch_seconds_all") or []) or MISSING,
             fmt(r.get("accuracy"), ".4f")]
            for r in res.get("rows") or []]  # fmt: skip
    recipe = " ".join(res.get("recipe") or []) or MISSING
    lines = table(["layout", "s/epoch (median)", "each run", "test accuracy"], rows)
    return lines + ["", f"Recipe: `mnistlab train {recipe}`."]


def tta(res: dict) -> list[str]:
    variants = ("plain", "flip", "shift", "flip+shift")
    rows = [[name(r.get("run")), fmt(r.get("dataset")), *(fmt(r.get(v), ".2%") for v in variants),
             fmt(r.get("saved_default"))] for r in res.get("results") or []]  # fmt: skip
    lines = table(["run", "dataset", *variants, "default"], rows)
    ensembles = [f"Ensemble of the {dataset} runs: {fmt(accuracy, '.2%')}."
                 for dataset, accuracy in (res.get("ensembles") or {}).items()]  # fmt: skip
    return lines + ([""] + ensembles if ensembles else [])


def honest(res: dict) -> list[str]:
    flagged = res.get("flagged") or {}
    rows = [[kind, fmt(share, ".1%")] for kind, share in flagged.items()]
    if "flagged_near_empty_canvas" in res:
        at = [kind for kind, _ in rows].index("near-empty") + 1
        rows.insert(at, ["near-empty, on a canvas", fmt(res["flagged_near_empty_canvas"], ".1%")])
    rows += [["**all non-digits**", fmt(res.get("flagged_all"), ".1%")]] if rows else []
    lines = table(["non-digits of this kind", "refused"], rows)
    return lines + [
        "",
        f"MNIST test: {fmt(res.get('test_accepted'), '.2%')} accepted, "
        f"{fmt(res.get('test_accuracy_accepted'), '.2%')} of them right; robustness set: "
        f"{fmt(res.get('robust_accepted_right'), '.1%')} accepted and right.",
    ]


def suite(res: dict) -> list[str]:
    row = [fmt(res.get("passed")), fmt(res.get("seconds"), ".1f"),
           fmt(res.get("with_setup_seconds"), ".0f"), fmt(res.get("fresh_clone"))]  # fmt: skip
    return table(["tests passed", "seconds", "with set-up, s", "fresh clone"], [row])


def demo(res: dict) -> list[str]:
    epochs = ", ".join(fmt(s, ".1f") for s in res.get("epoch_seconds") or []) or MISSING
    row = [res.get("model", MISSING), fmt(res.get("epochs")), epochs,
           fmt(res.get("test_accuracy"), ".2%"), fmt(res.get("wall_seconds"), ".0f")]  # fmt: skip
    return table(["model", "epochs", "seconds per epoch", "test accuracy", "whole demo, s"],
                 [row])  # fmt: skip


def explain(res: dict) -> list[str]:
    runs = res.get("runs") or {}
    named = runs.items() if isinstance(runs, dict) else [(r.get("model"), r) for r in runs]
    rows = []
    for model, r in named:
        checks, latency = r.get("checks") or {}, r.get("latency") or {}
        rows.append([fmt(model), fmt(latency.get("warm_p50_ms"), ".0f"),
                     fmt(latency.get("cold_ms"), ".0f"), fmt(checks.get("spearman_median"), ".3f"),
                     fmt(checks.get("spearman_abs_median"), ".2f"),
                     fmt(checks.get("deletion_share"), ".1%"),
                     fmt(checks.get("neighbors_shared"), ".1%")])  # fmt: skip
    lines = table(["model", "/api/explain warm p50, ms", "cold, ms", "sanity: Spearman",
                   "of abs. values", "deletion beats random", "neighbours share the label"],
                  rows)  # fmt: skip
    extra, captum = res.get("evaluate_extra") or {}, (res.get("libraries") or {}).get("captum")
    return lines + [
        "",
        f"On {fmt(res.get('images'))} test images. The index and the map add "
        f"{fmt(extra.get('seconds'), '.1f')} s to `mnistlab evaluate` (fast); captum: "
        f"{fmt((captum or {}).get('mb'), '.1f')} MB, imported in "
        f"{fmt((captum or {}).get('import_s'), '.2f')} s after torch.",
    ]


RENDER: dict[str, Callable[[dict], list[str]]] = {
    "accuracy": accuracy,
    "time_to_accuracy": time_to_accuracy,
    "inference": inference,
    "serve_load": serve_load,
    "preprocess_speed": preprocess_speed,
    "web_page": web_page,
    "web_preprocess": web_preprocess,
    "predict_robustness": predict_robustness,
    "compare_classics": compare_classics,
    "distributed": distributed,
    "tta": tta,
    "honest": honest,
    "suite": suite,
    "demo": demo,
    "explain": explain,
}
