"""Build the embedded Fashion-MNIST sample from the original IDX files.

Usage::

    python -m lightning_ssl.data.sample.build --source /usr/share/datasets/fashion-mnist

See :mod:`lightning_ssl.data.sample` for the content and the attribution.
"""

import argparse
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lightning_ssl.data.classes import FASHION_MNIST_CLASSES
from lightning_ssl.data.idx import locate_idx_files, read_idx
from lightning_ssl.data.sample import SAMPLE_PATH

log = logging.getLogger(__name__)


def first_per_class(targets: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` samples of every class, in file order.

    Args:
        targets: ``(N,)`` class ids.
        per_class: How many samples to keep of each class.

    Returns:
        Sorted ``(K * per_class,)`` indices for the ``K`` classes in ``targets``.

    Raises:
        ValueError: If a class has fewer than ``per_class`` samples.

    Example:
        >>> first_per_class(np.array([0, 1, 0, 0, 1, 1]), per_class=2)
        array([0, 1, 2, 4])
    """
    chosen = []
    for class_id in np.unique(targets):
        indices = np.flatnonzero(targets == class_id)
        if len(indices) < per_class:
            raise ValueError(
                f"per_class must be at most {len(indices)}, the size of class "
                f"{class_id}; got {per_class}."
            )
        chosen.append(indices[:per_class])
    return np.sort(np.concatenate(chosen))


def build_sample(
    source: str | Path,
    output: str | Path = SAMPLE_PATH,
    train_per_class: int = 1000,
    test_per_class: int = 200,
) -> Path:
    """Write a class-balanced Fashion-MNIST sample as a compressed ``.npz`` file.

    Args:
        source: Folder with the four Fashion-MNIST IDX files, gzipped or not.
        output: Where to write the ``.npz`` file; replaced atomically.
        train_per_class: Training images kept per class.
        test_per_class: Test images kept per class.

    Returns:
        The path of the written file.

    Raises:
        FileNotFoundError: If ``source`` lacks one of the IDX files.
        ValueError: If a class has fewer images than requested.
    """
    files = locate_idx_files(source)
    # Any, not ndarray: mypy would match ndarray values to savez's allow_pickle.
    arrays: dict[str, Any] = {"class_names": np.array(FASHION_MNIST_CLASSES)}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        targets = read_idx(files[f"{split}_targets"])
        keep = first_per_class(targets, per_class)
        arrays[f"{split}_images"] = read_idx(files[f"{split}_images"])[keep]
        arrays[f"{split}_targets"] = targets[keep].astype(np.uint8)

    # Write next to the target and rename, so readers never see a partial file.
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=output.parent, suffix=".npz.tmp")
    with os.fdopen(handle, "wb") as file:
        np.savez_compressed(file, **arrays)
    os.chmod(temporary, 0o644)  # mkstemp creates private files; this one is data
    os.replace(temporary, output)
    log.info("Wrote %s (%d bytes).", output, output.stat().st_size)
    return output


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(
        description="Build the embedded Fashion-MNIST sample from the IDX files."
    )
    parser.add_argument(
        "--source",
        type=Path,
        required=True,
        help="folder with the Fashion-MNIST IDX files (.gz or unzipped)",
    )
    parser.add_argument(
        "--output", type=Path, default=SAMPLE_PATH, help="where to write the .npz"
    )
    parser.add_argument("--train-per-class", type=int, default=1000)
    parser.add_argument("--test-per-class", type=int, default=200)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build_sample(args.source, args.output, args.train_per_class, args.test_per_class)


if __name__ == "__main__":
    main()
