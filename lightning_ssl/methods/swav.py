"""SwAV: predict one view's prototype assignment from another view."""

from typing import Any, cast

import torch
from lightly.loss import SwaVLoss
from lightly.models.modules import SwaVProjectionHead, SwaVPrototypes
from lightly.transforms import SwaVTransform
from lightly.utils import dist
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from torch.nn import functional as F
from typing_extensions import override

from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.base import SSLMethod, is_small_image
from lightning_ssl.methods.multicrop import (
    forward_by_resolution,
    local_crop_size,
    split_views,
)
from lightning_ssl.methods.queue import FeatureQueue
from lightning_ssl.methods.types import StepOutput, Views
from lightning_ssl.validation import check_positive_int, check_range


class SwAV(SSLMethod):
    """SwAV (Caron et al., 2020, https://arxiv.org/abs/2006.09882).

    Online clustering: the normalised projections of the two global crops are
    softly assigned to learned prototypes with equal-partition Sinkhorn-Knopp
    iterations over the batches of all ranks, and every other crop (global or
    local) predicts those assignments. Prototypes are renormalised after every
    optimizer step and stay fixed during the first epoch (Appendix A).
    Defaults follow the paper's ImageNet recipe: LARS with learning rate 0.3 x
    batch / 256 (4.8 at 4096) decaying to 1/1000 of it, weight decay 1e-6,
    10 warmup epochs, 3000 prototypes, temperature 0.1, Sinkhorn epsilon 0.05
    with 3 iterations, a 2048-wide head to 128 dimensions, and 2 global + 6
    local crops. For small batches (256) the paper adds a queue of 3840
    projections per global crop from epoch 15 on (``queue_length=3840``).

    Args:
        backbone: Backbone name or module, see :class:`SSLMethod`.
        projection_hidden_dim: Hidden width of the projection head.
        projection_dim: Output dimension of the projection head.
        num_prototypes: Number of prototypes.
        temperature: Softmax temperature of the swapped prediction.
        sinkhorn_iterations: Sinkhorn-Knopp iterations.
        sinkhorn_epsilon: Entropy regularisation of Sinkhorn-Knopp.
        freeze_prototypes_epochs: Epochs during which prototypes are fixed.
        queue_length: Projections stored per global crop; 0 disables the queue.
        queue_start_epoch: First epoch in which the (full) queue is used.
        num_local_views: Local crops made by :meth:`default_transform`.
        local_crop_size: Side of local crops; 96/224 of the global side when
            ``None``.
        optimizer: See :class:`SSLMethod`.
        lr: See :class:`SSLMethod`.
        weight_decay: See :class:`SSLMethod`.
        min_lr_ratio: See :class:`SSLMethod`.
        **kwargs: Further :class:`SSLMethod` arguments.

    Raises:
        ValueError: If an argument is not an allowed choice or out of range.

    Example:
        >>> import torch
        >>> from lightning_ssl.methods import SwAV
        >>> model = SwAV("narrow_resnet18", projection_hidden_dim=64,
        ...              num_prototypes=32, queue_length=16)
        >>> views = [torch.randn(8, 3, 32, 32)] * 2 + [torch.randn(8, 3, 16, 16)] * 2
        >>> model.compute_loss(views)["projections"].shape
        torch.Size([8, 128])
    """

    def __init__(
        self,
        backbone: str | nn.Module = "resnet18",
        *,
        projection_hidden_dim: int = 2048,
        projection_dim: int = 128,
        num_prototypes: int = 3000,
        temperature: float = 0.1,
        sinkhorn_iterations: int = 3,
        sinkhorn_epsilon: float = 0.05,
        freeze_prototypes_epochs: float = 1.0,
        queue_length: int = 0,
        queue_start_epoch: int = 15,
        num_local_views: int = 6,
        local_crop_size: int | None = None,
        optimizer: str = "lars",
        lr: float = 0.3,
        weight_decay: float = 1e-6,
        min_lr_ratio: float = 1e-3,
        **kwargs: Any,
    ) -> None:
        check_positive_int("num_prototypes", num_prototypes)
        check_range("temperature", temperature, low=0.0, low_open=True)
        check_range("sinkhorn_epsilon", sinkhorn_epsilon, low=0.0, low_open=True)
        check_positive_int("sinkhorn_iterations", sinkhorn_iterations)
        check_range("queue_length", queue_length, low=0)
        check_range("queue_start_epoch", queue_start_epoch, low=0)
        super().__init__(
            backbone,
            optimizer=optimizer,
            lr=lr,
            weight_decay=weight_decay,
            min_lr_ratio=min_lr_ratio,
            **kwargs,
        )
        self.projection_head = self.build_projection_head()
        self.prototypes = self.build_prototypes()
        self.prototypes.normalize()
        self.freeze_early(self.prototypes, freeze_prototypes_epochs)
        self.criterion = self.build_criterion()

        # One queue per global crop, as the assignments of each are computed
        # separately; it holds the projections of all ranks.
        num_queues = 2 if queue_length > 0 else 0
        self.queues = nn.ModuleList(
            FeatureQueue(queue_length, projection_dim) for _ in range(num_queues)
        )
        self._queue_announced = False

    def build_projection_head(self) -> nn.Module:
        """The MLP mapping features `(B, D)` to projections `(B, P)`."""
        hidden, out = (
            self.hparams["projection_hidden_dim"],
            self.hparams["projection_dim"],
        )
        return SwaVProjectionHead(self.feature_dim, hidden, out)

    def build_prototypes(self) -> SwaVPrototypes:
        """K learnable prototype vectors of dimension P, scored by dot product."""
        hp = self.hparams
        return SwaVPrototypes(hp["projection_dim"], hp["num_prototypes"])

    def build_criterion(self) -> nn.Module:
        """Swapped prediction loss with Sinkhorn-Knopp over all ranks."""
        hp = self.hparams
        return SwaVLoss(
            temperature=hp["temperature"],
            sinkhorn_iterations=hp["sinkhorn_iterations"],
            sinkhorn_epsilon=hp["sinkhorn_epsilon"],
            sinkhorn_gather_distributed=True,
        )

    @override
    def after_optimizer_step(self, step: int) -> None:
        """Renormalise the prototypes onto the unit sphere after each step."""
        super().after_optimizer_step(step)
        self.prototypes.normalize()

    @property
    def queue_list(self) -> list[FeatureQueue]:
        """The queues of the two global crops; empty without a queue."""
        return cast(list[FeatureQueue], list(self.queues))

    def scores(self, z: Tensor) -> Tensor:
        """Scores `(B, K)` of normalised projections `(B, P)` for K prototypes."""
        scores = self.prototypes(z)
        assert isinstance(scores, Tensor)  # a list only for several prototype sets
        return scores

    @torch.no_grad()
    def queue_scores(self) -> list[Tensor] | None:
        """Prototype scores of the queued projections, once the queue is in use."""
        started = self.current_epoch >= self.hparams["queue_start_epoch"]
        if not self.queues or not started:
            return None
        if not all(bool(queue.full) for queue in self.queue_list):
            return None
        if not self._queue_announced:
            rank_zero_info(f"SwAV: using the queue from epoch {self.current_epoch}.")
            self._queue_announced = True
        # Every rank holds the same queue, while Sinkhorn-Knopp sums over the
        # columns of all ranks: each rank contributes only its share, so every
        # queued projection counts once, as on a single device.
        rank, world_size = dist.rank(), dist.world_size()
        return [
            self.scores(queue.features.chunk(world_size)[rank])
            for queue in self.queue_list
        ]

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """Swapped prediction between global-crop codes and all other crops."""
        split_views(views, num_global=2)  # checks that the global crops lead
        features = forward_by_resolution(self.embed, views)
        z = F.normalize(self.projection_head(torch.cat(features)), dim=1)
        scores = self.scores(z).chunk(len(views))

        # Queued projections join the Sinkhorn batch only; they get no loss.
        queue_scores = self.queue_scores()
        loss = self.criterion(list(scores[:2]), list(scores[2:]), queue_scores)
        z_views = z.chunk(len(views))
        for index, queue in enumerate(self.queue_list):
            queue.push(z_views[index])

        return {
            "loss": loss,
            "features": features[0].detach(),
            "projections": z_views[0].detach(),
        }

    @override
    def default_augmentation(self, image_size: int) -> Augmentation:
        """lightly's SwAV multi-crop: 2 global and ``num_local_views`` local crops."""
        hp = self.hparams
        local_size = hp["local_crop_size"] or local_crop_size(image_size, self.backbone)
        return Augmentation(
            SwaVTransform,
            {
                "crop_sizes": (image_size, local_size),
                "crop_counts": (2, hp["num_local_views"]),
                "gaussian_blur": 0.0 if is_small_image(image_size) else 0.5,
            },
        )
