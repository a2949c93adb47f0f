"""Fashion-MNIST datamodule, from torchvision's files or the original IDX files.

Fashion-MNIST is by Zalando Research (https://github.com/zalandoresearch/fashion-mnist)
and is distributed under the MIT license.
"""

import gzip
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

from torch.utils.data import Dataset
from torchvision.datasets import FashionMNIST
from typing_extensions import override

from lightning_ssl.data.datamodule import SSLDataModule
from lightning_ssl.data.idx import FASHION_MNIST_FILES, locate_idx_files

Layout = Literal["torchvision", "idx"]


def _has_raw_files(folder: Path) -> bool:
    """Whether torchvision's FashionMNIST would find its unzipped files here."""
    return all((folder / name).is_file() for name in FASHION_MNIST_FILES.values())


def detect_fashion_mnist_layout(root: Path, download: bool = False) -> Layout:
    """Tell how Fashion-MNIST is stored under ``root``.

    Args:
        root: Either a torchvision root (``root/FashionMNIST/raw/`` with the
            unzipped files) or a folder holding the four IDX files, gzipped or not.
        download: Whether the torchvision files may be downloaded into ``root``.

    Returns:
        ``"torchvision"`` or ``"idx"``.

    Raises:
        FileNotFoundError: If ``root`` does not exist and ``download`` is False.
        ValueError: If ``root`` has neither layout and ``download`` is False.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> for name in FASHION_MNIST_FILES.values():
        ...     _ = (root / f"{name}.gz").write_bytes(b"")
        >>> detect_fashion_mnist_layout(root)
        'idx'
    """
    if _has_raw_files(root / "FashionMNIST" / "raw"):
        return "torchvision"
    try:
        locate_idx_files(root)
        return "idx"
    except FileNotFoundError:
        pass
    if download:
        return "torchvision"

    if not root.exists():
        raise FileNotFoundError(
            f"Fashion-MNIST root {root} does not exist; pass download=True to "
            "download Fashion-MNIST there."
        )
    raise ValueError(
        f"root={str(root)!r} is not a Fashion-MNIST root: expected either a "
        "torchvision root with FashionMNIST/raw/ or a folder holding the IDX files "
        f"{sorted(FASHION_MNIST_FILES.values())} (optionally .gz). Pass "
        "download=True to download Fashion-MNIST there."
    )


def unpack_idx_files(source: Path, target: Path) -> None:
    """Copy the Fashion-MNIST IDX files to ``target``, decompressing ``.gz`` ones.

    Files already in ``target`` are kept. Each file is written under a temporary
    name and renamed, so concurrent processes never read a partial file.

    Args:
        source: Folder holding the IDX files; it is only read.
        target: Folder to write the unzipped files to, created if needed.
    """
    target.mkdir(parents=True, exist_ok=True)
    for key, path in locate_idx_files(source).items():
        destination = target / FASHION_MNIST_FILES[key]
        if destination.is_file():
            continue

        handle, temporary = tempfile.mkstemp(dir=target, suffix=".tmp")
        opener = gzip.open if path.suffix == ".gz" else open
        with os.fdopen(handle, "wb") as output, opener(path, "rb") as file:
            shutil.copyfileobj(file, output)
        os.chmod(temporary, 0o644)
        os.replace(temporary, destination)


class FashionMNISTDataModule(SSLDataModule):
    """Self-supervised training on Fashion-MNIST (10 classes, 28x28 grayscale).

    The 60,000 training images train the model; the 10,000 test images are the
    validation split. ``root`` may be a torchvision root (``FashionMNIST/raw/``,
    downloaded there with ``download=True``) or a folder holding the original IDX
    files, such as ``/usr/share/datasets/fashion-mnist`` from the Debian package
    ``dataset-fashion-mnist``. The latter are decompressed once into ``cache_dir``;
    files under ``root`` are never modified. Images are converted to RGB unless
    ``channels=1``.

    Args:
        root: The torchvision root or the folder of IDX files.
        download: Download the torchvision files into ``root`` if missing (in
            :meth:`prepare_data`).
        cache_dir: Where to decompress IDX files (and, with ``cache=True``, to
            keep the decoded images); None uses ``$XDG_CACHE_HOME/lightning_ssl``
            (by default ``~/.cache/lightning_ssl``).
        image_size: Side of the square training and evaluation images.
        **kwargs: Further arguments of :class:`SSLDataModule`, such as
            ``transform``, ``batch_size`` or ``channels``.

    Raises:
        FileNotFoundError: If ``root`` does not exist and ``download`` is False.
        ValueError: If ``root`` has neither layout and ``download`` is False.

    Example:
        A folder of gzipped IDX files (here tiny fakes with 4 images per split):

        >>> import gzip, tempfile
        >>> import numpy as np
        >>> root = Path(tempfile.mkdtemp())
        >>> def write_idx(name, array):
        ...     header = bytes([0, 0, 8, array.ndim]) + b"".join(
        ...         size.to_bytes(4, "big") for size in array.shape
        ...     )
        ...     with gzip.open(root / f"{name}.gz", "wb") as file:
        ...         _ = file.write(header + array.tobytes())
        >>> for split in ("train", "t10k"):
        ...     write_idx(f"{split}-images-idx3-ubyte", np.zeros((4, 28, 28), np.uint8))
        ...     write_idx(f"{split}-labels-idx1-ubyte", np.arange(4, dtype=np.uint8))
        >>> datamodule = FashionMNISTDataModule(
        ...     root, cache_dir=root / "cache", num_workers=0
        ... )
        >>> datamodule.layout, datamodule.num_classes, datamodule.image_size
        ('idx', 10, 28)
        >>> images, targets = next(iter(datamodule.eval_train_dataloader()))
        >>> images.shape, targets
        (torch.Size([4, 3, 28, 28]), tensor([0, 1, 2, 3]))
    """

    def __init__(
        self,
        root: str | Path,
        *,
        download: bool = False,
        cache_dir: str | Path | None = None,
        image_size: int | None = 28,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            train_dataset=None,
            val_dataset=None,
            image_size=image_size,
            num_classes=10,
            cache_dir=cache_dir,
            **kwargs,
        )
        self.root = Path(root).expanduser()
        self.download = download
        self.layout = detect_fashion_mnist_layout(self.root, download)

        # IDX files are decompressed below cache_dir, in a folder keyed by the
        # source folder so that two sources never mix.
        digest = hashlib.sha1(str(self.root.resolve()).encode()).hexdigest()[:12]
        self.unpack_dir = self.cache_dir / f"fashion_mnist-{digest}"

    @property
    def torchvision_root(self) -> Path:
        """The root passed to torchvision's ``FashionMNIST``."""
        return self.root if self.layout == "torchvision" else self.unpack_dir

    @override
    def prepare_data(self) -> None:
        """Download the torchvision files, or decompress the IDX files once.

        With ``cache=True`` the images are then decoded into the cache (see
        :class:`SSLDataModule`).
        """
        if self.layout == "torchvision" and self.download:
            FashionMNIST(self.root, train=True, download=True)
        elif self.layout == "idx":
            unpack_idx_files(self.root, self.unpack_dir / "FashionMNIST" / "raw")
        super().prepare_data()

    @override
    def _load_datasets(self) -> tuple[Dataset[Any], Dataset[Any] | None]:
        # Without a Trainer nobody called prepare_data; unpacking is idempotent.
        if self.layout == "idx":
            unpack_idx_files(self.root, self.unpack_dir / "FashionMNIST" / "raw")
        try:
            return (
                FashionMNIST(self.torchvision_root, train=True),
                FashionMNIST(self.torchvision_root, train=False),
            )
        except RuntimeError as error:
            raise ValueError(
                f"Fashion-MNIST files under {self.torchvision_root} are missing or "
                f"corrupt ({error}); pass download=True to download them again."
            ) from error
