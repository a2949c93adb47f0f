"""BYOL: predict a slowly moving teacher's projection of another view."""

from typing import Any

from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead
from lightly.transforms import BYOLTransform, BYOLView1Transform, BYOLView2Transform
from torch import nn
from typing_extensions import override

from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.base import SSLMethod, is_small_image
from lightning_ssl.methods.types import StepOutput, Views


class BYOL(SSLMethod):
    """BYOL (Grill et al., 2020, https://arxiv.org/abs/2006.07733).

    An online network (backbone, projector, predictor) predicts the projection
    that a teacher (an exponential moving average of backbone and projector)
    gives to the other view; no negatives are needed. Defaults follow the
    paper (Sec. 3.3 and Appendix C): LARS, learning rate 0.2 x batch / 256,
    weight decay 1.5e-6, 10 warmup epochs, 4096-wide MLPs to 256 dimensions,
    and teacher momentum 0.996 rising to 1 on a cosine schedule.

    Args:
        backbone: Backbone name or module, see :class:`SSLMethod`.
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
        >>> from lightning_ssl.methods import BYOL
        >>> model = BYOL("narrow_resnet18", projection_hidden_dim=64)
        >>> views = [torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32)]
        >>> model.compute_loss(views)["projections"].shape
        torch.Size([8, 256])
    """

    def __init__(
        self,
        backbone: str | nn.Module = "resnet18",
        *,
        projection_hidden_dim: int = 4096,
        projection_dim: int = 256,
        optimizer: str = "lars",
        lr: float = 0.2,
        weight_decay: float = 1.5e-6,
        teacher_momentum: float = 0.996,
        **kwargs: Any,
    ) -> None:
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
        self.criterion = self.build_criterion()
        self.teacher_backbone = self.make_teacher(self.backbone)
        self.teacher_projection_head = self.make_teacher(self.projection_head)

    def build_projection_head(self) -> nn.Module:
        """The MLP mapping features `(B, D)` to projections `(B, P)`."""
        hidden, out = (
            self.hparams["projection_hidden_dim"],
            self.hparams["projection_dim"],
        )
        return BYOLProjectionHead(self.feature_dim, hidden, out)

    def build_predictor(self) -> nn.Module:
        """The MLP mapping projections `(B, P)` to predictions `(B, P)`."""
        hidden, out = (
            self.hparams["projection_hidden_dim"],
            self.hparams["projection_dim"],
        )
        return BYOLPredictionHead(out, hidden, out)

    def build_criterion(self) -> nn.Module:
        """Negative cosine similarity between prediction and teacher projection."""
        return NegativeCosineSimilarity()

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """Symmetrised loss: each view's prediction against the other's target."""
        x0, x1 = views[:2]
        features, z0, p0 = self.project(x0)
        _, _, p1 = self.project(x1)
        assert p0 is not None and p1 is not None

        # The teacher's outputs are targets only: no gradient flows into them.
        t0, t1 = self.project_teacher(x0), self.project_teacher(x1)
        loss = 0.5 * (self.criterion(p0, t1) + self.criterion(p1, t0))
        return {"loss": loss, "features": features.detach(), "projections": z0.detach()}

    @override
    def default_augmentation(self, image_size: int) -> Augmentation:
        """lightly's asymmetric BYOL views; no blur on CIFAR-sized images."""
        return byol_augmentation(image_size)


def byol_augmentation(image_size: int) -> Augmentation:
    """lightly's two asymmetric BYOL views (Grill et al., 2020, Table 6).

    The first view is always blurred, the second rarely and sometimes
    solarised; on CIFAR-sized images neither is blurred.

    Example:
        >>> type(byol_augmentation(32).batched()).__name__
        'BatchedBYOLTransform'
    """
    view: dict[str, Any] = {"input_size": image_size}
    if is_small_image(image_size):
        view["gaussian_blur"] = 0.0
    return Augmentation(
        BYOLTransform,
        {
            "view_1_transform": Augmentation(BYOLView1Transform, view),
            "view_2_transform": Augmentation(BYOLView2Transform, view),
        },
    )
