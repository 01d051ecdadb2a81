"""How fast does the page exported without a server answer, and how big is it?

`mnistlab export RUN --format web` writes the page into a temporary folder, a plain static
file server (mnistlab.serve.live.static_serving) serves it, and headless Chromium opens it
from a blank tab once the browser has started (a person's browser is running already; the
browser's own start-up would otherwise share the 2 cores with the page's): the first answer
is timed from the start of navigation until the answer to a stroke drawn as soon as the
canvas is there shows on the page (the runtime and the model load meanwhile), in --loads
fresh browsers (their median is the figure; one load varies by a fifth); then, in the
first, --strokes strokes of digits are drawn with the mouse, and each answer the page
computes while drawing (static/local.js `answer`: preparation, the model, the preview) is
timed in the page. Without --run a `fast` run is trained first (1 epoch, ~30 s on CPU).

    .venv/bin/python bench/web_page.py [--run RUN] [--strokes 100] [--loads 3] [--json]

Targets (issue 32): first answer (the median) ≤ `--max-first-s` (1.5 s), the answers while
drawing ≤ `--max-answer-ms` (30 ms, p95), the folder ≤ `--max-site-mb` (15 MB) for `fast`;
it exits 1 naming what was missed. Each invocation appends a record to
bench/results/web_page.jsonl.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from playwright.sync_api import Page

from mnistlab.serve.live import chromium_page, static_serving, stroke
from mnistlab.serve.site import write_site

sys.path.insert(0, os.path.dirname(__file__))
import machine  # noqa: E402  (bench/ is a folder of scripts, not a package)
import records  # noqa: E402

# Strokes people draw, in fractions of the canvas: a 1, a 7, a 0, a 2, a 4's two strokes.
STROKES = [
    [(0.52, 0.18), (0.5, 0.5), (0.48, 0.82)],
    [(0.3, 0.2), (0.7, 0.2), (0.45, 0.85)],
    [(0.5 + 0.2 * math.sin(t), 0.5 - 0.3 * math.cos(t)) for t in np.linspace(0, 6.3, 30)],
    [(0.3, 0.32), (0.45, 0.19), (0.64, 0.25), (0.58, 0.5), (0.3, 0.78), (0.7, 0.78)],
    [(0.55, 0.15), (0.25, 0.6), (0.75, 0.6)],
    [(0.6, 0.35), (0.6, 0.85)],
]
SETTLE_MS = 1000  # after the browser's launch, before the page: its own start-up is done
TIMED = """() => {  // every answer the page computes, timed where it runs
  const answer = mnistlabLocal.answer;
  window.answerMs = [];
  mnistlabLocal.answer = async (source) => {
    const start = performance.now();
    const out = await answer(source);
    window.answerMs.push(performance.now() - start);
    return out;
  };
}"""
FIRST = """() => new Promise((done) => {  // ms from navigation to the first answer shown
  const label = document.getElementById("label");
  const seen = () => label.textContent !== "?" || !label.classList.contains("idle");
  if (seen()) return done(performance.now());
  new MutationObserver(() => seen() && done(performance.now()))
    .observe(label, {childList: true, characterData: true, subtree: true, attributes: true});
})"""


def first_answer(page: Page, url: str) -> float:
    """Seconds from navigation to the answer to a stroke drawn as soon as the canvas is there,
    in a browser that has started (a blank tab open for SETTLE_MS)."""
    page.goto("about:blank")
    page.wait_for_timeout(SETTLE_MS)
    page.goto(url, wait_until="domcontentloaded")
    stroke(page, STROKES[0])
    return page.evaluate(FIRST) / 1000


def drawing(page: Page, strokes: int) -> dict:
    """Each answer the page computes while `strokes` strokes of digits are drawn, timed in it."""
    page.click("#clear")
    page.evaluate(TIMED)
    for i in range(strokes):
        stroke(page, STROKES[i % len(STROKES)])
        if i % len(STROKES) in (0, 1, 2, 3, 5):  # a 4 keeps its first stroke
            page.wait_for_timeout(50)  # the stroke's answer, before the canvas is cleared
            page.click("#clear")
    page.wait_for_timeout(300)
    times = page.evaluate("window.answerMs")
    return {
        "answers": len(times),
        "answer_p50_ms": float(np.percentile(times, 50)),
        "answer_p95_ms": float(np.percentile(times, 95)),
        "answer_max_ms": max(times),
    }


def measure(site: Path, strokes: int, loads: int) -> dict:
    """The first answer in `loads` fresh browsers (their median, and each), then the answers
    while drawing in the first of them."""
    firsts = []
    with static_serving(site) as url:
        for n in range(loads):
            with chromium_page(1100, 800) as page:
                firsts.append(first_answer(page, url))
                if n == 0:
                    timing = drawing(page, strokes)
    return {"first_answer_s": float(np.median(firsts)), "first_answers_s": firsts, **timing}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a run folder (default: train `fast` now)")
    parser.add_argument("--strokes", type=int, default=100, help="strokes drawn and timed")
    parser.add_argument("--loads", type=int, default=3,
                        help="fresh browsers whose first answers are timed")  # fmt: skip
    parser.add_argument("--max-first-s", type=float, default=1.5,
                        help="target: seconds from navigation to the first answer")  # fmt: skip
    parser.add_argument("--max-answer-ms", type=float, default=30.0,
                        help="target: p95 ms of an answer while drawing")  # fmt: skip
    parser.add_argument("--max-site-mb", type=float, default=15.0,
                        help="target: the folder's size in MB (10^6 bytes)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = records.parse(parser)
    if args.loads < 1:
        parser.error("--loads must be 1 or more")
    info = machine.machine()
    with tempfile.TemporaryDirectory(prefix="mnistlab-web-") as work:
        run = args.run
        if run is None:
            from mnistlab.training.run import TrainConfig, train

            run = train(TrainConfig(model="fast", dataset="mnist", epochs=1,
                                    out=str(Path(work) / "fast"))).dir  # fmt: skip
        sizes = write_site(run, Path(work) / "site")
        timing = measure(Path(work) / "site", args.strokes, args.loads)
    model = json.loads((Path(run) / "config.json").read_text())["model"]
    missed = []
    if timing["first_answer_s"] > args.max_first_s:
        missed.append(f"first answer {timing['first_answer_s']:.2f} s > {args.max_first_s:g} s")
    if timing["answer_p95_ms"] > args.max_answer_ms:
        missed.append(f"answers p95 {timing['answer_p95_ms']:.1f} ms > {args.max_answer_ms:g} ms")
    if model == "fast" and sizes["total"] / 1e6 > args.max_site_mb:
        missed.append(f"site {sizes['total'] / 1e6:.1f} MB > {args.max_site_mb:g} MB")
    document = {"machine": info, "model": model, "sizes_bytes": sizes, "settle_ms": SETTLE_MS,
                **timing,
                "targets": {"max_first_s": args.max_first_s, "max_answer_ms": args.max_answer_ms,
                            "max_site_mb": args.max_site_mb},
                "met": not missed}  # fmt: skip
    if args.json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        print(machine.line(info))
        print(f"{model}: site {sizes['total'] / 1e6:.2f} MB (model.onnx "
              f"{sizes['model.onnx'] / 1e6:.2f}, runtime {sizes['runtime'] / 1e6:.2f}, page "
              f"{sizes['page'] / 1e6:.2f}); first answer {timing['first_answer_s']:.2f} s (median; "
              f"{', '.join(f'{t:.2f}' for t in timing['first_answers_s'])}); "
              f"{timing['answers']} answers "
              f"while drawing: p50 {timing['answer_p50_ms']:.1f} ms, p95 "
              f"{timing['answer_p95_ms']:.1f} ms, max {timing['answer_max_ms']:.1f} ms"
              )  # fmt: skip
    return records.finish(__file__, args, document, info, missed)


if __name__ == "__main__":
    sys.exit(main())
