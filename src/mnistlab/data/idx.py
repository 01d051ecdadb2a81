"""Read and write IDX files (raw or gzip), the format MNIST and Fashion-MNIST ship in.

Layout: two zero bytes, a data-type code, the number of dimensions, one
big-endian uint32 per dimension, then the values in big-endian order.
Every check names the file, because a user with a bad download needs to know
which of the four files to fetch again.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from mnistlab.atomic import atomic_path
from mnistlab.errors import MnistlabError

DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
CODES = {dt.newbyteorder("="): code for code, dt in DTYPES.items()}
GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | os.PathLike) -> bytes:
    """The decompressed bytes of an IDX file; gzip is detected by content, not name."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MnistlabError(f"{path}: file not found") from None
    except OSError as e:
        raise MnistlabError(f"{path}: cannot read ({e.strerror})") from None
    if data[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise MnistlabError(f"{path}: corrupt gzip data ({e}); download it again") from None
    if path.suffix == ".gz":
        raise MnistlabError(f"{path}: named .gz but is not gzip data; download it again")
    return data


def parse(data: bytes, name: str = "<bytes>", ndim: int | None = None) -> np.ndarray:
    """Parse decompressed IDX bytes into a native-endian array, checking every size."""
    if len(data) == 0:
        raise MnistlabError(f"{name}: empty file")
    if len(data) < 4:
        raise MnistlabError(f"{name}: too short for an IDX header ({len(data)} bytes)")
    zero, code, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in DTYPES:
        raise MnistlabError(
            f"{name}: bad magic number 0x{data[:4].hex()} (not an IDX file, or corrupt)"
        )
    if ndim is not None and dims != ndim:
        raise MnistlabError(f"{name}: has {dims} dimensions, expected {ndim}")
    header = 4 + 4 * dims
    if len(data) < header:
        raise MnistlabError(f"{name}: truncated header ({len(data)} of {header} bytes)")
    shape = struct.unpack(f">{dims}I", data[4:header])
    dtype = DTYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) < expected:
        raise MnistlabError(
            f"{name}: truncated: header declares shape {shape} ({expected} bytes), "
            f"file has {len(data)} bytes"
        )
    if len(data) > expected:
        raise MnistlabError(
            f"{name}: {len(data) - expected} trailing bytes after the data of shape {shape}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a native-endian array."""
    return parse(read_bytes(path), str(path), ndim)


def encode(array: np.ndarray) -> bytes:
    """The IDX bytes of an array (uint8, int8, int16, int32, float32 or float64)."""
    dtype = array.dtype.newbyteorder("=")
    if dtype not in CODES:
        raise MnistlabError(f"IDX cannot store dtype {array.dtype}")
    code = CODES[dtype]
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=DTYPES[code]).tobytes()


def write(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an IDX file atomically, gzip-compressed when the name ends in .gz."""
    data = encode(array)
    path = Path(path)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
