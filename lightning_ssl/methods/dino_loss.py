"""lightly's DINO loss with a centre that moves once per optimizer step."""

from typing import Any

import torch
from lightly.loss import DINOLoss
from lightly.models.modules.center import center_momentum
from torch import Tensor
from typing_extensions import override


class StepCenteredDINOLoss(DINOLoss):
    """lightly's `DINOLoss` whose centre moves once per optimizer step.

    The centre is the EMA of the teacher's mean output, subtracted before the
    teacher softmax so that no dimension dominates (Caron et al., 2021,
    Sec. 3.1).

    lightly updates the centre on every call. With gradient accumulation that
    would move it once per micro-batch; here each call only records the batch
    mean of the teacher outputs (averaged over ranks), and :meth:`step_center`
    applies their average with the EMA momentum after the optimizer step.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending_sum: Tensor
        self.register_buffer(
            "pending_sum", torch.zeros_like(self.center), persistent=False
        )
        self.pending_count = 0

    @override
    @torch.no_grad()
    def update_center(self, teacher_out: Tensor) -> None:
        """Record the mean of `(V, B, K)` teacher outputs for the next step."""
        self.pending_sum += self._center_fn(x=teacher_out, dim=(0, 1))
        self.pending_count += 1

    @torch.no_grad()
    def step_center(self) -> None:
        """Move the centre towards the mean of the recorded batch means."""
        if self.pending_count == 0:
            return
        batch_center = self.pending_sum / self.pending_count
        self.center.copy_(
            center_momentum(self.center, batch_center, self.center_momentum)
        )
        self.pending_sum.zero_()
        self.pending_count = 0
