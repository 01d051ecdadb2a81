"""A live `mnistlab serve` in its own process, shared by the browser tests, the screenshot
scripts and bench/inference.py (which put this folder on sys.path): one place that knows how
to start the server on a free port, wait until it answers, and stop it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from mnistlab.errors import MnistlabError


@contextmanager
def serving(
    run: Path | str,
    log: IO | int = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,  # on a busy machine importing torch alone takes seconds
) -> Iterator[str]:
    """`mnistlab serve --run RUN` on a free localhost port; yields its URL once /healthz
    answers, and stops the server on the way out."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "mnistlab", "serve", "--run", str(run), "--port", str(port)]
    process = subprocess.Popen(command, stdout=log, stderr=log, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise MnistlabError(
                        f"mnistlab serve did not start ({_last_line(log)}); "
                        f"try it by hand: {' '.join(command)}"
                    ) from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _last_line(log: IO | int) -> str:
    """The server's last words, when its output went to a named file."""
    name = getattr(log, "name", None)
    if not isinstance(name, str):
        return "its output was not kept"
    log.flush()
    lines = Path(name).read_text().strip().splitlines()
    return lines[-1] if lines else "no output"
