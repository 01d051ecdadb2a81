"""onnxruntime-web, the runtime that runs a run's ONNX file in the page, from the npm registry.

One pinned version, fetched once (`make setup`, or the first `mnistlab export --format web`)
with npm into the cache (MNISTLAB_CACHE or ~/.cache/mnistlab/onnxruntime-web-VERSION/) and
checked against its pinned integrity hash; never part of the repository. Only the three
files the page needs are kept: the single-file WebAssembly loader (`ort.wasm.min.js`), the
Emscripten glue it imports, and the WebAssembly binary, gzipped (a fifth of its size; the
page inflates it with the browser's DecompressionStream, since a static host may serve a
.gz file as it is). Single-threaded: a 28x28 image gains nothing from threads, and a
static host need not send the cross-origin headers that threads require.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import subprocess
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from mnistlab import atomic
from mnistlab.data.sources import cache_root, npm_pack
from mnistlab.errors import MnistlabError

VERSION = "1.30.0"
PACKAGE = f"onnxruntime-web@{VERSION}"
INTEGRITY = (  # the registry's `dist.integrity` of the tarball: sha512, base64
    "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
)
TARBALL = f"https://registry.npmjs.org/onnxruntime-web/-/onnxruntime-web-{VERSION}.tgz"
LOADER, GLUE, WASM = "ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"
FILES = (LOADER, GLUE, WASM + ".gz")  # what the cache holds and the page loads, under ort/


def folder() -> Path:
    """Where the runtime's files are cached."""
    return cache_root() / f"onnxruntime-web-{VERSION}"


def cached() -> Path | None:
    """The cached runtime's folder, or None when it is not (all) there."""
    path = folder()
    return path if all((path / name).is_file() for name in FILES) else None


def ensure() -> Path:
    """The cached runtime's folder, fetching it first when it is not cached; MnistlabError in
    one line when it cannot be fetched (no npm, registry unreachable, wrong hash)."""
    return cached() or fetch()


def fetch() -> Path:
    """Download the pinned package (with npm, or from the registry's URL where npm is not
    installed), check its hash, cache the page's three files."""
    with tempfile.TemporaryDirectory(prefix="mnistlab-ort-") as work:
        try:
            tarball = _download(Path(work))
        except (OSError, subprocess.SubprocessError) as e:
            raise MnistlabError(
                f"{PACKAGE}, the page's runtime, is not cached in {folder()} and the npm "
                f"registry cannot be reached ({e}): run `make setup` where it can, or copy that "
                "folder from a machine that has it"
            ) from None
        data = tarball.read_bytes()
        digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        if digest != INTEGRITY:
            raise MnistlabError(f"{PACKAGE} from the registry does not match its pinned hash "
                                f"({digest[:20]}...); nothing was cached")  # fmt: skip
        with tarfile.open(tarball) as tar:
            tar.extractall(work, filter="data")
        dist = Path(work) / "package" / "dist"
        target = folder()
        try:
            for name in (LOADER, GLUE):
                atomic.write_bytes(target / name, (dist / name).read_bytes())
            # mtime 0: the same bytes on every machine
            wasm = gzip.compress((dist / WASM).read_bytes(), compresslevel=9, mtime=0)
            atomic.write_bytes(target / (WASM + ".gz"), wasm)
        except OSError as e:
            raise MnistlabError(f"cannot write {e.filename}: {e.strerror}; set MNISTLAB_CACHE "
                                "to a writable folder") from None  # fmt: skip
    return target


def _download(work: Path) -> Path:
    try:
        return npm_pack(PACKAGE, work)
    except FileNotFoundError:  # no npm: the tarball's address on the public registry
        with urllib.request.urlopen(TARBALL, timeout=60) as answer:
            (work / "package.tgz").write_bytes(answer.read())
        return work / "package.tgz"


def main() -> None:
    """`make setup`: cache the runtime once; says nothing when it is cached already."""
    if cached() is not None:
        return
    try:
        path = fetch()
    except MnistlabError as e:
        raise SystemExit(f"error: {e}") from None
    print(f"{PACKAGE} cached in {path}")
