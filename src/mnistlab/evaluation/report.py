"""One self-contained HTML page per run: config, model, numbers, history and every plot.

Images are inlined as base64 data URIs and the CSS is inline, so the page opens
anywhere (a mail attachment, a CI artifact) with no network and no JavaScript.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import shlex
from pathlib import Path

from mnistlab.atomic import write_text
from mnistlab.errors import MnistlabError
from mnistlab.evaluation.report_figures import Markup, collect_figures

CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
  color: #1f2933; background: #f5f7fa; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 26px; margin: 8px 0 2px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #d9e2ec; }
h3 { font-size: 16px; margin: 24px 0 4px; }
.sub { color: #52606d; margin: 0 0 8px; }
.stats { display: flex; flex-wrap: wrap; gap: 12px; }
.stat { background: #fff; border: 1px solid #d9e2ec; border-radius: 8px; padding: 10px 16px;
  min-width: 130px; }
.stat b { display: block; font-size: 22px; }
.stat span { color: #52606d; font-size: 13px; }
table { border-collapse: collapse; background: #fff; font-size: 14px; }
th, td { border: 1px solid #d9e2ec; padding: 4px 10px; text-align: left; }
th { background: #e4e7eb; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #f8fafc; }
.scroll { max-height: 420px; overflow: auto; display: inline-block; }
figure { margin: 0 0 18px; background: #fff; border: 1px solid #d9e2ec; border-radius: 8px;
  padding: 12px; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { color: #52606d; font-size: 13px; margin-top: 6px; }
.note { background: #fff8e1; border: 1px solid #f0d58c; border-radius: 6px; padding: 8px 12px; }
code { background: #e4e7eb; padding: 1px 4px; border-radius: 3px; }
svg.map { width: 100%; height: auto; display: block; }
svg.map a circle:hover { stroke-width: 3; }
.gallery { display: flex; flex-wrap: wrap; gap: 10px; }
.gallery .tile { margin: 0; padding: 6px; border-radius: 6px; width: 282px; }
.gallery .tile img { width: 270px; image-rendering: pixelated; margin: 0; }
.gallery .tile:target { outline: 3px solid #d62728; background: #fff1f0; }
.gallery figcaption { margin-top: 2px; }
.gallery .panels { display: grid; grid-template-columns: repeat(3, 1fr); font-size: 12px;
  color: #52606d; text-align: center; }
"""


def render(
    title: str,
    config: dict,
    summary_rows: list[dict],
    parameters: int,
    metrics: dict | None,
    history: list[dict],
    figures: list[tuple[str, str, bytes]],
) -> str:
    """The page as a string, from plain data; `figures` holds (heading, caption, PNG bytes).

    Order: what a reader wants first (numbers, plots), then the reference tables.
    """
    metrics = metrics or {}
    parts = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="sub">{_e(config.get("dataset", "?"))} · model {_e(config.get("model", "?"))}'
        f" · {len(history)} epochs{_evaluated(metrics)}</p>",
        "<h2>Headline numbers</h2>",
        _stats(metrics, parameters, history),
    ]
    if "per_class" not in metrics:
        parts.append(
            '<p class="note">Not evaluated yet: run <code>mnistlab evaluate RUN_DIR</code>'
            " for per-class metrics and plots.</p>"
        )
    parts += _figures(figures)
    if "per_class" in metrics:
        pairs = [
            [p["true_name"], p["predicted_name"], p["count"]] for p in metrics["most_confused"]
        ]
        parts += [
            "<h2>Per-class metrics (test split)</h2>",
            _per_class(metrics["per_class"]),
            "<h2>Most confused pairs</h2>",
            _table(["true label", "predicted", "count"], pairs, numeric={2}),
        ]
    summary = [
        [r["layer"], "×".join(str(d) for d in r["output_shape"]), f"{r['params']:,}"]
        for r in summary_rows
    ]
    parts += [
        "<h2>Training history</h2>",
        _history(history),
        "<h2>Model summary</h2>",
        _table(["layer", "output shape", "parameters"], summary, numeric={2}),
        "<h2>Configuration</h2>",
        _table(["setting", "value"], _config_rows(config)),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{_e(title)}</title><style>{CSS}</style></head>'
        "<body><main>\n" + "\n".join(parts) + "\n</main></body></html>\n"
    )


def _figures(figures: list[tuple[str, str, bytes | Markup]]) -> list[str]:
    """The plots, inlined as data URLs (and markup) so the page is one self-contained file."""
    parts = ["<h2>Plots</h2>"] if figures else []
    for heading, caption, body in figures:
        if isinstance(body, Markup):
            shown = body
        else:
            data = base64.b64encode(body).decode("ascii")
            shown = f'<img alt="{_e(heading)}" src="data:image/png;base64,{data}">'
        parts.append(
            f"<h3>{_e(heading)}</h3><figure>{shown}<figcaption>{_e(caption)}</figcaption></figure>"
        )
    return parts


def write_report(run_dir: str | os.PathLike, model=None) -> Path:
    """Rebuild RUN_DIR/report.html from the run folder (and `model`, if already loaded)."""
    from mnistlab import runs

    run_dir = Path(run_dir)
    fix = f"remove it, and `mnistlab evaluate {shlex.quote(str(run_dir))}` writes it again"
    config = runs.load_config(run_dir)
    history = runs.load_history(run_dir)
    model = model if model is not None else runs.load_model(run_dir)
    page = render(
        f"mnistlab report: {run_dir.resolve().name}",
        config,
        model.summary(),
        model.num_parameters(),
        runs.load_metrics(run_dir),
        history,
        collect_figures(run_dir / "plots", list(config["classes"]), fix),
    )
    path = run_dir / "report.html"
    try:
        write_text(path, page)
    except OSError as e:
        raise MnistlabError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def _stats(metrics: dict, parameters: int, history: list[dict]) -> str:
    seconds = metrics.get("train_seconds", sum(_num(r.get("seconds")) for r in history))
    val_accs = [r["val_acc"] for r in history if not _nan(r.get("val_acc"))]
    items = [
        (_pct(metrics.get("accuracy")), "test accuracy"),
        (_fixed(metrics.get("loss")), "test loss"),
        (f"{parameters:,}", "parameters"),
        (str(len(history)), "epochs"),
        (f"{seconds:.1f} s", "training time"),
        (_pct(max(val_accs)) if val_accs else "–", "best validation accuracy"),
    ]
    if "val" in metrics:
        items.append((_pct(metrics["val"].get("accuracy")), "validation accuracy (evaluated)"))
    boxes = "".join(f'<div class="stat"><b>{_e(v)}</b><span>{_e(k)}</span></div>' for v, k in items)
    return f'<div class="stats">{boxes}</div>'


def _config_rows(config: dict) -> list[list[str]]:
    rows = []
    for key, value in config.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={_short(v)}" for k, v in value.items()) or "–"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, float):
            value = _short(value)
        elif not isinstance(value, str):
            value = json.dumps(value)
        rows.append([key, value])
    return rows


def _history(history: list[dict]) -> str:
    head = ["epoch", "train loss", "train acc", "val loss", "val acc", "lr", "seconds"]
    rows = [
        [
            int(r["epoch"]),
            _fixed(r["train_loss"]),
            _pct(r["train_acc"]),
            _fixed(r["val_loss"]),
            _pct(r["val_acc"]),
            f"{r['lr']:.3g}",
            f"{r['seconds']:.1f}",
        ]
        for r in history
    ]
    return f'<div class="scroll">{_table(head, rows, numeric=set(range(7)))}</div>'


def _per_class(per_class: list[dict]) -> str:
    rows = [
        [
            r["label"],
            r["name"],
            _fixed(r["precision"]),
            _fixed(r["recall"]),
            _fixed(r["f1"]),
            r["support"],
        ]
        for r in per_class
    ]
    return _table(
        ["label", "class", "precision", "recall", "F1", "support"], rows, numeric={0, 2, 3, 4, 5}
    )


def _table(head: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _short(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _evaluated(metrics: dict) -> str:
    if "images" not in metrics:
        return ""
    return f" · evaluated on {metrics['images']:,} {metrics.get('split', 'test')} images"


def _e(value) -> str:
    return html.escape(str(value))


def _num(value) -> float:
    return 0.0 if _nan(value) else float(value)


def _nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pct(value) -> str:
    return "–" if _nan(value) else f"{100 * value:.2f}%"


def _fixed(value) -> str:
    return "–" if _nan(value) else f"{value:.4f}"
