"""SimSiam: predict the other view's projection, with a stop-gradient."""

from typing import Any

from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules import SimSiamPredictionHead, SimSiamProjectionHead
from lightly.transforms import SimSiamTransform
from torch import nn
from typing_extensions import override

from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.base import SSLMethod, is_small_image
from lightning_ssl.methods.optim import parameter_groups
from lightning_ssl.methods.types import StepOutput, Views


class SimSiam(SSLMethod):
    """SimSiam (Chen & He, 2021, https://arxiv.org/abs/2011.10566).

    A Siamese network without negatives or teacher: a predictor maps one view's
    projection onto the other's, and the target side receives no gradient. That
    stop-gradient alone prevents collapse (Sec. 4.1). Defaults follow the
    paper's ImageNet recipe (Sec. 3 and Appendix A): SGD with learning rate
    0.05 x batch / 256, weight decay 1e-4, cosine decay without warmup, a
    3-layer 2048-wide projector with batch norm on every layer and a predictor
    with a 512-wide bottleneck whose learning rate stays constant while the
    rest decays (Sec. 4.2, Table 1c: 68.1 % against 67.7 % with decay).

    Args:
        backbone: Backbone name or module, see :class:`SSLMethod`.
        projection_hidden_dim: Hidden width of the projector.
        projection_dim: Output dimension of projector and predictor.
        prediction_hidden_dim: Bottleneck width of the predictor.
        fixed_predictor_lr: Keep the predictor's learning rate constant at the
            peak value, without warmup or decay.
        optimizer: See :class:`SSLMethod`.
        lr: See :class:`SSLMethod`.
        weight_decay: See :class:`SSLMethod`.
        warmup_epochs: See :class:`SSLMethod`.
        **kwargs: Further :class:`SSLMethod` arguments.

    Raises:
        ValueError: If an argument is not an allowed choice or out of range.

    Example:
        >>> import torch
        >>> from lightning_ssl.methods import SimSiam
        >>> model = SimSiam("narrow_resnet18", projection_hidden_dim=64,
        ...                 projection_dim=64, prediction_hidden_dim=16)
        >>> views = [torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32)]
        >>> model.compute_loss(views)["projections"].shape
        torch.Size([8, 64])
    """

    def __init__(
        self,
        backbone: str | nn.Module = "resnet18",
        *,
        projection_hidden_dim: int = 2048,
        projection_dim: int = 2048,
        prediction_hidden_dim: int = 512,
        fixed_predictor_lr: bool = True,
        optimizer: str = "sgd",
        lr: float = 0.05,
        weight_decay: float = 1e-4,
        warmup_epochs: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            backbone,
            optimizer=optimizer,
            lr=lr,
            weight_decay=weight_decay,
            warmup_epochs=warmup_epochs,
            **kwargs,
        )
        self.projection_head = self.build_projection_head()
        self.predictor = self.build_predictor()
        self.criterion = self.build_criterion()

    def build_projection_head(self) -> nn.Module:
        """The MLP mapping features `(B, D)` to projections `(B, P)`."""
        hidden, out = (
            self.hparams["projection_hidden_dim"],
            self.hparams["projection_dim"],
        )
        return SimSiamProjectionHead(self.feature_dim, hidden, out)

    def build_predictor(self) -> nn.Module:
        """The bottleneck MLP mapping projections `(B, P)` to predictions `(B, P)`."""
        hidden, out = (
            self.hparams["prediction_hidden_dim"],
            self.hparams["projection_dim"],
        )
        return SimSiamPredictionHead(out, hidden, out)

    @override
    def build_parameter_groups(self) -> list[dict[str, Any]]:
        """The default groups, with the predictor's apart at a fixed rate."""
        if not self.hparams["fixed_predictor_lr"]:
            return super().build_parameter_groups()
        assert self.predictor is not None
        weight_decay = self.hparams["weight_decay"]
        others = [m for m in self.trainable_modules() if m is not self.predictor]
        predictor = parameter_groups([self.predictor], weight_decay)
        for group in predictor:
            group["fixed_lr"] = True
        return parameter_groups(others, weight_decay) + predictor

    def build_criterion(self) -> nn.Module:
        """Negative cosine similarity between prediction and target projection."""
        return NegativeCosineSimilarity()

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """Symmetrised loss, each prediction against the other view's detached z."""
        x0, x1 = views[:2]
        features, z0, p0 = self.project(x0)
        _, z1, p1 = self.project(x1)
        assert p0 is not None and p1 is not None
        loss = 0.5 * (self.criterion(p0, z1.detach()) + self.criterion(p1, z0.detach()))
        return {"loss": loss, "features": features.detach(), "projections": z0.detach()}

    @override
    def default_augmentation(self, image_size: int) -> Augmentation:
        """lightly's SimSiam augmentations; no blur on CIFAR-sized images."""
        blur = 0.0 if is_small_image(image_size) else 0.5
        return Augmentation(
            SimSiamTransform, {"input_size": image_size, "gaussian_blur": blur}
        )
