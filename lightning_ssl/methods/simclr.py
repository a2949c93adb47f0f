"""SimCLR: contrastive learning between two augmented views of each image."""

from typing import Any

from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead
from lightly.transforms import SimCLRTransform
from torch import nn
from typing_extensions import override

from lightning_ssl.methods.base import (
    MultiViewTransform,
    SSLMethod,
    StepOutput,
    Views,
    is_small_image,
)
from lightning_ssl.validation import check_range


class SimCLR(SSLMethod):
    """SimCLR (Chen et al., 2020, https://arxiv.org/abs/2002.05709).

    Each image is augmented twice; the NT-Xent loss pulls the two projections
    together and pushes them away from the other ``2B - 2`` projections in the
    batch (gathered across devices under DDP). Defaults follow the paper's
    ImageNet recipe: LARS, learning rate 0.3 x batch / 256, weight decay 1e-6,
    10 warmup epochs, a 2-layer projection head to 128 dimensions and
    temperature 0.1; CIFAR-10 recipes use temperature 0.5 (Appendix B.9).

    Args:
        backbone: Backbone name or module, see :class:`SSLMethod`.
        temperature: Softmax temperature of the NT-Xent loss.
        projection_hidden_dim: Hidden width of the projection head.
        projection_dim: Output dimension of the projection head.
        optimizer: See :class:`SSLMethod`.
        lr: See :class:`SSLMethod`.
        weight_decay: See :class:`SSLMethod`.
        **kwargs: Further :class:`SSLMethod` arguments.

    Example:
        >>> import torch
        >>> from lightning_ssl.methods import SimCLR
        >>> model = SimCLR("narrow_resnet18", projection_hidden_dim=64)
        >>> views = [torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32)]
        >>> model.compute_loss(views)["loss"].shape
        torch.Size([])
    """

    def __init__(
        self,
        backbone: str | nn.Module = "resnet18",
        *,
        temperature: float = 0.1,
        projection_hidden_dim: int = 2048,
        projection_dim: int = 128,
        optimizer: str = "lars",
        lr: float = 0.3,
        weight_decay: float = 1e-6,
        **kwargs: Any,
    ) -> None:
        check_range("temperature", temperature, low=0.0, low_open=True)
        super().__init__(
            backbone, optimizer=optimizer, lr=lr, weight_decay=weight_decay, **kwargs
        )
        self.projection_head = self.build_projection_head()
        self.criterion = self.build_criterion()

    def build_projection_head(self) -> nn.Module:
        """The MLP mapping features `(B, D)` to projections `(B, P)`."""
        return SimCLRProjectionHead(
            self.feature_dim,
            self.hparams["projection_hidden_dim"],
            self.hparams["projection_dim"],
        )

    def build_criterion(self) -> nn.Module:
        """The loss on two `(B, P)` projections; override to try another."""
        return NTXentLoss(self.hparams["temperature"], gather_distributed=True)

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """NT-Xent loss between the projections of the two views."""
        x0, x1 = views[:2]
        features = self.embed(x0)
        z0 = self.projection_head(features)
        z1 = self.projection_head(self.embed(x1))
        loss = self.criterion(z0, z1)
        return {"loss": loss, "features": features.detach(), "projections": z0.detach()}

    @override
    def default_transform(self, image_size: int) -> MultiViewTransform:
        """lightly's SimCLR augmentations; no blur on CIFAR-sized images."""
        blur = 0.0 if is_small_image(image_size) else 0.5
        return SimCLRTransform(input_size=image_size, gaussian_blur=blur)
