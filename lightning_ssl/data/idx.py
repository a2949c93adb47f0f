"""Reader for the IDX files of MNIST and Fashion-MNIST, gzipped or not."""

import gzip
from pathlib import Path

import numpy as np

# The third byte of an IDX header names the element type; data is big-endian.
_IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file into a numpy array.

    Files whose name ends in ``.gz`` are decompressed on the fly.

    Args:
        path: The IDX file, such as ``train-images-idx3-ubyte.gz``.

    Returns:
        The array, shaped as the header says; ``(N, 28, 28)`` for image files and
        ``(N,)`` for label files. Byte data is returned as ``uint8``.

    Raises:
        ValueError: If the file is not a valid IDX file.

    Example:
        >>> import tempfile
        >>> header = bytes([0, 0, 0x08, 1]) + (3).to_bytes(4, "big")
        >>> path = Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
        >>> _ = path.write_bytes(header + bytes([7, 0, 9]))
        >>> read_idx(path)
        array([7, 0, 9], dtype=uint8)
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as file:
        data = file.read()

    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file: its header is {data[:4]!r}.")
    ndim = data[3]
    shape = tuple(
        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    )

    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    offset = 4 + 4 * ndim
    if len(data) - offset != expected:
        raise ValueError(
            f"{path} is truncated or corrupt: its header announces shape {shape} "
            f"({expected} bytes) but it holds {len(data) - offset} bytes of data."
        )
    array = np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


FASHION_MNIST_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_targets": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_targets": "t10k-labels-idx1-ubyte",
}
"""Original IDX file names of (Fashion-)MNIST, without the ``.gz`` suffix."""


def locate_idx_files(
    folder: str | Path, names: dict[str, str] = FASHION_MNIST_FILES
) -> dict[str, Path]:
    """Find IDX files in a folder, preferring unzipped ones over ``.gz`` ones.

    Args:
        folder: Folder holding the files, such as
            ``/usr/share/datasets/fashion-mnist``.
        names: Maps a key to a file name without ``.gz``.

    Returns:
        The path of each file, under the same keys.

    Raises:
        FileNotFoundError: If a file is missing in both forms.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"")
        >>> found = locate_idx_files(folder, {"labels": "train-labels-idx1-ubyte"})
        >>> found["labels"].name
        'train-labels-idx1-ubyte.gz'
    """
    folder = Path(folder)
    found: dict[str, Path] = {}
    for key, name in names.items():
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break

    missing = [name for key, name in names.items() if key not in found]
    if missing:
        raise FileNotFoundError(
            f"{folder} lacks the IDX files {missing} (plain or with a .gz suffix)."
        )
    return found
