"""Random Gaussian blur of a batch, with a sigma drawn for each sample."""

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_ssl.transforms._utils import (
    check_interval,
    check_probability,
    random_mask,
    random_uniform,
    to_float_images,
)

# Half-width of the automatic kernel in sigmas: 3 sigma hold 99.7% of the mass.
_TRUNCATE = 3.0


class BlurParams(NamedTuple):
    """Blur of a batch: `(B,)` bool ``blurred`` and `(B,)` ``sigma`` (0 if not)."""

    blurred: Tensor
    sigma: Tensor


class BatchedGaussianBlur(nn.Module):
    """Blur each image with probability ``p``, with its own sigma.

    Sigma is uniform in ``sigmas`` for each blurred sample. The blur is
    separable, along the width then the height, each sample with its own 1-D
    kernel, after reflection padding; only the blurred samples are computed.

    The kernel size comes from the largest sigma and the image size: by default
    ``2 * ceil(3 * sigmas[1]) + 1``, reduced to the largest odd size that fits
    the image, so that blurs are not truncated much on small images. lightly's
    ``GaussianBlur`` uses PIL's filter, which is not truncated at all; PIL pads
    by repeating the edge, this one by reflection, as torchvision does.

    Args:
        p: Probability that a sample is blurred.
        sigmas: ``(min, max)`` range of the standard deviation, in pixels.
        kernel_size: Odd kernel size; None derives it as described above.
        inplace: Write the result into float input batches instead of a copy.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        >>> blur = BatchedGaussianBlur(p=0.5, sigmas=(0.1, 2.0))
        >>> images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
        >>> blur(images).shape
        torch.Size([8, 3, 32, 32])
    """

    def __init__(
        self,
        p: float = 0.5,
        sigmas: tuple[float, float] = (0.1, 2.0),
        kernel_size: int | None = None,
        inplace: bool = False,
    ) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.sigmas = check_interval("sigmas", sigmas, low=0.0, low_open=True)
        if kernel_size is not None and (
            isinstance(kernel_size, bool)
            or not isinstance(kernel_size, int)
            or kernel_size < 1
            or kernel_size % 2 == 0
        ):
            raise ValueError(
                "`kernel_size` must be a positive odd int or None, got "
                f"{kernel_size!r}."
            )
        self.kernel_size = kernel_size
        self.inplace = inplace

    def sample_params(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> BlurParams:
        """Draw whether and how much to blur each sample of a `(B, C, H, W)` batch.

        Args:
            images: The batch; only its size and device are used.
            generator: Source of randomness; None uses torch's global one.

        Returns:
            The `(B,)` decisions and sigmas.
        """
        batch_size, device = len(images), images.device
        blurred = random_mask(batch_size, self.p, generator, device)
        sigma = random_uniform((batch_size,), *self.sigmas, generator, device)
        return BlurParams(blurred, torch.where(blurred, sigma, 0.0))

    def kernel_size_for(self, height: int, width: int) -> int:
        """Kernel size used on `height x width` images.

        Raises:
            ValueError: If an explicit ``kernel_size`` does not fit the image.

        Example:
            >>> BatchedGaussianBlur(sigmas=(0.1, 2.0)).kernel_size_for(32, 32)
            13
            >>> BatchedGaussianBlur(sigmas=(0.1, 2.0)).kernel_size_for(8, 8)
            7
        """
        largest_fitting = min(height, width) - (1 - min(height, width) % 2)
        if self.kernel_size is None:
            wanted = 2 * math.ceil(_TRUNCATE * self.sigmas[1]) + 1
            return max(1, min(wanted, largest_fitting))
        if self.kernel_size > largest_fitting:
            raise ValueError(
                f"`kernel_size` must be at most {largest_fitting} (the largest odd "
                f"size within {height}x{width} images), got {self.kernel_size}."
            )
        return self.kernel_size

    def apply_params(self, images: Tensor, params: BlurParams) -> Tensor:
        """Blur a `(B, C, H, W)` batch with the given sigmas.

        Args:
            images: uint8 or float batch.
            params: Sigmas from :meth:`sample_params`; 0 leaves a sample as is.

        Returns:
            The float batch, same shape.
        """
        images = to_float_images(images)
        size = self.kernel_size_for(images.shape[2], images.shape[3])
        if size == 1:
            return images

        # Only the blurred samples are computed, each with its own kernel.
        chosen = params.blurred & (params.sigma > 0)
        chosen = chosen.to(images.device).nonzero().squeeze(1)
        if len(chosen) == 0:
            return images
        radius = size // 2
        offsets = torch.arange(-radius, radius + 1, device=images.device)
        sigma = params.sigma.to(images.device, images.dtype)[chosen].unsqueeze(1)
        kernels = torch.exp(-0.5 * (offsets.to(images.dtype) / sigma).square())
        kernels = kernels / kernels.sum(dim=1, keepdim=True)  # (B', size)

        blurred = images.index_select(0, chosen)
        blurred = _convolve(blurred, kernels, dim=3)
        blurred = _convolve(blurred, kernels, dim=2)
        if not self.inplace:
            images = images.clone()
        return images.index_copy_(0, chosen, blurred)

    def forward(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Blur each sample of a `(B, C, H, W)` batch with probability ``p``.

        Args:
            images: uint8 batch in ``[0, 255]`` or float batch in ``[0, 1]``.
            generator: Source of randomness; None uses torch's global one.

        Returns:
            The float batch, same shape.
        """
        images = to_float_images(images)
        if self.p == 0:
            return images
        return self.apply_params(images, self.sample_params(images, generator))

    def extra_repr(self) -> str:
        """Arguments shown by ``print(module)``."""
        return (
            f"p={self.p}, sigmas={self.sigmas}, kernel_size={self.kernel_size}, "
            f"inplace={self.inplace}"
        )


def _convolve(images: Tensor, kernels: Tensor, dim: int) -> Tensor:
    """Convolve each sample of a `(B, C, H, W)` batch along ``dim`` (2 or 3).

    ``kernels`` is `(B, K)`, one odd kernel per sample; the border is reflected.
    A sum of K shifted copies: cheaper than a grouped convolution on CPU for
    small kernels, and one fused multiply-add per tap on GPU.
    """
    size, taps = images.shape[dim], kernels.shape[1]
    radius = taps // 2
    pad = (radius, radius, 0, 0) if dim == 3 else (0, 0, radius, radius)
    padded = F.pad(images, pad, mode="reflect")
    weights = kernels.view(-1, 1, 1, 1, taps)
    out = padded.narrow(dim, 0, size) * weights[..., 0]
    for tap in range(1, taps):
        out.addcmul_(padded.narrow(dim, tap, size), weights[..., tap])
    return out
