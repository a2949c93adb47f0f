"""Seeded, class-balanced subsets of labels for few-label evaluation."""

import torch
from torch import Tensor

from lightning_ssl.validation import check_range


def few_label_indices(targets: Tensor, fraction: float, seed: int = 0) -> Tensor:
    """Indices of a class-balanced, seeded fraction of the labelled samples.

    Every class contributes the same number of samples,
    ``round(fraction * labelled / classes)`` (at least one), or all of its
    samples when it has fewer. Samples are drawn by a per-class permutation
    seeded by ``seed``, so for one seed the subset of a smaller fraction is
    contained in that of a larger one, as with the nested 1% and 10% ImageNet
    subsets of semi-supervised benchmarks. ``fraction=1.0`` keeps every labelled
    sample. Unlabelled samples (target ``-1``) are never chosen.

    Args:
        targets: `(N,)` class ids, ``-1`` where unknown.
        fraction: Fraction of the labelled samples to keep, in ``(0, 1]``.
        seed: Seed of the draw.

    Returns:
        Sorted `(M,)` long indices into ``targets``.

    Raises:
        ValueError: If ``fraction`` is out of range or no sample is labelled.

    Example:
        >>> import torch
        >>> targets = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, -1])
        >>> indices = few_label_indices(targets, 0.5, seed=0)
        >>> targets[indices].bincount().tolist()
        [2, 2]
    """
    check_range("fraction", fraction, low=0.0, high=1.0, low_open=True)
    targets = targets.detach().cpu().long()
    labelled = (targets >= 0).nonzero().flatten()
    if len(labelled) == 0:
        raise ValueError(
            "Few-label subsets need labelled samples, got only unknown (-1) targets."
        )
    if fraction == 1.0:
        return labelled

    classes = targets[labelled].unique()
    per_class = max(1, round(fraction * len(labelled) / len(classes)))
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label in classes.tolist():
        members = (targets == label).nonzero().flatten()
        order = torch.randperm(len(members), generator=generator)
        chosen.append(members[order[:per_class]])
    return torch.cat(chosen).sort().values
