"""Datamodule on folders of images, labelled by class subfolder or unlabelled."""

from pathlib import Path
from typing import Any

from lightning_ssl.data.datamodule import SSLDataModule


class ImageFolderDataModule(SSLDataModule):
    """Self-supervised training on a folder of images.

    ``train_root`` holds images either in class subfolders
    (``train_root/<class>/**/<image>``, classes numbered in sorted order) or
    directly, unlabelled (targets ``-1``). ``val_root`` must be labelled with the
    training classes (or a subset of them) and serves validation, kNN and linear
    probes. Images may be of any size and mode; set ``image_size`` when they differ
    in size, since evaluation batches need a common one.

    Args:
        train_root: Folder of training images.
        val_root: Folder of labelled validation images, or None.
        image_size: Side of the square training and evaluation images; None keeps
            the stored sizes.
        **kwargs: Further arguments of :class:`SSLDataModule`, such as
            ``transform``, ``batch_size`` or ``augment_on``.

    Raises:
        FileNotFoundError: If a folder does not exist.
        ValueError: If a folder holds no image, or ``val_root`` has classes that
            ``train_root`` lacks (raised when the datasets are first built).

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> for split, name in [("train", "cat"), ("train", "dog"), ("val", "dog")]:
        ...     (root / split / name).mkdir(parents=True)
        ...     Image.new("RGB", (20, 16)).save(root / split / name / "0.png")
        >>> datamodule = ImageFolderDataModule(
        ...     root / "train", root / "val", image_size=8, num_workers=0
        ... )
        >>> datamodule.num_classes, datamodule.class_names
        (2, ['cat', 'dog'])
        >>> images, targets = next(iter(datamodule.eval_val_dataloader()))
        >>> images.shape, targets
        (torch.Size([1, 3, 8, 8]), tensor([1]))
    """

    def __init__(
        self,
        train_root: str | Path,
        val_root: str | Path | None = None,
        *,
        image_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            train_dataset=train_root,
            val_dataset=val_root,
            image_size=image_size,
            **kwargs,
        )
