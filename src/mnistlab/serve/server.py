"""`mnistlab serve`: uvicorn with N worker processes, each building the app once.

uvicorn's own supervisor starts the workers and restarts one that dies (a client loses at
most the requests that worker held). The workers are separate processes, so they are
handed the run and its settings through the environment and build the app with
`app_from_environment`.

On Linux each worker listens on its own socket bound with SO_REUSEPORT, and the kernel
spreads new connections over them evenly. uvicorn's default, one socket shared by all
workers, lets whichever worker wakes first accept a whole burst of connections: under
`wrk -c 32` with 2 workers, one worker held every keep-alive connection while the other
sat idle (55-63% of 2 AMD EPYC Zen 5 cores busy; docs/decisions/serving.md). The sockets
are made as TCP sockets (proto IPPROTO_TCP) with TCP_NODELAY: uvicorn issue #3149 reports
that its shared socket lacks it, so that keep-alive answers wait on delayed ACKs (not
measured here).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import socket
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from mnistlab import runs
from mnistlab.errors import MnistlabError
from mnistlab.prediction import export

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
    runtime: str = "onnx",
    access_log: bool = True,
    announce: Callable[[int], None] | None = None,
    timeout: float = 10.0,
    max_concurrent: int = 64,
) -> None:
    """Serve until interrupted. The run folder and the port are checked here, once, so a
    bad one is one line before any worker starts; then the model is loaded once (and for
    onnxruntime exported once) before any worker starts, and `announce(port)` says so."""
    runs.load_config(run_dir)
    runs.weights_path(run_dir)
    runs.load_metrics(run_dir)  # every file a worker reads, so that none fails on it
    export.check_runtime(runtime)
    held = _bound_socket(host, port)  # the port is taken (a clear error if it is not free)
    try:
        with tempfile.TemporaryDirectory(prefix="mnistlab-serve-") as folder:
            onnx_file = _prepared(run_dir, runtime, folder)
            if announce is not None:
                announce(held.getsockname()[1])
            os.environ[ENV] = json.dumps({"run_dir": str(run_dir), "batch_window": batch_window,
                                          "max_batch": max_batch, "runtime": runtime,
                                          "onnx_file": onnx_file, "timeout": timeout,
                                          "max_concurrent": max_concurrent})  # fmt: skip
            _serve(held, host, workers, access_log)
    finally:
        held.close()


def _prepared(run_dir: Path, runtime: str, folder: str) -> str | None:
    """_prepare, in a child process: the supervisor itself never imports torch, so it stays
    small (it only watches the workers)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_prepare, run_dir, runtime, folder).result()


def _prepare(run_dir: Path, runtime: str, folder: str) -> str | None:
    """The model loads (a corrupt weights file is one line here, not a traceback from every
    worker uvicorn restarts), the explanations' neighbour index and map are built if the run
    lacks them (never in a request), and for onnxruntime the export every worker loads."""
    from mnistlab.explanation import data_map, neighbor_index

    model = runs.load_model(run_dir)
    try:
        data_map(run_dir, model, neighbor_index(run_dir, model))
    except MnistlabError as e:  # no dataset here: predictions need none, /api/explain says so
        logging.getLogger("mnistlab.serve").warning("explanations are not available: %s", e)
    return str(export.shared_file(run_dir, folder)) if runtime == "onnx" else None


def _serve(held: socket.socket, host: str, workers: int, access_log: bool) -> None:
    """uvicorn with the workers of the app that `run` described in the environment, on the
    port `held` took (known even when 0 asked for any free one)."""
    import uvicorn

    port = held.getsockname()[1]
    # One compute thread per worker (onnxruntime reads it; torch's model thread sets its own).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every worker's samples in one place, so /metrics sums them (serve/metrics.py).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mnistlab-metrics-")
    from mnistlab.serve.limits import HeaderTimeout

    app = f"{__name__}:app_from_environment"
    options = dict(factory=True, host=host, port=port, workers=workers, log_level="info",
                   access_log=access_log, http=HeaderTimeout)  # fmt: skip
    if workers == 1 or not _balanced_sockets():
        held.close()  # it never listened: uvicorn binds the same port itself
        uvicorn.run(app, **options)
        return
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(app, **options)
    print(f"mnistlab serve: {workers} workers on http://{host}:{port}, one socket each",
          file=sys.stderr, flush=True)  # fmt: skip
    Multiprocess(config, sockets=[_WorkerListener(host, port)]).run()


def _balanced_sockets() -> bool:
    """Whether the kernel balances connections over SO_REUSEPORT sockets (Linux does; macOS
    accepts the option but sends every connection to one socket)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port, in the SO_REUSEPORT group of this server's workers
    once it listens (the kernel sends connections to listening sockets only)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise MnistlabError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    return sock


class _WorkerListener:
    """What uvicorn's supervisor hands every worker it starts or restarts, as its list of
    sockets: pickled into the new process, it arrives there as that worker's own socket
    (see the module docstring), bound but not yet listening. uvicorn calls listen() once
    the worker's model is loaded and warm, so the kernel sends no connection to a worker
    that is still starting (a restarted one included)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def __reduce__(self):
        return _bound_socket, (self.host, self.port)


def app_from_environment():
    """The app of one worker, from what `run` put in the environment."""
    from mnistlab.serve.app import create_app

    return create_app(**json.loads(os.environ[ENV]))
