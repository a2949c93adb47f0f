"""SimCLR: contrastive learning between two augmented views of each image."""

from functools import partial
from typing import Any

import torch
from lightly.loss import DCLLoss, NTXentLoss
from lightly.models.modules import SimCLRProjectionHead
from lightly.models.utils import concat_all_gather
from lightly.transforms import SimCLRTransform
from lightly.utils import dist
from torch import Tensor, nn
from typing_extensions import override

from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.base import SSLMethod, is_small_image
from lightning_ssl.methods.types import StepOutput, Views
from lightning_ssl.validation import check_choice, check_range

LOSSES = ("ntxent", "dcl", "dclw")


class SimCLR(SSLMethod):
    """SimCLR (Chen et al., 2020, https://arxiv.org/abs/2002.05709).

    Each image is augmented twice; the NT-Xent loss pulls the two projections
    together and pushes them away from the other ``2B - 2`` projections in the
    batch (gathered across devices under DDP). Defaults follow the paper's
    ImageNet recipe: LARS, learning rate 0.3 x batch / 256, weight decay 1e-6,
    10 warmup epochs, a 2-layer projection head to 128 dimensions and
    temperature 0.1; CIFAR-10 recipes use temperature 0.5 (Appendix B.9).

    ``loss="dcl"`` gives Decoupled Contrastive Learning (Yeh et al., 2022,
    https://arxiv.org/abs/2110.06848), which drops the positive pair from the
    denominator of NT-Xent and so depends less on large batches; ``"dclw"``
    adds its von Mises-Fisher weighting of the positive term (sigma 0.5).

    Args:
        backbone: Backbone name or module, see :class:`SSLMethod`.
        loss: ``"ntxent"``, ``"dcl"`` or ``"dclw"``.
        temperature: Softmax temperature of the loss.
        dclw_sigma: Scale of the DCLW weighting function.
        projection_hidden_dim: Hidden width of the projection head.
        projection_dim: Output dimension of the projection head.
        optimizer: See :class:`SSLMethod`.
        lr: See :class:`SSLMethod`.
        weight_decay: See :class:`SSLMethod`.
        **kwargs: Further :class:`SSLMethod` arguments.

    Raises:
        ValueError: If an argument is not an allowed choice or out of range.

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
        loss: str = "ntxent",
        temperature: float = 0.1,
        dclw_sigma: float = 0.5,
        projection_hidden_dim: int = 2048,
        projection_dim: int = 128,
        optimizer: str = "lars",
        lr: float = 0.3,
        weight_decay: float = 1e-6,
        **kwargs: Any,
    ) -> None:
        check_choice("loss", loss, LOSSES)
        check_range("temperature", temperature, low=0.0, low_open=True)
        check_range("dclw_sigma", dclw_sigma, low=0.0, low_open=True)
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
        """The loss on two `(B, P)` projections; override to try another.

        All three losses take their negatives from the batches of all ranks.
        """
        temperature = self.hparams["temperature"]
        if self.hparams["loss"] == "dcl":
            return DCLLoss(temperature, gather_distributed=True)
        if self.hparams["loss"] == "dclw":
            weights = partial(
                global_mises_fisher_weights, sigma=self.hparams["dclw_sigma"]
            )
            return DCLLoss(temperature, weight_fn=weights, gather_distributed=True)
        return NTXentLoss(temperature, gather_distributed=True)

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """Contrastive loss between the projections of the two views."""
        x0, x1 = views[:2]
        features, z0, _ = self.project(x0)
        _, z1, _ = self.project(x1)
        loss = self.criterion(z0, z1)
        return {"loss": loss, "features": features.detach(), "projections": z0.detach()}

    @override
    def default_augmentation(self, image_size: int) -> Augmentation:
        """lightly's SimCLR augmentations; no blur on CIFAR-sized images."""
        blur = 0.0 if is_small_image(image_size) else 0.5
        return Augmentation(
            SimCLRTransform, {"input_size": image_size, "gaussian_blur": blur}
        )


def global_mises_fisher_weights(z0: Tensor, z1: Tensor, sigma: float = 0.5) -> Tensor:
    """DCLW's weights `(B,)` of the positive pairs, normalised over all ranks.

    ``w_i = 2 - N * softmax_i(<z0_i, z1_i> / sigma)`` over the N pairs of the
    global batch (Yeh et al., 2022, Sec. 4). lightly's ``DCLWLoss`` normalises
    over each rank's batch, which changes the weights under DDP; this gathers
    the similarities first and returns this rank's slice.

    Example:
        >>> import torch
        >>> z = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
        >>> global_mises_fisher_weights(z, z).round(decimals=4).tolist()
        [1.0, 1.0, 1.0, 1.0]
    """
    similarity = (z0.detach() * z1.detach()).sum(dim=1) / sigma  # (B,)
    if dist.world_size() == 1:
        return 2 - len(similarity) * torch.softmax(similarity, dim=0)
    everyone = concat_all_gather(similarity)  # (world_size * B,)
    weights = 2 - len(everyone) * torch.softmax(everyone, dim=0)
    start = dist.rank() * len(similarity)
    return weights[start : start + len(similarity)]
