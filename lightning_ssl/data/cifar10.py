"""CIFAR-10 datamodule, from torchvision's files or from an image folder."""

from pathlib import Path
from typing import Any, Literal

from torch.utils.data import Dataset
from torchvision.datasets import CIFAR10
from typing_extensions import override

from lightning_ssl.data.datamodule import SSLDataModule
from lightning_ssl.data.datasets import ImageFolderDataset

_BATCHES = "cifar-10-batches-py"

Layout = Literal["torchvision", "folder"]


def detect_cifar10_layout(root: Path, download: bool = False) -> tuple[Path, Layout]:
    """Tell how CIFAR-10 is stored under ``root``.

    Args:
        root: Either a torchvision root holding ``cifar-10-batches-py/`` (or that
            folder itself), or an image folder with ``train/`` and ``test/``
            subfolders of class folders.
        download: Whether the torchvision files may be downloaded into ``root``.

    Returns:
        The root to use and its layout, ``"torchvision"`` or ``"folder"``.

    Raises:
        FileNotFoundError: If ``root`` does not exist and ``download`` is False.
        ValueError: If ``root`` has neither layout and ``download`` is False.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "cifar-10-batches-py").mkdir()
        >>> detect_cifar10_layout(root)[1]
        'torchvision'
    """
    if root.name == _BATCHES:
        root = root.parent
    if (root / _BATCHES).is_dir():
        return root, "torchvision"
    if (root / "train").is_dir() and (root / "test").is_dir():
        return root, "folder"
    if download:
        return root, "torchvision"

    if not root.exists():
        raise FileNotFoundError(
            f"CIFAR-10 root {root} does not exist; pass download=True to download "
            "CIFAR-10 there."
        )
    raise ValueError(
        f"root={str(root)!r} is not a CIFAR-10 root: expected either a torchvision "
        f"root with a {_BATCHES}/ folder or an image folder with train/ and test/ "
        "subfolders of class folders. Pass download=True to download CIFAR-10 there."
    )


class CIFAR10DataModule(SSLDataModule):
    """Self-supervised training on CIFAR-10 (10 classes, 32x32 RGB images).

    The 50,000 training images train the model; the 10,000 test images are the
    validation split. ``root`` may be a torchvision root (``cifar-10-batches-py/``,
    downloaded there with ``download=True``) or an image folder with ``train/`` and
    ``test/`` subfolders of class folders, such as exported JPEGs; the layout is
    detected.

    Args:
        root: The torchvision root or the image folder.
        download: Download the torchvision files into ``root`` if missing (in
            :meth:`prepare_data`).
        image_size: Side of the square training and evaluation images.
        **kwargs: Further arguments of :class:`SSLDataModule`, such as
            ``transform``, ``batch_size``, ``augment_on`` or ``cache`` (decode the
            60,000 images once into ``cache_dir``, about 180 MB, and memory-map
            them on later runs).

    Raises:
        FileNotFoundError: If ``root`` does not exist and ``download`` is False.
        ValueError: If ``root`` has neither layout, or its image folder does not
            hold 10 classes.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> from lightning_ssl.data.classes import CIFAR10_CLASSES
        >>> root = Path(tempfile.mkdtemp())
        >>> for split in ("train", "test"):
        ...     for name in CIFAR10_CLASSES:
        ...         (root / split / name).mkdir(parents=True)
        ...         Image.new("RGB", (32, 32)).save(root / split / name / "0.png")
        >>> datamodule = CIFAR10DataModule(root, num_workers=0)
        >>> datamodule.layout, datamodule.num_classes, datamodule.image_size
        ('folder', 10, 32)
        >>> len(datamodule.eval_train_dataset), datamodule.class_names[:2]
        (10, ['airplane', 'automobile'])
    """

    def __init__(
        self,
        root: str | Path,
        *,
        download: bool = False,
        image_size: int | None = 32,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            train_dataset=None,
            val_dataset=None,
            image_size=image_size,
            num_classes=10,
            **kwargs,
        )
        self.download = download
        self.root, self.layout = detect_cifar10_layout(
            Path(root).expanduser(), download
        )

    @override
    def prepare_data(self) -> None:
        """Download the torchvision files when ``download`` is set, then cache.

        With ``cache=True`` the images are then decoded into the cache (see
        :class:`SSLDataModule`).
        """
        if self.layout == "torchvision" and self.download:
            CIFAR10(self.root, train=True, download=True)
        super().prepare_data()

    @override
    def _load_datasets(self) -> tuple[Dataset[Any], Dataset[Any] | None]:
        if self.layout == "folder":
            train = ImageFolderDataset(self.root / "train")
            if len(train.classes) != 10:
                raise ValueError(
                    f"CIFAR-10 image folder {self.root / 'train'} must hold 10 class "
                    f"folders; got {len(train.classes)}: {train.classes}."
                )
            return train, ImageFolderDataset(self.root / "test", train.class_to_idx)

        try:
            return CIFAR10(self.root, train=True), CIFAR10(self.root, train=False)
        except RuntimeError as error:
            raise ValueError(
                f"CIFAR-10 files in {self.root / _BATCHES} are missing or corrupt "
                f"({error}); pass download=True to download them again."
            ) from error
