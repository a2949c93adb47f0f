"""NNCLR: contrast each view's prediction with the other view's nearest neighbour."""

from typing import Any

from lightly.loss import NTXentLoss
from lightly.models.modules import NNCLRPredictionHead, NNCLRProjectionHead
from torch import nn
from typing_extensions import override

from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.base import SSLMethod
from lightning_ssl.methods.byol import byol_augmentation
from lightning_ssl.methods.queue import FeatureQueue
from lightning_ssl.methods.types import StepOutput, Views
from lightning_ssl.validation import check_positive_int, check_range


class NNCLR(SSLMethod):
    """NNCLR (Dwibedi et al., 2021, https://arxiv.org/abs/2104.14548).

    Like SimCLR, but the positive of a view's prediction is the nearest
    neighbour of the other view's projection in a support set: a queue of
    98,304 projections of past batches (of all ranks), saved in checkpoints.
    Neighbours bring in semantic variation that augmentations cannot. Defaults
    follow the paper (Sec. 4): LARS with learning rate 0.3 x batch / 256, weight
    decay 1e-6, 10 warmup epochs, temperature 0.1, a 3-layer 2048-wide
    projector to 256 dimensions, a 4096-wide predictor, and BYOL's
    augmentations.

    Args:
        backbone: Backbone name or module, see :class:`SSLMethod`.
        temperature: Softmax temperature of the NT-Xent loss.
        support_set_size: Number of projections in the support set.
        projection_hidden_dim: Hidden width of the projector.
        projection_dim: Output dimension of projector and predictor.
        prediction_hidden_dim: Hidden width of the predictor.
        optimizer: See :class:`SSLMethod`.
        lr: See :class:`SSLMethod`.
        weight_decay: See :class:`SSLMethod`.
        **kwargs: Further :class:`SSLMethod` arguments.

    Raises:
        ValueError: If an argument is not an allowed choice or out of range.

    Example:
        >>> import torch
        >>> from lightning_ssl.methods import NNCLR
        >>> model = NNCLR("narrow_resnet18", support_set_size=64,
        ...               projection_hidden_dim=64, prediction_hidden_dim=64)
        >>> views = [torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32)]
        >>> model.compute_loss(views)["projections"].shape
        torch.Size([8, 256])
    """

    def __init__(
        self,
        backbone: str | nn.Module = "resnet18",
        *,
        temperature: float = 0.1,
        support_set_size: int = 98304,
        projection_hidden_dim: int = 2048,
        projection_dim: int = 256,
        prediction_hidden_dim: int = 4096,
        optimizer: str = "lars",
        lr: float = 0.3,
        weight_decay: float = 1e-6,
        **kwargs: Any,
    ) -> None:
        check_range("temperature", temperature, low=0.0, low_open=True)
        check_positive_int("support_set_size", support_set_size)
        super().__init__(
            backbone, optimizer=optimizer, lr=lr, weight_decay=weight_decay, **kwargs
        )
        self.projection_head = self.build_projection_head()
        self.predictor = self.build_predictor()
        self.criterion = self.build_criterion()
        self.support_set = FeatureQueue(support_set_size, projection_dim)

    def build_projection_head(self) -> nn.Module:
        """The MLP mapping features `(B, D)` to projections `(B, P)`."""
        hidden, out = (
            self.hparams["projection_hidden_dim"],
            self.hparams["projection_dim"],
        )
        return NNCLRProjectionHead(self.feature_dim, hidden, out)

    def build_predictor(self) -> nn.Module:
        """The MLP mapping projections `(B, P)` to predictions `(B, P)`."""
        hidden, out = (
            self.hparams["prediction_hidden_dim"],
            self.hparams["projection_dim"],
        )
        return NNCLRPredictionHead(out, hidden, out)

    def build_criterion(self) -> nn.Module:
        """NT-Xent with negatives from the batches of all ranks."""
        return NTXentLoss(self.hparams["temperature"], gather_distributed=True)

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """Symmetrised NT-Xent between neighbours and predictions (Eq. 2)."""
        x0, x1 = views[:2]
        features, z0, p0 = self.project(x0)
        _, z1, p1 = self.project(x1)
        assert p0 is not None and p1 is not None

        # Neighbours come from the support set before this batch joins it.
        nn0 = self.support_set.nearest_neighbours(z0.detach())
        nn1 = self.support_set.nearest_neighbours(z1.detach())
        self.support_set.push(z0)
        loss = 0.5 * (self.criterion(nn0, p1) + self.criterion(nn1, p0))
        return {"loss": loss, "features": features.detach(), "projections": z0.detach()}

    @override
    def default_augmentation(self, image_size: int) -> Augmentation:
        """BYOL's asymmetric augmentations, which NNCLR uses (Sec. 4.1)."""
        return byol_augmentation(image_size)
