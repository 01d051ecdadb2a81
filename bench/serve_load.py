"""Serving under load: a real `mnistlab serve` driven by `wrk` (Debian's), in its own process.

For each configuration (workers × micro-batching), the server starts on a free port with
the run, waits until /readyz, takes `wrk -c CONNECTIONS -d SECONDS` of multipart POSTs of
one 280×280 canvas PNG (bench/preprocess_speed.py's: a digit drawn in pen strokes on a
transparent canvas, as the page exports it), then must still answer /healthz. Printed per
configuration: requests/s, the server's CPU milliseconds per request (its processes' user +
system time over the load: steadier than requests/s when other jobs share the machine),
p50/p95/p99 latency (wrk's own histogram, through a small Lua `done` hook), non-2xx
answers, socket errors, and the server's memory (RSS of the supervisor and its workers,
after the load). wrk runs one thread, so most of the two cores go to the server.

    .venv/bin/python bench/serve_load.py --run RUN_DIR              # 1 and 2 workers
    .venv/bin/python bench/serve_load.py --run RUN_DIR --workers 2 --batching on --seconds 30
    make bench-serve RUN=RUN_DIR

Targets (the serving issue's): every configuration answers every request (no non-2xx) and
is healthy after, and at least one serves `--min-rps` (500) requests/s at a p99 latency of
`--max-p99-ms` (150) or less; it exits 1 naming what was missed. Each invocation appends a
record to bench/results/serve_load.jsonl; the figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mnistlab.errors import MnistlabError
from mnistlab.serve.live import server_process, worker_pids

sys.path.insert(0, os.path.dirname(__file__))
import machine  # noqa: E402  (bench/ is a folder of scripts, not a package)
import records  # noqa: E402
from preprocess_speed import canvas_png  # noqa: E402  (the same canvas as that benchmark)

BOUNDARY = "mnistlab-load"
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=%(boundary)s"
local f = io.open("%(body)s", "rb")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %%d, "seconds": %%f, "p50": %%f, "p95": %%f, "p99": %%f, '
    .. '"non2xx": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(95) / 1e3, latency:percentile(99) / 1e3, e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


def multipart(png: bytes) -> bytes:
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="d.png"\r\n'
            "Content-Type: image/png\r\n\r\n")  # fmt: skip
    return head.encode() + png + f"\r\n--{BOUNDARY}--\r\n".encode()


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (/proc/PID/stat)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def load(run: Path, workers: int, batching: bool, args, script: Path) -> dict:
    """One configuration: start the server, drive it, check it is still healthy."""
    serve = ["--workers", str(workers), "--no-access-log"]
    serve += ["--runtime", args.runtime] if args.runtime else []
    serve += ["--max-batch", str(args.max_batch)] if batching else ["--max-batch", "1"]
    with server_process(run, args=tuple(serve)) as (url, server):
        pids = [server.pid, *worker_pids(server.pid)]
        before = cpu_seconds(pids)
        command = ["wrk", "-t", "1", "-c", str(args.connections), "-d", f"{args.seconds}s",
                   "-s", str(script), f"{url}/api/predict"]  # fmt: skip
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        result = json.loads(next(ln for ln in out.splitlines() if ln.startswith("RESULT"))[7:])
        cpu_ms = (cpu_seconds(pids) - before) / max(result["requests"], 1) * 1000
        memory = rss_mb(pids)
        healthy = urllib.request.urlopen(f"{url}/healthz", timeout=10).status == 200
    per_second = result["requests"] / result["seconds"]
    return dict(workers=workers, batching=batching, runtime=args.runtime or "default",
                rps=per_second, cpu_ms_per_request=cpu_ms, memory_mb=memory, healthy=healthy,
                **result)  # fmt: skip


def check(rows: list[dict], min_rps: float, max_p99_ms: float) -> tuple[dict, list[str]]:
    """The targets, and one phrase per miss: a configuration that failed requests or health,
    or no configuration as fast as `min_rps` within `max_p99_ms`."""
    missed = [f"{r['workers']} worker(s), batching {'on' if r['batching'] else 'off'}: "
              f"{r['non2xx']} non-2xx, healthy after: {r['healthy']}"
              for r in rows if r["non2xx"] or not r["healthy"]]  # fmt: skip
    if not any(r["rps"] >= min_rps and r["p99"] <= max_p99_ms for r in rows):
        best = max(rows, key=lambda r: r["rps"])
        missed.append(f"{min_rps:g} req/s at p99 ≤ {max_p99_ms:g} ms: best {best['rps']:.0f} "
                      f"req/s at p99 {best['p99']:.0f} ms")  # fmt: skip
    return {"min_rps": min_rps, "max_p99_ms": max_p99_ms}, missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a run folder to serve")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batching", choices=("on", "off", "both"), default="both")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--runtime", choices=("torch", "onnx"), help="default: the server's")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--min-rps", type=float, default=500.0,
                        help="requests/s one configuration must serve (target)")  # fmt: skip
    parser.add_argument("--max-p99-ms", type=float, default=150.0,
                        help="...at this p99 latency or less (target)")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    records.add_options(parser)
    args = parser.parse_args()
    info = machine.machine()
    console = Console(stderr=True)
    console.print(machine.line(info))
    batching = {"on": [True], "off": [False], "both": [False, True]}[args.batching]
    with tempfile.TemporaryDirectory() as tmp:
        body, script = Path(tmp) / "body", Path(tmp) / "post.lua"
        body.write_bytes(multipart(canvas_png(280)))
        script.write_text(LUA % {"boundary": BOUNDARY, "body": body})
        try:
            rows = [load(args.run, w, b, args, script) for w in args.workers for b in batching]
        except (MnistlabError, FileNotFoundError, subprocess.CalledProcessError) as e:
            console.print(f"error: {e}")
            return 1
    targets, missed = check(rows, args.min_rps, args.max_p99_ms)
    document = {"machine": info, "rows": rows, "targets": targets, "met": not missed}
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print_table(rows, args)
    return records.finish(__file__, args, document, info, missed)


def print_table(rows: list[dict], args: argparse.Namespace) -> None:
    table = Table("workers", "batching", "req/s", "CPU ms/req", "p50 ms", "p95 ms", "p99 ms",
                  "non-2xx", "socket err", "memory MB", "healthy after",
                  title=f"{args.run.name} ({args.runtime or 'default'} runtime): wrk, "
                  f"{args.connections} connections, "
                  f"{args.seconds} s, 280×280 canvas PNG")  # fmt: skip
    for r in rows:
        table.add_row(str(r["workers"]), "on" if r["batching"] else "off", f"{r['rps']:.0f}",
                      f"{r['cpu_ms_per_request']:.2f}",
                      f"{r['p50']:.1f}", f"{r['p95']:.1f}", f"{r['p99']:.1f}", str(r["non2xx"]),
                      str(r["socket_errors"]), f"{r['memory_mb']:.0f}",
                      "yes" if r["healthy"] else "NO")  # fmt: skip
    Console(width=200).print(table)


if __name__ == "__main__":
    raise SystemExit(main())
