"""How long does the page's JS take to prepare a drawing? static/preprocess.js timed in node.

Two sets of drawings: the parity test's 200 generated canvas drawings (tests/web_drawings.py,
seed 1: 560, 400 and 280 px, thin pens to thick markers, transparent or white) and the
strokes bench/web_page.py draws, as the page sees them while they are drawn (each stroke's
prefixes on the 560 px canvas, a fifteenth of it wide). Each drawing is prepared --rounds
times by this checkout's static/ and, with --against REV, by that git revision's, taking
turns in one node process (bench/web_preprocess.js); a drawing's time is the median of its
rounds, robust to another process's bursts on a shared CPU, and the figures are the p50 and
p95 of those over the set. `differing` counts the drawings whose 28x28 image, extent or
stroke width is not the revision's.

    .venv/bin/python bench/web_preprocess.py [--against REV] [--rounds 5] [--json]

Needs node on PATH. Each invocation appends a record to bench/results/web_preprocess.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import machine  # noqa: E402  (bench/ is a folder of scripts, not a package)
import records  # noqa: E402
from web_page import STROKES  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from web_drawings import canvas, drawings  # noqa: E402  (the parity test's drawings)

STATIC = "src/mnistlab/serve/static"
SCRIPTS = ("imaging.js", "resample.js", "preprocess.js")


def page_drawings(repeats: int = 4, seed: int = 0) -> list[np.ndarray]:
    """bench/web_page.py's strokes, growing as they are drawn, moved a little each time."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(repeats):
        for stroke in STROKES:
            for end in range(2, len(stroke) + 1, max(1, len(stroke) // 5)):
                dx, dy = rng.uniform(-40, 40, 2)
                points = [(x * 560 + dx, y * 560 + dy) for x, y in stroke[:end]]
                out.append(canvas(560, [points], 560 / 15))
    return out


def write(images: list[np.ndarray], path: Path) -> None:
    with path.open("wb") as f:
        f.write(struct.pack("<I", len(images)))
        for a in images:
            f.write(struct.pack("<II", a.shape[1], a.shape[0]) + np.ascontiguousarray(a).tobytes())


def revision_scripts(rev: str, out: Path) -> Path:
    """The page's scripts as git revision REV holds them (a script it lacks is left out)."""
    out.mkdir()
    for name in SCRIPTS:
        shown = subprocess.run(["git", "show", f"{rev}:{STATIC}/{name}"], cwd=ROOT,
                               capture_output=True)  # fmt: skip
        if shown.returncode == 0:
            (out / name).write_bytes(shown.stdout)
    if not (out / "preprocess.js").exists():
        raise SystemExit(f"{rev} has no {STATIC}/preprocess.js")
    return out


def figures(ms: list[float]) -> dict:
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "mean_ms": float(np.mean(ms))}  # fmt: skip


def times(r: dict) -> str:
    return f"p50 {r['p50_ms']:.2f} ms, p95 {r['p95_ms']:.2f} ms"


def measure(name: str, images: list[np.ndarray], folders: list[Path], rounds: int, work: Path):
    data = work / f"{name}.bin"
    write(images, data)
    cmd = ["node", str(ROOT / "bench" / "web_preprocess.js"), str(data), str(rounds),
           *map(str, folders)]  # fmt: skip
    done = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    result = {"set": name, "drawings": len(images), **figures(done["ms"][0])}
    if len(folders) > 1:
        result["against"] = figures(done["ms"][1])
        result["differing"] = done["differing"][1]
        result["speedup_p95"] = result["against"]["p95_ms"] / result["p95_ms"]
    return result, done["node"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REV", help="a git revision to time alongside")
    parser.add_argument("--rounds", type=int, default=5, help="times each drawing is prepared")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = records.parse(parser)
    if shutil.which("node") is None:
        raise SystemExit("web_preprocess: needs node on PATH")
    info = machine.machine()
    sets = {"generated": drawings(200, seed=1), "page strokes": page_drawings()}
    with tempfile.TemporaryDirectory(prefix="mnistlab-web-js-") as tmp:
        folders = [ROOT / STATIC]
        if args.against:
            folders.append(revision_scripts(args.against, Path(tmp) / "against"))
        results = []
        for name, images in sets.items():
            result, node = measure(name, images, folders, args.rounds, Path(tmp))
            results.append(result)
    document = {"machine": info, "node": node, "against": args.against, "rounds": args.rounds,
                "results": results}  # fmt: skip
    if args.json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        print(machine.line(info) + f", node {node}")
        for r in results:
            line = f"{r['set']}: {r['drawings']} drawings, {times(r)}"
            if "against" in r:
                speedup = f"{r['speedup_p95']:.2f}x at p95, {r['differing']} differing"
                line += f"; {args.against}: {times(r['against'])} ({speedup})"
            print(line)
    return records.finish(__file__, args, document, info)


if __name__ == "__main__":
    sys.exit(main())
