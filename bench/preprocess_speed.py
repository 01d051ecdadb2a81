"""How long does one upload take to become the model's 28x28 input? Decode + preprocess.

Each image is encoded once, then `preprocess(encoded bytes)` (the server's and the CLI's
path: open, decode, clean up, fit to 28x28) is timed --repeats times after a warm-up: the
median wall time, the fastest and slowest call, and the median CPU time of this process.
The images are what people send: the page's canvas (dark strokes a fifteenth of the side
wide on transparent pixels, as `canvas.toBlob` gives) at 280 and 500 px, and phone photos
of a digit on paper (uneven light, sensor noise, blur) at 1600x1200 and 4000x3000, as JPEG.

    .venv/bin/python bench/preprocess_speed.py [--repeats 21] [--threads 1] [--json]

Targets (issue 12), median wall time: a 280x280 canvas PNG ≤ `--max-canvas-ms` (3 ms), a
4000x3000 phone JPEG ≤ `--max-photo-ms` (40 ms); it exits 1 naming what was missed. Each
invocation appends a record to bench/results/preprocess_speed.jsonl; the figures are in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from mnistlab.prediction.preprocess import preprocess

sys.path.insert(0, os.path.dirname(__file__))
import machine  # noqa: E402  (bench/ is a folder of scripts, not a package)
import records  # noqa: E402

CANVAS, PHOTO = "canvas 280x280, PNG", "phone 4000x3000, JPEG"  # the images with targets

# A "2" as the page's users draw it: a curve over the top, a diagonal, a bar at the bottom,
# in fractions of the side.
STROKE = [(0.30, 0.32), (0.38, 0.22), (0.52, 0.19), (0.64, 0.25), (0.66, 0.37), (0.58, 0.50),
          (0.44, 0.63), (0.30, 0.78), (0.70, 0.78)]  # fmt: skip


def canvas_png(side: int) -> bytes:
    """The page's export: #111 strokes, a fifteenth of the side wide, on transparent black."""
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    points = [(x * side, y * side) for x, y in STROKE]
    ImageDraw.Draw(image).line(points, fill=(17, 17, 17, 255), width=side // 15, joint="curve")
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def phone_jpeg(width: int, height: int, seed: int = 0) -> bytes:
    """A photo of a digit written on paper: light falling off across the page, noise, blur."""
    rng = np.random.default_rng(seed)
    side = min(width, height)
    mask = Image.new("L", (width, height), 0)
    points = [(width / 2 + (x - 0.5) * side * 0.6, y * height) for x, y in STROKE]
    ImageDraw.Draw(mask).line(points, fill=255, width=side // 40, joint="curve")
    ink = np.asarray(mask, np.float32) / 255
    ramp = np.linspace(150, 215, width, dtype=np.float32)[None, :]
    ramp = ramp + np.linspace(-15, 15, height, dtype=np.float32)[:, None]
    gray = ramp * (1 - ink) + 45 * ink + rng.normal(0, 5, ink.shape).astype(np.float32)
    image = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(2)).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def time_ms(data: bytes, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of each `preprocess(data)` call, after one warm-up call. On a
    shared machine the CPU time (this process's own) says more than the wall time."""
    preprocess(data)
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        preprocess(data)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return wall, cpu


def check(rows: list[dict], max_canvas_ms: float, max_photo_ms: float) -> tuple[dict, list[str]]:
    """The targets, and one phrase per image slower than its target (median wall ms)."""
    limits = {CANVAS: max_canvas_ms, PHOTO: max_photo_ms}
    slow = [(r, limits[r["image"]]) for r in rows if r["wall_ms"] > limits.get(r["image"], 1e9)]
    missed = [f"{r['image']} {r['wall_ms']:.2f} ms > {limit:g} ms" for r, limit in slow]
    return {"max_canvas_ms": max_canvas_ms, "max_photo_ms": max_photo_ms}, missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21, help="timed calls per image")
    parser.add_argument("--max-canvas-ms", type=float, default=3.0,
                        help="target: median wall ms of the 280x280 canvas PNG")  # fmt: skip
    parser.add_argument("--max-photo-ms", type=float, default=40.0,
                        help="target: median wall ms of the 4000x3000 phone JPEG")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = records.parse(parser)
    images = {
        CANVAS: canvas_png(280),
        "canvas 500x500, PNG": canvas_png(500),
        "phone 1600x1200, JPEG": phone_jpeg(1600, 1200),
        PHOTO: phone_jpeg(4000, 3000),
    }
    info = machine.machine()
    if not args.json:
        print(machine.line(info))
        print(f"{'image':26s} {'KB':>6s} {'wall ms':>8s} {'min':>7s} {'max':>7s} {'CPU ms':>7s}")
    rows = []
    for name, data in images.items():
        wall, cpu = time_ms(data, args.repeats)
        rows.append({"image": name, "kb": len(data) / 1000, "wall_ms": statistics.median(wall),
                     "min_ms": min(wall), "max_ms": max(wall),
                     "cpu_ms": statistics.median(cpu)})  # fmt: skip
        if not args.json:
            r = rows[-1]
            print(f"{name:26s} {r['kb']:6.0f} {r['wall_ms']:8.2f} {r['min_ms']:7.2f} "
                  f"{r['max_ms']:7.2f} {r['cpu_ms']:7.2f}")  # fmt: skip
    targets, missed = check(rows, args.max_canvas_ms, args.max_photo_ms)
    document = {"machine": info, "repeats": args.repeats, "results": rows,
                "targets": targets, "met": not missed}  # fmt: skip
    if args.json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    return records.finish(__file__, args, document, info, missed)


if __name__ == "__main__":
    sys.exit(main())
