"""`mnistlab serve`: uvicorn with N worker processes, each building the app once.

uvicorn's own supervisor starts the workers, shares the listening socket between them and
restarts one that dies (a client loses at most the requests that worker held). The workers
are separate processes, so they are handed the run and its settings through the
environment and build the app with `app_from_environment`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from mnistlab import runs
from mnistlab.errors import MnistlabError
from mnistlab.export import RUNTIMES

ENV = "MNISTLAB_SERVE"  # JSON: run folder and create_app's settings, for the workers


def default_workers() -> int:
    """One worker per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def run(
    run_dir: Path,
    host: str,
    port: int,
    workers: int,
    batch_window: float,
    max_batch: int,
    runtime: str = "torch",
    access_log: bool = True,
) -> None:
    """Serve until interrupted. The run folder is checked here, once, so a bad one is one
    line before any worker starts."""
    import uvicorn

    runs.load_config(run_dir)
    if not (Path(run_dir) / runs.WEIGHTS).is_file():
        raise MnistlabError(f"{run_dir} has no {runs.WEIGHTS}; finish training it with --resume")
    if runtime not in RUNTIMES:
        raise MnistlabError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    os.environ[ENV] = json.dumps({"run_dir": str(run_dir), "batch_window": batch_window,
                                  "max_batch": max_batch, "runtime": runtime})  # fmt: skip
    # One compute thread per worker (onnxruntime reads it; torch's model thread sets its own).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every worker's samples in one place, so /metrics sums them (serve/metrics.py).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mnistlab-metrics-")
    uvicorn.run(f"{__name__}:app_from_environment", factory=True, host=host, port=port,
                workers=workers, log_level="info", access_log=access_log)  # fmt: skip


def app_from_environment():
    """The app of one worker, from what `run` put in the environment."""
    from mnistlab.serve.app import create_app

    return create_app(**json.loads(os.environ[ENV]))
