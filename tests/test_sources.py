"""The source order, verification and caching, on a small dataset made here."""

import functools
import gzip
import http.server
import socket
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from mnistlab import atomic
from mnistlab.data import idx, sources
from mnistlab.data.datasets import FILES, get_spec
from mnistlab.errors import MnistlabError

FILE = FILES["train-labels"]
GOOD = idx.encode(np.array([5, 0, 4, 1, 9], np.uint8))
BAD = idx.encode(np.array([5, 0, 4, 1, 8], np.uint8))


@pytest.fixture
def spec(tmp_path, monkeypatch):
    """A one-file dataset whose only trusted copy is GOOD; no network, no npm."""
    monkeypatch.setenv("MNISTLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MNISTLAB_DATA_DIR", raising=False)
    monkeypatch.delenv("MNISTLAB_MIRRORS", raising=False)
    return replace(
        get_spec("mnist"),
        name="tiny",
        sha256={FILE: sources.sha256(GOOD)},
        system_dirs=(str(tmp_path / "system"),),
        mirrors=(),
        npm_package=None,
    )


def put(folder, data, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (FILE + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_falls_through_to_system_dir_and_caches(tmp_path, spec):
    put(tmp_path / "system", GOOD, gz=True)
    data, origin = sources.Fetcher(spec).get(FILE)
    assert data == GOOD and origin.startswith("system dir")
    assert (tmp_path / "cache" / "tiny" / FILE).read_bytes() == GOOD
    (tmp_path / "system" / f"{FILE}.gz").unlink()
    assert sources.Fetcher(spec).get(FILE)[1].startswith("cache")


def test_user_dir_comes_first(tmp_path, spec):
    put(tmp_path / "system", GOOD)
    put(tmp_path / "mine" / "tiny", GOOD)
    assert sources.Fetcher(spec, tmp_path / "mine").get(FILE)[1].startswith("data dir")


def test_checksum_mismatch_is_rejected_named_and_not_cached(tmp_path, spec, caplog):
    put(tmp_path / "mine", BAD)
    with pytest.raises(MnistlabError) as e:
        sources.Fetcher(spec, tmp_path / "mine").get(FILE)
    message = str(e.value)
    assert "checksum mismatch" in message and "Place the four IDX files" in message
    assert "\n" not in message
    logged = caplog.text
    assert FILE in logged and sources.sha256(BAD) in logged and sources.sha256(GOOD) in logged
    assert not (tmp_path / "cache" / "tiny" / FILE).exists()


def test_bad_copy_falls_through_to_good_one(tmp_path, spec):
    put(tmp_path / "mine", BAD)
    put(tmp_path / "system", GOOD)
    data, origin = sources.Fetcher(spec, tmp_path / "mine").get(FILE)
    assert data == GOOD and origin.startswith("system dir")


def test_half_written_cache_file_is_not_trusted(tmp_path, spec):
    put(tmp_path / "cache" / "tiny", GOOD[:-2])  # what a non-atomic, interrupted write leaves
    put(tmp_path / "system", GOOD)
    data, origin = sources.Fetcher(spec).get(FILE)
    assert data == GOOD and origin.startswith("system dir")
    assert (tmp_path / "cache" / "tiny" / FILE).read_bytes() == GOOD


def test_interrupted_atomic_write_leaves_nothing(tmp_path):
    target = tmp_path / "cache" / FILE
    with pytest.raises(KeyboardInterrupt), atomic.atomic_path(target) as tmp:
        tmp.write_bytes(GOOD[:5])
        raise KeyboardInterrupt
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_mirror_falls_through_without_hanging(tmp_path, spec, monkeypatch):
    monkeypatch.setenv("MNISTLAB_MIRRORS", f"http://127.0.0.1:{closed_port()}/mnist/")
    put(tmp_path / "system", GOOD)
    start = time.monotonic()
    with pytest.raises(MnistlabError, match="could not get"):
        sources.Fetcher(replace(spec, system_dirs=())).get(FILE)
    assert time.monotonic() - start < sources.MIRROR_TIMEOUT_S  # refused, not timed out
    _, origin = sources.Fetcher(spec).get(FILE)
    assert origin.startswith("system dir")


@pytest.fixture
def mirror(tmp_path):
    """A real HTTP mirror on localhost serving FILE.gz."""
    root = tmp_path / "www" / "mnist"
    put(root, GOOD, gz=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=tmp_path / "www")
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/mnist/"
    server.shutdown()


def test_downloads_from_mirror_after_dead_one(tmp_path, spec, monkeypatch, mirror):
    monkeypatch.setenv("MNISTLAB_MIRRORS", f"http://127.0.0.1:{closed_port()}/x/,{mirror}")
    data, origin = sources.Fetcher(spec).get(FILE)
    assert data == GOOD and origin == f"mirror {mirror}"
    assert (tmp_path / "cache" / "tiny" / FILE).read_bytes() == GOOD


def test_atomic_files_get_ordinary_permissions(tmp_path):
    target = tmp_path / "report.html"
    atomic.write_text(target, "<p>hi</p>")
    assert target.stat().st_mode & 0o044 == 0o044  # group and others can read
