"""The real `mnistlab serve` in its own process: the API schema passes schemathesis, a
worker that dies is replaced while the others keep answering, and the server's bounds hold
against a model call that hangs and clients that go silent."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mnistlab.serve import limits
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


def answer(url: str, path: str = "/api/predict", data: bytes | None = None):
    """(status, Retry-After header, seconds) of a GET, or of a POST of one image as multipart."""
    boundary = "mnistlab-test"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.png"\r\n'
            "Content-Type: image/png\r\n\r\n")  # fmt: skip
    body = None if data is None else head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"} if body else {}
    started = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(url + path, body, headers),
                                    timeout=30) as reply:  # fmt: skip
            status, retry = reply.status, reply.headers.get("Retry-After")
    except urllib.error.HTTPError as e:
        status, retry = e.code, e.headers.get("Retry-After")
    return status, retry, time.monotonic() - started


DEADLINE, ROOM = 2.0, 3  # --timeout and --max-concurrent of the bounded server


@pytest.fixture(scope="module")
def bounded():
    """A server whose model calls hang for 60 s once warm (the test hook), with a 2 s
    --timeout and room for 3 requests at once."""
    env = {**os.environ, limits.HANG: "60"}
    args = ("--workers", "1", "--timeout", str(DEADLINE), "--max-concurrent", str(ROOM),
            "--no-access-log")  # fmt: skip
    with server_process(trained_run(), env=env, args=args) as (url, _):
        yield url


def counts(url: str) -> dict[str, float]:
    """The bounds' counters in /metrics: {"timeouts:headers": n, "overload:concurrency": n...}."""
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    found = re.findall(r'mnistlab_(timeouts|overload)_total\{\w+="(\w+)"\} (\S+)', text)
    return {f"{name}:{label}": float(value) for name, label, value in found}


def grown(before: dict, after: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def test_slow_clients_are_dropped_at_the_deadline_and_the_others_are_served(bounded):
    url, port = bounded, int(bounded.rsplit(":", 1)[1])
    before = counts(url)
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    for i, s in enumerate(silent):  # half say nothing, half stop in the middle of a header
        s.sendall(b"POST /api/predict HTTP/1.1\r\nHost: test\r\nContent-Ty" if i % 2 else b"")
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(ROOM - 1)]
    for s in slow:  # headers complete, then a tenth of the upload
        s.sendall(
            b"POST /api/predict HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n" + b"x" * 100
        )
    started = time.monotonic()
    assert answer(url, "/healthz")[0] == 200 and answer(url, "/api/model")[0] == 200
    for s in silent + slow:
        s.settimeout(DEADLINE + 10)
        said = s.recv(4096)
        assert said == b"" if s in silent else said.startswith(b"HTTP/1.1 408 "), said
        s.close()
    assert time.monotonic() - started < DEADLINE + 3  # each one dropped at its deadline
    assert grown(before, counts(url)) == {"timeouts:headers": 20, "timeouts:upload": ROOM - 1}


def test_a_hung_model_call_is_504_at_the_deadline_while_healthz_answers(bounded):
    url, image = bounded, encode(canvas_export())
    before = counts(url)
    with ThreadPoolExecutor(ROOM) as pool:
        hung = [pool.submit(answer, url, "/api/predict", image) for _ in range(ROOM)]
        time.sleep(0.5)  # all in progress: the worker is full
        status, retry, seconds = answer(url, "/api/predict", image)
        assert (status, retry) == (503, "1") and seconds < 1  # refused at once
        probes = [answer(url, "/healthz") for _ in range(5)]
        assert all(status == 200 and seconds < 0.5 for status, _, seconds in probes)
        for status, _, seconds in (h.result() for h in hung):
            assert status == 504 and DEADLINE - 0.1 < seconds < DEADLINE + 1.5
    time.sleep(0.5)  # the call is past its own deadline too: the model counts as stuck
    assert answer(url, "/readyz")[0] == 503 and answer(url, "/healthz")[0] == 200
    status, retry, seconds = answer(url, "/api/predict", image)
    assert (status, retry) == (503, str(int(DEADLINE))) and seconds < 1  # not another wait
    grew = grown(before, counts(url))
    # A hung request that reached the queue after the hanging call started meets two equal
    # deadlines, its own and the call's: on busy cores (the parallel suite, AMD EPYC,
    # 2026-12-07) the call's can win the race and count it as refused for a stuck model
    # too, though its client got the 504. The last request is counted either way.
    assert 1 <= grew.pop("overload:model_stuck", 0) <= 1 + ROOM, grew
    assert grew == {"timeouts:request": ROOM, "timeouts:model": 1, "overload:concurrency": 1}
