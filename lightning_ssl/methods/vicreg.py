"""VICReg: invariance plus variance and covariance regularisation."""

from typing import Any

from lightly.loss import VICRegLoss
from lightly.models.modules.heads import VICRegProjectionHead
from lightly.transforms import VICRegTransform
from torch import nn
from typing_extensions import override

from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.base import SSLMethod, is_small_image
from lightning_ssl.methods.types import StepOutput, Views
from lightning_ssl.validation import check_range


class VICReg(SSLMethod):
    """VICReg (Bardes et al., 2022, https://arxiv.org/abs/2105.04906).

    The loss makes the two views' embeddings agree (invariance), keeps each
    dimension's standard deviation above 1 across the batch (variance) and
    decorrelates dimensions (covariance), which prevents collapse without
    negatives, teacher or predictor. Defaults follow the paper (Sec. 4.3):
    weights 25 / 25 / 1, a 3-layer 8192-wide expander, LARS with learning rate
    0.2 x batch / 256, weight decay 1e-6 and 10 warmup epochs.

    Args:
        backbone: Backbone name or module, see :class:`SSLMethod`.
        invariance_weight: Weight of the invariance term (lambda).
        variance_weight: Weight of the variance term (mu).
        covariance_weight: Weight of the covariance term (nu).
        projection_hidden_dim: Hidden width of the expander.
        projection_dim: Output dimension of the expander.
        optimizer: See :class:`SSLMethod`.
        lr: See :class:`SSLMethod`.
        weight_decay: See :class:`SSLMethod`.
        **kwargs: Further :class:`SSLMethod` arguments.

    Raises:
        ValueError: If an argument is not an allowed choice or out of range.

    Example:
        >>> import torch
        >>> from lightning_ssl.methods import VICReg
        >>> model = VICReg("narrow_resnet18", projection_hidden_dim=64,
        ...                projection_dim=64)
        >>> views = [torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32)]
        >>> model.compute_loss(views)["projections"].shape
        torch.Size([8, 64])
    """

    def __init__(
        self,
        backbone: str | nn.Module = "resnet18",
        *,
        invariance_weight: float = 25.0,
        variance_weight: float = 25.0,
        covariance_weight: float = 1.0,
        projection_hidden_dim: int = 8192,
        projection_dim: int = 8192,
        optimizer: str = "lars",
        lr: float = 0.2,
        weight_decay: float = 1e-6,
        **kwargs: Any,
    ) -> None:
        for name, value in [
            ("invariance_weight", invariance_weight),
            ("variance_weight", variance_weight),
            ("covariance_weight", covariance_weight),
        ]:
            check_range(name, value, low=0.0)
        super().__init__(
            backbone, optimizer=optimizer, lr=lr, weight_decay=weight_decay, **kwargs
        )
        self.projection_head = self.build_projection_head()
        self.criterion = self.build_criterion()

    def build_projection_head(self) -> nn.Module:
        """The expander mapping features `(B, D)` to embeddings `(B, P)`."""
        hidden, out = (
            self.hparams["projection_hidden_dim"],
            self.hparams["projection_dim"],
        )
        return VICRegProjectionHead(self.feature_dim, hidden, out)

    def build_criterion(self) -> nn.Module:
        """VICReg loss on two `(B, P)` embeddings, statistics over all ranks."""
        return VICRegLoss(
            lambda_param=self.hparams["invariance_weight"],
            mu_param=self.hparams["variance_weight"],
            nu_param=self.hparams["covariance_weight"],
            gather_distributed=True,
        )

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """VICReg loss between the embeddings of the two views."""
        x0, x1 = views[:2]
        features, z0, _ = self.project(x0)
        _, z1, _ = self.project(x1)
        loss = self.criterion(z0, z1)
        return {"loss": loss, "features": features.detach(), "projections": z0.detach()}

    @override
    def default_augmentation(self, image_size: int) -> Augmentation:
        """lightly's VICReg augmentations; no blur on CIFAR-sized images."""
        blur = 0.0 if is_small_image(image_size) else 0.5
        return Augmentation(
            VICRegTransform, {"input_size": image_size, "gaussian_blur": blur}
        )
