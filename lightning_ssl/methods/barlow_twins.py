"""Barlow Twins: make the cross-correlation of two views' embeddings the identity."""

from typing import Any

import torch
from lightly.loss import BarlowTwinsLoss
from lightly.loss.barlow_twins_loss import _off_diagonal
from lightly.models.modules import BarlowTwinsProjectionHead
from lightly.utils import dist
from torch import Tensor, nn
from torch.distributed import nn as dist_nn
from typing_extensions import override

from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.base import SSLMethod
from lightning_ssl.methods.byol import byol_augmentation
from lightning_ssl.methods.types import StepOutput, Views
from lightning_ssl.validation import check_range


class BarlowTwins(SSLMethod):
    """Barlow Twins (Zbontar et al., 2021, https://arxiv.org/abs/2103.03230).

    The cross-correlation matrix between the batch-normalised embeddings of two
    views is pushed towards the identity: its diagonal to 1 (invariance) and the
    rest to 0 (redundancy reduction), weighted by ``lambda_param``. Statistics
    are computed over the batches of all ranks. Defaults follow the paper
    (Sec. 2 and 3): LARS with learning rate 0.2 x batch / 256, weight decay
    1.5e-6, 10 warmup epochs, lambda 5e-3, a 3-layer 8192-wide projector, and
    BYOL's augmentations. Biases and batch-norm parameters get no weight decay
    and a learning rate 0.0048 / 0.2 = 0.024 times that of the weights.

    Args:
        backbone: Backbone name or module, see :class:`SSLMethod`.
        lambda_param: Weight of the off-diagonal (redundancy) term.
        projection_hidden_dim: Hidden width of the projector.
        projection_dim: Output dimension of the projector.
        bias_lr_scale: Learning rate of biases and norm parameters, as a
            fraction of the weights' learning rate.
        optimizer: See :class:`SSLMethod`.
        lr: See :class:`SSLMethod`.
        weight_decay: See :class:`SSLMethod`.
        **kwargs: Further :class:`SSLMethod` arguments.

    Raises:
        ValueError: If an argument is not an allowed choice or out of range.

    Example:
        >>> import torch
        >>> from lightning_ssl.methods import BarlowTwins
        >>> model = BarlowTwins("narrow_resnet18", projection_hidden_dim=64,
        ...                     projection_dim=64)
        >>> views = [torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32)]
        >>> model.compute_loss(views)["projections"].shape
        torch.Size([8, 64])
    """

    def __init__(
        self,
        backbone: str | nn.Module = "resnet18",
        *,
        lambda_param: float = 5e-3,
        projection_hidden_dim: int = 8192,
        projection_dim: int = 8192,
        bias_lr_scale: float = 0.024,
        optimizer: str = "lars",
        lr: float = 0.2,
        weight_decay: float = 1.5e-6,
        **kwargs: Any,
    ) -> None:
        check_range("lambda_param", lambda_param, low=0.0)
        check_range("bias_lr_scale", bias_lr_scale, low=0.0, low_open=True)
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
        return BarlowTwinsProjectionHead(self.feature_dim, hidden, out)

    @override
    def build_parameter_groups(self) -> list[dict[str, Any]]:
        """The default groups, biases and norms at ``bias_lr_scale`` times the LR."""
        decayed, exempt = super().build_parameter_groups()
        return [decayed, {**exempt, "lr_scale": self.hparams["bias_lr_scale"]}]

    def build_criterion(self) -> nn.Module:
        """Barlow Twins loss on two `(B, P)` embeddings, over all ranks."""
        return GlobalBarlowTwinsLoss(self.hparams["lambda_param"])

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """Barlow Twins loss between the embeddings of the two views."""
        x0, x1 = views[:2]
        features, z0, _ = self.project(x0)
        _, z1, _ = self.project(x1)
        loss = self.criterion(z0, z1)
        return {"loss": loss, "features": features.detach(), "projections": z0.detach()}

    @override
    def default_augmentation(self, image_size: int) -> Augmentation:
        """BYOL's asymmetric augmentations, which Barlow Twins uses (Sec. 2)."""
        return byol_augmentation(image_size)


class GlobalBarlowTwinsLoss(BarlowTwinsLoss):
    """lightly's Barlow Twins loss, standardised with global batch statistics.

    lightly sums the cross-correlation matrix over ranks but standardises each
    embedding dimension with its own rank's statistics. The paper's batch norm
    is synchronised across GPUs (Zbontar et al., 2021, Algorithm 1 and code),
    so here means and variances are all-reduced too, and the loss equals the
    single-process loss on the global batch.
    """

    @override
    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        """Loss of two `(B, P)` embeddings of the same images."""
        z_a, z_b = _standardize(z_a), _standardize(z_b)
        c = z_a.T @ z_b / _global_sum(torch.tensor(float(len(z_a)), device=z_a.device))
        c = _global_sum(c)  # (P, P) cross-correlation over the global batch
        invariance = (torch.diagonal(c) - 1).pow(2).sum()
        redundancy = _off_diagonal(c).pow(2).sum()
        return invariance + self.lambda_param * redundancy


def _global_sum(x: Tensor) -> Tensor:
    # The autograd-aware all-reduce sums gradients over ranks in the backward
    # pass, so that DDP's gradient averaging yields the global-batch gradient.
    return dist_nn.all_reduce(x) if dist.world_size() > 1 else x


def _standardize(z: Tensor) -> Tensor:
    """Zero mean and unit (biased) variance per dimension over the global batch."""
    count = _global_sum(torch.tensor(float(len(z)), device=z.device))
    mean = _global_sum(z.sum(dim=0)) / count
    variance = _global_sum((z - mean).pow(2).sum(dim=0)) / count
    return (z - mean) / torch.sqrt(variance + 1e-5)
