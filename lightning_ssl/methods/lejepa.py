"""LeJEPA: view invariance plus a push towards isotropic Gaussian embeddings."""

from typing import Any

import torch
from lightly.loss import LeJEPALoss
from lightly.models.modules import LeJEPAProjectionHead
from lightly.transforms import DINOTransform
from torch import nn
from typing_extensions import override

from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.base import SSLMethod, is_small_image
from lightning_ssl.methods.multicrop import (
    forward_by_resolution,
    local_crop_size,
    split_views,
)
from lightning_ssl.methods.types import StepOutput, Views
from lightning_ssl.validation import check_positive_int, check_range


class LeJEPA(SSLMethod):
    """LeJEPA (Balestriero & LeCun, 2025, https://arxiv.org/abs/2511.08544).

    One network, no teacher, predictor, stop-gradient or negatives: every
    view's projection is pulled to the mean projection of the global views
    (invariance), and SIGReg pushes the projections of all views towards an
    isotropic Gaussian by matching characteristic functions along random 1-D
    slices, with statistics over all ranks. Defaults follow the paper and its
    reference code as packaged by lightly: SIGReg weight 0.05, 1024 slices, a
    3-layer projector, AdamW with learning rate 5e-4 x batch / 256 and weight
    decay 0.05, and DINO's multi-crop with 2 global and 6 local views.

    Args:
        backbone: Backbone name or module, see :class:`SSLMethod`.
        lambda_param: Weight of SIGReg; the invariance term gets
            ``1 - lambda_param``.
        num_slices: Random directions SIGReg projects onto per step.
        projection_hidden_dim: Hidden width of the projector.
        projection_dim: Output dimension of the projector.
        num_local_views: Local crops made by :meth:`default_transform`.
        local_crop_size: Side of local crops; 96/224 of the global side when
            ``None`` (a multiple of the patch size for ViTs).
        optimizer: See :class:`SSLMethod`.
        lr: See :class:`SSLMethod`.
        weight_decay: See :class:`SSLMethod`.
        **kwargs: Further :class:`SSLMethod` arguments.

    Raises:
        ValueError: If an argument is not an allowed choice or out of range.

    Example:
        >>> import torch
        >>> from lightning_ssl.methods import LeJEPA
        >>> model = LeJEPA("narrow_resnet18", projection_hidden_dim=64)
        >>> views = [torch.randn(8, 3, 32, 32)] * 2 + [torch.randn(8, 3, 16, 16)] * 2
        >>> model.compute_loss(views)["projections"].shape
        torch.Size([8, 64])
    """

    def __init__(
        self,
        backbone: str | nn.Module = "vit_small",
        *,
        lambda_param: float = 0.05,
        num_slices: int = 1024,
        projection_hidden_dim: int = 2048,
        projection_dim: int = 64,
        num_local_views: int = 6,
        local_crop_size: int | None = None,
        optimizer: str = "adamw",
        lr: float = 5e-4,
        weight_decay: float = 0.05,
        **kwargs: Any,
    ) -> None:
        check_range("lambda_param", lambda_param, low=0.0, high=1.0)
        check_positive_int("num_slices", num_slices)
        check_positive_int("num_local_views", num_local_views)
        super().__init__(
            backbone, optimizer=optimizer, lr=lr, weight_decay=weight_decay, **kwargs
        )
        self.projection_head = self.build_projection_head()
        self.criterion = self.build_criterion()

    def build_projection_head(self) -> nn.Module:
        """The MLP mapping features `(B, D)` to embeddings `(B, P)`."""
        hidden, out = (
            self.hparams["projection_hidden_dim"],
            self.hparams["projection_dim"],
        )
        return LeJEPAProjectionHead(self.feature_dim, hidden, out)

    def build_criterion(self) -> nn.Module:
        """lightly's LeJEPA loss; SIGReg statistics over all ranks."""
        return LeJEPALoss(
            lambda_param=self.hparams["lambda_param"],
            gather_distributed=True,
            sigreg_num_vectors=self.hparams["num_slices"],
        )

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """Invariance to the global mean plus SIGReg on all views' embeddings."""
        _, local_views = split_views(views, num_global=2)
        if not local_views:
            raise ValueError(
                "LeJEPA needs local views after the 2 global ones, got "
                f"{len(views)} views. Use its default_transform."
            )
        features = forward_by_resolution(self.embed, views)
        z = self.projection_head(torch.cat(features))  # (V * B, P)
        z = z.reshape(len(views), len(features[0]), -1)  # (V, B, P)
        loss = self.criterion(local_proj=z[2:], global_proj=z[:2])
        return {
            "loss": loss,
            "features": features[0].detach(),
            "projections": z[0].detach(),
        }

    @override
    def default_augmentation(self, image_size: int) -> Augmentation:
        """lightly's DINO multi-crop: 2 global and ``num_local_views`` local crops."""
        hp = self.hparams
        local_size = hp["local_crop_size"] or local_crop_size(image_size, self.backbone)
        blur = (0.0, 0.0, 0.0) if is_small_image(image_size) else (1.0, 0.1, 0.5)
        return Augmentation(
            DINOTransform,
            {
                "global_crop_size": image_size,
                "local_crop_size": local_size,
                "n_local_views": hp["num_local_views"],
                "gaussian_blur": blur,
            },
        )
