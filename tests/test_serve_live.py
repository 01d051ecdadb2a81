"""The real `mnistlab serve` in its own process: the API schema passes schemathesis, and a
worker that dies is replaced while the others keep answering."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mnistlab.serve.live import listening, server_process, serving, worker_pids
from predict_helpers import canvas_export, encode, trained_run

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]  # where schemathesis.toml is


def predict(url: str, data: bytes) -> int:
    """POST one image as multipart; the HTTP status."""
    boundary = "mnistlab-test"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.png"\r\n'
            "Content-Type: image/png\r\n\r\n")  # fmt: skip
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        f"{url}/api/predict", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code


def test_schemathesis_finds_no_failure_in_the_openapi_schema():
    with serving(trained_run()) as url:
        result = subprocess.run(
            [Path(sys.executable).with_name("schemathesis"), "run", f"{url}/openapi.json",
             "--checks", "all", "--max-examples", "30", "--no-color"],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"\d+ passed", result.stdout)


def test_a_killed_worker_is_replaced_and_the_others_keep_answering():
    image = encode(canvas_export())
    with server_process(trained_run(), args=("--workers", "2", "--no-access-log")) as (url, server):
        workers = _wait_for(lambda: (w := worker_pids(server.pid)) and len(w) == 2 and w)
        port = int(url.rsplit(":", 1)[1])
        assert listening(port) == 2  # a socket each: the kernel spreads connections over them
        assert [predict(url, image) for _ in range(10)] == [200] * 10
        os.kill(workers[0], signal.SIGKILL)
        replaced = _wait_for(
            lambda: (w := worker_pids(server.pid)) and len(w) == 2 and workers[0] not in w and w
        )
        assert workers[1] in replaced  # the other worker was left alone
        _wait_for(lambda: listening(port) == 2)  # the replacement listens once it is warm
        assert [predict(url, image) for _ in range(20)] == [200] * 20
        metrics = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    # Both workers' (and the dead one's) requests, summed over the processes.
    answered = re.search(r'mnistlab_requests_total\{route="/api/predict",status="200"\} (\S+)',
                         metrics)  # fmt: skip
    assert answered and float(answered.group(1)) >= 30


def _wait_for(condition, timeout: float = 60.0):
    """Poll `condition` until it is truthy (its value) or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s")


def test_a_port_in_use_is_one_line_before_any_worker_starts(cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--run", trained_run(), "--port", port, "--workers", "2")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Started server process" not in result.stderr


def test_corrupt_weights_are_one_line_before_any_worker_starts(cli, tmp_path):
    # The supervisor's child loads the model first; onnxruntime's export goes the same way.
    run = tmp_path / "run"
    shutil.copytree(trained_run(), run)
    (run / "model.safetensors").write_bytes(b"not safetensors")
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    result = cli("serve", "--run", run, "--port", port, "--workers", "2", "--runtime", "torch")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"error: {run / 'model.safetensors'} is damaged (" in result.stderr
    assert "Started" not in result.stderr
