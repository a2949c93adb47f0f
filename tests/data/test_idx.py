"""Tests of the IDX reader, on handmade files and on real Fashion-MNIST."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from lightning_ssl.data.idx import FASHION_MNIST_FILES, locate_idx_files, read_idx


def write_idx(path: Path, array: np.ndarray, code: int) -> None:
    header = bytes([0, 0, code, array.ndim])
    header += b"".join(size.to_bytes(4, "big") for size in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as file:
        file.write(header + array.tobytes())


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    ("dtype", "code"), [(np.uint8, 0x08), (">i4", 0x0C), (">f4", 0x0D)]
)
def test_read_idx_round_trip(
    tmp_path: Path, suffix: str, dtype: str, code: int
) -> None:
    array = np.arange(24).reshape(2, 3, 4).astype(dtype)
    path = tmp_path / f"file-idx3{suffix}"
    write_idx(path, array, code)

    result = read_idx(path)
    np.testing.assert_array_equal(result, array)
    assert result.dtype.isnative


def test_read_idx_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="is not an IDX file"):
        read_idx(bad)

    truncated = tmp_path / "truncated"
    write_idx(truncated, np.zeros((2, 2), np.uint8), 0x08)
    truncated.write_bytes(truncated.read_bytes()[:-1])
    with pytest.raises(ValueError, match=r"truncated or corrupt.*shape \(2, 2\)"):
        read_idx(truncated)


def test_locate_idx_files_prefers_unzipped_and_names_missing(tmp_path: Path) -> None:
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"")
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        locate_idx_files(tmp_path)

    found = locate_idx_files(tmp_path, {"images": "train-images-idx3-ubyte"})
    assert found["images"].name == "train-images-idx3-ubyte"


def test_read_real_fashion_mnist(fashion_mnist_dir: Path) -> None:
    files = locate_idx_files(fashion_mnist_dir)
    assert set(files) == set(FASHION_MNIST_FILES)
    images = read_idx(files["test_images"])
    targets = read_idx(files["test_targets"])

    assert images.shape == (10000, 28, 28)
    assert images.dtype == np.uint8
    assert np.bincount(targets).tolist() == [1000] * 10
