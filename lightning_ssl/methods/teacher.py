"""Frozen copies of modules that serve as exponential-moving-average teachers."""

import copy

from lightly.models.utils import deactivate_requires_grad
from torch import nn


def frozen_copy(module: nn.Module, blank: nn.Module | None = None) -> nn.Module:
    """A copy of ``module`` whose parameters require no gradient.

    Args:
        module: The module to copy.
        blank: A new module of the same architecture to load ``module``'s
            state into, instead of deep-copying it; needed for modules with
            ``torch.nn.utils.weight_norm`` (DINO's head), which cannot be
            deep-copied.

    Example:
        >>> teacher = frozen_copy(nn.Linear(4, 2))
        >>> any(p.requires_grad for p in teacher.parameters())
        False
    """
    if blank is None:
        teacher = copy.deepcopy(module)
    else:
        teacher = blank
        teacher.load_state_dict(module.state_dict())
    deactivate_requires_grad(teacher)
    return teacher
