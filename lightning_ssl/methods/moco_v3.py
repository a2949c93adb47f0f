"""MoCo v3: predict a momentum encoder's keys, contrasted within the global batch."""

from typing import Any

import torch
from lightly.models.modules import MoCoProjectionHead
from lightly.utils import dist
from torch import Tensor, nn
from torch.nn import functional as F
from typing_extensions import override

from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.base import SSLMethod
from lightning_ssl.methods.byol import byol_augmentation
from lightning_ssl.methods.types import StepOutput, Views
from lightning_ssl.validation import check_range


class MoCoV3(SSLMethod):
    """MoCo v3 (Chen et al., 2021, https://arxiv.org/abs/2104.02057).

    MoCo without a queue: each view's prediction (backbone, projector,
    predictor) must identify the momentum encoder's key of the other view among
    the keys of the whole batch, gathered from all ranks. The loss is
    symmetrised and scaled by ``2 * temperature`` (Algorithm 1). Defaults follow
    the paper's ResNet-50 recipe (Sec. 4 and Appendix): LARS with learning rate
    0.6 x batch / 256, weight decay 1e-6, 10 warmup epochs, temperature 1.0,
    a 3-layer projector and a 2-layer predictor, 4096 wide with batch norm, to
    256 dimensions, and key-encoder momentum 0.99 rising to 1 on a cosine
    schedule. Its ViT recipe uses AdamW, learning rate 1.5e-4 x batch / 256,
    weight decay 0.1, 40 warmup epochs and temperature 0.2.

    Args:
        backbone: Backbone name or module, see :class:`SSLMethod`.
        temperature: Softmax temperature of the contrastive loss.
        projection_hidden_dim: Hidden width of projector and predictor.
        projection_dim: Output dimension of projector and predictor.
        optimizer: See :class:`SSLMethod`.
        lr: See :class:`SSLMethod`.
        weight_decay: See :class:`SSLMethod`.
        teacher_momentum: See :class:`SSLMethod`.
        **kwargs: Further :class:`SSLMethod` arguments.

    Raises:
        ValueError: If an argument is not an allowed choice or out of range.

    Example:
        >>> import torch
        >>> from lightning_ssl.methods import MoCoV3
        >>> model = MoCoV3("narrow_resnet18", projection_hidden_dim=64)
        >>> views = [torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32)]
        >>> model.compute_loss(views)["projections"].shape
        torch.Size([8, 256])
    """

    def __init__(
        self,
        backbone: str | nn.Module = "resnet18",
        *,
        temperature: float = 1.0,
        projection_hidden_dim: int = 4096,
        projection_dim: int = 256,
        optimizer: str = "lars",
        lr: float = 0.6,
        weight_decay: float = 1e-6,
        teacher_momentum: float = 0.99,
        **kwargs: Any,
    ) -> None:
        check_range("temperature", temperature, low=0.0, low_open=True)
        super().__init__(
            backbone,
            optimizer=optimizer,
            lr=lr,
            weight_decay=weight_decay,
            teacher_momentum=teacher_momentum,
            **kwargs,
        )
        self.projection_head = self.build_projection_head()
        self.predictor = self.build_predictor()
        self.teacher_backbone = self.make_teacher(self.backbone)
        self.teacher_projection_head = self.make_teacher(self.projection_head)

    def build_projection_head(self) -> nn.Module:
        """The 3-layer MLP mapping features `(B, D)` to projections `(B, P)`."""
        hidden, out = (
            self.hparams["projection_hidden_dim"],
            self.hparams["projection_dim"],
        )
        return MoCoProjectionHead(
            self.feature_dim, hidden, out, num_layers=3, batch_norm=True
        )

    def build_predictor(self) -> nn.Module:
        """The 2-layer MLP mapping projections `(B, P)` to predictions `(B, P)`."""
        hidden, out = (
            self.hparams["projection_hidden_dim"],
            self.hparams["projection_dim"],
        )
        return MoCoProjectionHead(out, hidden, out, num_layers=2, batch_norm=True)

    def contrastive_loss(self, p: Tensor, k: Tensor) -> Tensor:
        """InfoNCE of `(B, P)` predictions against the keys of all ranks."""
        p, k = F.normalize(p, dim=1), F.normalize(k, dim=1)
        if dist.world_size() > 1:
            k = torch.cat(dist.gather(k))  # (world_size * B, P)
        temperature = self.hparams["temperature"]
        logits = p @ k.T / temperature  # (B, world_size * B)

        # The positive of row i is this rank's i-th key in the gathered batch.
        targets = torch.arange(len(p), device=p.device) + dist.rank() * len(p)
        return 2 * temperature * F.cross_entropy(logits, targets)

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """Symmetrised contrastive loss between predictions and teacher keys."""
        x0, x1 = views[:2]
        features, z0, p0 = self.project(x0)
        _, _, p1 = self.project(x1)
        assert p0 is not None and p1 is not None

        k0, k1 = self.project_teacher(x0), self.project_teacher(x1)
        loss = self.contrastive_loss(p0, k1) + self.contrastive_loss(p1, k0)
        return {"loss": loss, "features": features.detach(), "projections": z0.detach()}

    @override
    def default_augmentation(self, image_size: int) -> Augmentation:
        """BYOL's asymmetric augmentations, which MoCo v3 adopts (Sec. 4)."""
        return byol_augmentation(image_size)
