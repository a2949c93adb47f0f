"""Multi-block patch masks of I-JEPA: target blocks and a context block without them."""

import math

import torch
from torch import Tensor

# Redraws of a sample whose targets leave its context block (almost) empty.
MAX_MASK_TRIES = 100


def multi_block_masks(
    batch_size: int,
    grid: tuple[int, int],
    num_targets: int = 4,
    target_scale: tuple[float, float] = (0.15, 0.2),
    target_aspect_ratio: tuple[float, float] = (0.75, 1.5),
    context_scale: tuple[float, float] = (0.85, 1.0),
    min_context: int = 1,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """I-JEPA's multi-block masks on an `H x W` patch grid (Assran et al., 2023, 3).

    One block size is drawn per batch for the targets and one for the context
    (aspect ratio 1), as the official collator does; every sample then places
    its own ``num_targets`` target blocks and its context block, and the target
    patches are removed from the context. All samples thus share the target
    length; the context is cut to the shortest one in the batch by keeping a
    random subset of each sample's context patches (the official code keeps
    the first ones in raster order).

    Args:
        batch_size: Samples B.
        grid: Patch grid `(H, W)`.
        num_targets: Target blocks M per sample.
        target_scale: Range of a target block's area as a fraction of the grid.
        target_aspect_ratio: Range of a target block's height / width.
        context_scale: Range of the context block's area as a fraction.
        min_context: Fewest context patches a sample may keep; samples with
            fewer are redrawn.
        generator: Random generator; torch's global one when ``None``.
        device: Device of the returned indices.

    Returns:
        ``(idx_context, idx_targets)``: patch indices in row-major order, of
        shapes `(B, K_c)` and `(M, B, K_t)`, each row sorted.

    Raises:
        RuntimeError: If some sample keeps fewer than ``min_context`` context
            patches after ``MAX_MASK_TRIES`` redraws.

    Example:
        >>> generator = torch.Generator().manual_seed(0)
        >>> context, targets = multi_block_masks(2, (8, 8), generator=generator)
        >>> context.shape[0], targets.shape[:2], bool(context.lt(64).all())
        (2, torch.Size([4, 2]), True)
    """
    height, width = grid

    def uniform(low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=generator))

    def block_size(scale: tuple[float, float], aspect: tuple[float, float]) -> tuple:
        area, ratio = uniform(*scale) * height * width, uniform(*aspect)
        h, w = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
        return min(max(h, 1), height), min(max(w, 1), width)

    def blocks(samples: int, count: int, size: tuple[int, int]) -> Tensor:
        # Boolean masks (samples, count, H * W) of blocks at random positions.
        shape = (samples, count, 1, 1)
        top = torch.randint(0, height - size[0] + 1, shape, generator=generator)
        left = torch.randint(0, width - size[1] + 1, shape, generator=generator)
        rows, cols = torch.arange(height).view(-1, 1), torch.arange(width)
        inside_rows = (rows >= top) & (rows < top + size[0])
        return (inside_rows & (cols >= left) & (cols < left + size[1])).flatten(2)

    target_size = block_size(target_scale, target_aspect_ratio)
    context_size = block_size(context_scale, (1.0, 1.0))
    targets = blocks(batch_size, num_targets, target_size)  # (B, M, H * W)
    context = blocks(batch_size, 1, context_size)[:, 0] & ~targets.any(1)
    for _ in range(MAX_MASK_TRIES):
        short = context.sum(1) < min_context
        if not short.any():
            break
        redrawn = blocks(int(short.sum()), num_targets, target_size)
        targets[short] = redrawn
        context[short] = blocks(len(redrawn), 1, context_size)[:, 0]
        context[short] &= ~redrawn.any(1)
    keep = int(context.sum(1).min())
    if keep < min_context:
        raise RuntimeError(
            f"Target blocks of {target_size} patches cover the context block of "
            f"{context_size} on a {grid} grid; use a finer patch grid."
        )

    # A random `keep` of each sample's context patches: True scores exceed 1.
    scores = context.float() + torch.rand(context.shape, generator=generator)
    idx_context = scores.topk(keep, dim=1).indices.sort(dim=1).values
    idx_targets = targets.nonzero()[:, 2].view(batch_size, num_targets, -1)
    return idx_context.to(device), idx_targets.transpose(0, 1).to(device)
