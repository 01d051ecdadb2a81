import gzip
import struct

import numpy as np
import pytest

from mnistlab.data import idx
from mnistlab.data.datasets import get_spec
from mnistlab.data.load import _images_and_labels
from mnistlab.errors import MnistlabError


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path, dtype, suffix):
    array = (np.arange(2 * 3 * 4) % 100).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / f"x-idx3{suffix}"
    idx.write(path, array)
    back = idx.read(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")


def header(code=0x08, shape=(2, 2, 2)):
    return struct.pack(">HBB", 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"\x00\x00", "too short"),
        (b"\x12\x34\x08\x03" + b"\x00" * 20, "bad magic number"),
        (b"\x00\x00\x42\x01" + b"\x00" * 8, "bad magic number"),
        (header()[:8], "truncated header"),
        (header() + b"\x00" * 7, "truncated"),
        (header() + b"\x00" * 9, "1 trailing bytes"),
    ],
)
def test_corrupt_bytes_are_named(tmp_path, data, message):
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(MnistlabError, match=message) as e:
        idx.read(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_wrong_number_of_dimensions(tmp_path):
    path = tmp_path / "labels"
    idx.write(path, np.zeros((3, 2), np.uint8))
    with pytest.raises(MnistlabError, match="has 2 dimensions, expected 1"):
        idx.read(path, ndim=1)


def test_gz_that_is_not_gzip(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(idx.encode(np.zeros(3, np.uint8)))
    with pytest.raises(MnistlabError, match="is not gzip data"):
        idx.read(path)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx.encode(np.zeros(1000, np.uint8)))[:30])
    with pytest.raises(MnistlabError, match="corrupt gzip"):
        idx.read(path)


def test_missing_file(tmp_path):
    with pytest.raises(MnistlabError, match="file not found"):
        idx.read(tmp_path / "nope")


def test_image_label_count_mismatch_and_label_range():
    spec = get_spec("mnist")
    images = idx.encode(np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(MnistlabError, match="3 images but .* 2 labels"):
        _images_and_labels(spec, images, idx.encode(np.zeros(2, np.uint8)), "train")
    with pytest.raises(MnistlabError, match="label 10 is outside the 10 classes"):
        _images_and_labels(spec, images, idx.encode(np.array([1, 10, 2], np.uint8)), "train")
    x, y = _images_and_labels(spec, images, idx.encode(np.array([1, 9, 2], np.uint8)), "train")
    assert y.dtype == np.int64 and x.shape == (3, 28, 28)
