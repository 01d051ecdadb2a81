"""`mnistlab serve`: a trained run behind the draw-a-digit page and the HTTP API."""

from __future__ import annotations

from typing import Annotated

import typer

from mnistlab.cli.common import RunOption, app, console


@app.command("serve")
def serve_cmd(
    run: RunOption,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default: one per core).")
    ] = None,
    batch_window_ms: Annotated[
        float, typer.Option(min=0, help="How long a request waits for others to batch with.")
    ] = 2.0,
    max_batch: Annotated[
        int, typer.Option(min=1, help="Images per model call at most (1: no batching).")
    ] = 32,
    runtime: Annotated[
        str,
        typer.Option(
            help="onnx (onnxruntime, exported once at start; see `mnistlab "
            "export`) or torch. onnx answers small batches several times sooner."
        ),
    ] = "onnx",
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
    timeout: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds a request may take (else 504; 408 for an upload still arriving), a "
            "client may take to send a request's headers (else it is disconnected) and a model "
            "call may take (else requests get 503 with Retry-After until it returns). 0: none.",
        ),
    ] = 10.0,
    max_concurrent: Annotated[
        int,
        typer.Option(
            min=0, help="Requests a worker works on at once; more get 503 with Retry-After. 0: any."
        ),
    ] = 64,
) -> None:
    """Serve the draw-a-digit page at / and the REST API (OpenAPI docs at /docs)."""
    from mnistlab.serve import server

    workers = workers or server.default_workers()

    def announce(port: int) -> None:  # once the run folder and the port are known to be good
        console.print(f"serving {run} on http://{host}:{port}/ with {workers} worker(s) "
                      "(API docs: /docs, metrics: /metrics); Ctrl+C stops")  # fmt: skip

    server.run(run, host, port, workers, batch_window_ms / 1000, max_batch, runtime, access_log,
               announce, timeout, max_concurrent)  # fmt: skip
