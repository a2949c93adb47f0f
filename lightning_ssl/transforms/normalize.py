"""Per-channel normalisation of a batch."""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lightning_ssl.transforms._utils import to_float_images


class BatchedNormalize(nn.Module):
    """Subtract ``mean`` and divide by ``std``, per channel, on a float batch.

    uint8 batches are first scaled to ``[0, 1]``, so the statistics are on that
    scale, as for torchvision's ``Normalize`` after ``ToTensor``.

    Args:
        mean: Per-channel means; one value is used for every channel.
        std: Per-channel standard deviations, positive, as many as ``mean``.
        inplace: Write the result into float input batches instead of a copy.

    Raises:
        ValueError: If ``mean`` and ``std`` differ in length or a std is not
            positive.

    Example:
        >>> normalize = BatchedNormalize(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
        >>> normalize(torch.ones(1, 3, 1, 1)).flatten()
        tensor([2., 2., 2.])
    """

    mean: Tensor
    std: Tensor

    def __init__(
        self, mean: Sequence[float], std: Sequence[float], inplace: bool = False
    ) -> None:
        super().__init__()
        self.inplace = inplace
        if len(mean) == 0 or len(mean) != len(std):
            raise ValueError(
                "`mean` and `std` must be non-empty and of equal length, got "
                f"{len(mean)} and {len(std)} values."
            )
        if any(value <= 0 for value in std):
            raise ValueError(f"`std` must be positive, got {list(std)}.")
        # Not saved in state dicts: they are configuration, not state.
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), False)

    def forward(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Normalise a `(B, C, H, W)` batch.

        Args:
            images: uint8 batch in ``[0, 255]`` or float batch in ``[0, 1]`` with
                as many channels as ``mean`` (or any number if it has one).
            generator: Unused; accepted so that all batched ops share a signature.

        Returns:
            The normalised float batch, same shape.

        Raises:
            ValueError: If the channel count does not match ``mean``.
        """
        images = to_float_images(images)
        if self.mean.shape[1] not in (1, images.shape[1]):
            raise ValueError(
                f"`images` must have {self.mean.shape[1]} channels to match `mean`, "
                f"got shape {tuple(images.shape)}."
            )
        mean = self.mean.to(images.device, images.dtype)
        std = self.std.to(images.device, images.dtype)
        centred = images.sub_(mean) if self.inplace else images.sub(mean)
        return centred.div_(std)

    def extra_repr(self) -> str:
        """Arguments shown by ``print(module)``."""
        mean = [round(value, 6) for value in self.mean.flatten().tolist()]
        std = [round(value, 6) for value in self.std.flatten().tolist()]
        return f"mean={mean}, std={std}, inplace={self.inplace}"
