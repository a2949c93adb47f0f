"""MMCR: maximise the nuclear norm of the centroids of each image's views."""

from typing import Any

import torch
import torch.nn.functional as F
from lightly.loss import MMCRLoss
from lightly.models.modules import MMCRProjectionHead
from lightly.transforms import MMCRTransform
from lightly.utils import dist
from torch import Tensor, nn
from typing_extensions import override

from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.base import SSLMethod, is_small_image
from lightning_ssl.methods.types import StepOutput, Views
from lightning_ssl.validation import check_positive_int, check_range


class MMCR(SSLMethod):
    """MMCR (Yerxa et al., 2023, https://arxiv.org/abs/2303.03307).

    Each image gets ``num_views`` views; their normalised embeddings form the
    image's manifold, and the loss is minus the nuclear norm (the sum of
    singular values) of the `(B, P)` matrix of the manifolds' centroids, plus
    optionally ``manifold_weight`` times the mean nuclear norm of each manifold.
    A large centroid norm needs centroids that are long, hence views that agree,
    and spread over many dimensions, hence images that differ. As in the
    authors' ImageNet runs, a teacher (an exponential moving average of backbone
    and projector) embeds the same views and its embeddings join the centroids.
    Defaults follow the configuration of those runs in the authors' code: 8
    views, a bias-free 8192-8192-512 projector, manifold weight 0, LARS with
    learning rate 0.8 x batch / 256, weight decay 1e-6, 10 warmup epochs, a
    cosine decay to 1e-3 of the peak, teacher momentum 0.99 held constant, and
    BYOL's first-view augmentations for every view.

    Under DDP the embeddings of all ranks are gathered with lightly's
    autograd-aware gather before the loss (lightly's ``MMCRLoss`` has no option
    for it), so the nuclear norm is taken over the global batch, as in the
    authors' code, and the averaged gradients equal those of one process on it.

    Args:
        backbone: Backbone name or module, see :class:`SSLMethod`.
        num_views: Views per image made by the default transform; the loss
            takes however many views (at least 2, all of one size) a batch has.
        manifold_weight: Weight of the manifolds' mean nuclear norm (lambda).
            lightly's ``MMCRLoss`` defaults to 5e-3.
        projection_hidden_dim: Width of the projector's two hidden layers.
        projection_dim: Output dimension of the projector.
        optimizer: See :class:`SSLMethod`.
        lr: See :class:`SSLMethod`.
        weight_decay: See :class:`SSLMethod`.
        min_lr_ratio: See :class:`SSLMethod`.
        teacher_momentum: See :class:`SSLMethod`.
        teacher_momentum_end: See :class:`SSLMethod`.
        **kwargs: Further :class:`SSLMethod` arguments.

    Raises:
        ValueError: If an argument is not an allowed choice or out of range.

    Example:
        >>> import torch
        >>> from lightning_ssl.methods import MMCR
        >>> model = MMCR("narrow_resnet18", num_views=4, projection_hidden_dim=64,
        ...              projection_dim=32)
        >>> views = [torch.randn(8, 3, 32, 32) for _ in range(4)]
        >>> model.compute_loss(views)["projections"].shape
        torch.Size([8, 32])
        >>> from PIL import Image
        >>> len(model.default_transform(32)(Image.new("RGB", (32, 32))))
        4
    """

    def __init__(
        self,
        backbone: str | nn.Module = "resnet18",
        *,
        num_views: int = 8,
        manifold_weight: float = 0.0,
        projection_hidden_dim: int = 8192,
        projection_dim: int = 512,
        optimizer: str = "lars",
        lr: float = 0.8,
        weight_decay: float = 1e-6,
        min_lr_ratio: float = 1e-3,
        teacher_momentum: float = 0.99,
        teacher_momentum_end: float = 0.99,
        **kwargs: Any,
    ) -> None:
        check_positive_int("num_views", num_views)
        check_range("num_views", num_views, low=2)
        check_range("manifold_weight", manifold_weight, low=0.0)
        super().__init__(
            backbone,
            optimizer=optimizer,
            lr=lr,
            weight_decay=weight_decay,
            min_lr_ratio=min_lr_ratio,
            teacher_momentum=teacher_momentum,
            teacher_momentum_end=teacher_momentum_end,
            **kwargs,
        )
        self.projection_head = self.build_projection_head()
        self.criterion = self.build_criterion()
        self.teacher_backbone = self.make_teacher(self.backbone)
        self.teacher_projection_head = self.make_teacher(self.projection_head)

    def build_projection_head(self) -> nn.Module:
        """The MLP mapping features `(B, D)` to embeddings `(B, P)`."""
        hidden, out = (
            self.hparams["projection_hidden_dim"],
            self.hparams["projection_dim"],
        )
        return MMCRProjectionHead(self.feature_dim, hidden, out, num_layers=2)

    def build_criterion(self) -> nn.Module:
        """MMCR loss on `(B, V, P)` student and teacher manifolds of all ranks."""
        return GatheredMMCRLoss(lmda=self.hparams["manifold_weight"])

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """MMCR loss of the manifolds of student and teacher embeddings.

        Raises:
            ValueError: If there are fewer than 2 views or their shapes differ.
        """
        shapes = [tuple(view.shape) for view in views]
        if len(views) < 2 or len(set(shapes)) > 1:
            raise ValueError(
                "MMCR needs `views` of at least 2 tensors of one shape "
                f"(B, C, H, W), got shapes {shapes}."
            )

        # One pass over all views, as the authors batch them: `(V * B, C, H, W)`.
        num_views, batch_size = len(views), len(views[0])
        images = torch.cat(views)
        features, z, _ = self.project(images)
        student = _manifolds(z, num_views)  # (B, V, P)
        teacher = _manifolds(self.project_teacher(images), num_views)

        loss = self.criterion(student, teacher)
        return {
            "loss": loss,
            "features": features[:batch_size].detach(),
            "projections": student[:, 0].detach(),
        }

    @override
    def default_augmentation(self, image_size: int) -> Augmentation:
        """lightly's MMCR views (BYOL's first); no blur on CIFAR-sized images."""
        kwargs: dict[str, Any] = {
            "k": self.hparams["num_views"],
            "input_size": image_size,
        }
        if is_small_image(image_size):
            kwargs["gaussian_blur"] = 0.0
        return Augmentation(MMCRTransform, kwargs)


class GatheredMMCRLoss(MMCRLoss):
    """lightly's MMCR loss over the manifolds of all ranks.

    The centroids' nuclear norm does not split into a sum over ranks, so the
    `(B, V, P)` inputs are gathered first. lightly's gather sums the gradients
    of all ranks in its backward pass, and DDP's averaging then yields the
    gradient of the loss on the global batch. Half-precision inputs are cast to
    float32 first, as torch's SVD has no half-precision kernels.
    """

    @override
    def forward(self, online: Tensor, momentum: Tensor) -> Tensor:
        """Loss of student and teacher manifolds, both `(B, V, P)`."""
        if online.dtype in (torch.float16, torch.bfloat16):
            online, momentum = online.float(), momentum.float()
        if dist.world_size() > 1:
            online = torch.cat(dist.gather(online))
            momentum = torch.cat(dist.gather(momentum))
        loss: Tensor = super().forward(online, momentum)
        return loss


def _manifolds(z: Tensor, num_views: int) -> Tensor:
    """`(V * B, P)` embeddings, view-major, as unit vectors `(B, V, P)`."""
    # The paper's embeddings lie on the unit sphere; lightly's loss leaves
    # normalisation to the caller.
    z = F.normalize(z, dim=-1)
    return z.reshape(num_views, -1, z.shape[-1]).transpose(0, 1)
