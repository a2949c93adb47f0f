"""TiCo: agree with a teacher's view, contrast with the covariance of past batches."""

from typing import Any

import torch
from lightly.loss import TiCoLoss
from lightly.models.modules.heads import TiCoProjectionHead
from torch import nn
from typing_extensions import override

from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.base import SSLMethod
from lightning_ssl.methods.byol import byol_augmentation
from lightning_ssl.methods.types import StepOutput, Views
from lightning_ssl.validation import check_range


class TiCo(SSLMethod):
    """TiCo (Zhu et al., 2022, https://arxiv.org/abs/2206.10698).

    The normalised embedding of one view is pulled towards the teacher's
    embedding of the other view (transformation invariance) and pushed away from
    the directions that a running average ``C`` of the embeddings' second moment
    already covers (covariance contrast). The paper reads ``C`` as a memory bank
    of past batches of unlimited size at no memory cost, which keeps TiCo strong
    at small batches; here it is a buffer, saved in checkpoints. The teacher is
    an exponential moving average of backbone and projector. Defaults follow
    the paper as lightly records it (beta 0.9, rho 8, a 4096-wide projector to
    256 dimensions, BYOL's augmentations) and lightly's ImageNet reference of
    TiCo for the rest: LARS with learning rate 0.2 x batch / 256, weight decay
    1.5e-6, 10 warmup epochs and teacher momentum 0.99 rising to 1 on a cosine
    schedule.

    Under DDP the embeddings of all ranks are gathered before the loss
    (``gather_distributed=True``), so ``C`` is estimated on the global batch,
    stays identical on every rank, and the averaged gradients equal those of
    one process on the global batch.

    Args:
        backbone: Backbone name or module, see :class:`SSLMethod`.
        covariance_momentum: Weight of the previous ``C`` in its running
            average (beta).
        covariance_weight: Weight of the covariance contrast term (rho).
        projection_hidden_dim: Hidden width of the projector.
        projection_dim: Output dimension of the projector.
        optimizer: See :class:`SSLMethod`.
        lr: See :class:`SSLMethod`.
        weight_decay: See :class:`SSLMethod`.
        **kwargs: Further :class:`SSLMethod` arguments.

    Raises:
        ValueError: If an argument is not an allowed choice or out of range.

    Example:
        >>> import torch
        >>> from lightning_ssl.methods import TiCo
        >>> model = TiCo("narrow_resnet18", projection_hidden_dim=64,
        ...              projection_dim=32)
        >>> views = [torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32)]
        >>> model.compute_loss(views)["projections"].shape
        torch.Size([8, 32])
        >>> model.criterion.C.shape
        torch.Size([32, 32])
    """

    def __init__(
        self,
        backbone: str | nn.Module = "resnet18",
        *,
        covariance_momentum: float = 0.9,
        covariance_weight: float = 8.0,
        projection_hidden_dim: int = 4096,
        projection_dim: int = 256,
        optimizer: str = "lars",
        lr: float = 0.2,
        weight_decay: float = 1.5e-6,
        **kwargs: Any,
    ) -> None:
        check_range("covariance_momentum", covariance_momentum, low=0.0, high=1.0)
        check_range("covariance_weight", covariance_weight, low=0.0)
        super().__init__(
            backbone, optimizer=optimizer, lr=lr, weight_decay=weight_decay, **kwargs
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
        return TiCoProjectionHead(self.feature_dim, hidden, out)

    def build_criterion(self) -> nn.Module:
        """TiCo loss on `(B, P)` embeddings, over all ranks, ``C`` as a buffer."""
        return BufferedTiCoLoss(
            self.hparams["projection_dim"],
            beta=self.hparams["covariance_momentum"],
            rho=self.hparams["covariance_weight"],
        )

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """TiCo loss of view 0's embedding against the teacher's of view 1.

        As in lightly's loss and reference, the loss is not symmetrised: ``C``
        moves once per step, with view 0's embeddings.
        """
        x0, x1 = views[:2]
        features, z0, _ = self.project(x0)
        t1 = self.project_teacher(x1)
        loss = self.criterion(z0, t1)
        return {"loss": loss, "features": features.detach(), "projections": z0.detach()}

    @override
    def default_augmentation(self, image_size: int) -> Augmentation:
        """BYOL's asymmetric views; lightly's ``TiCoTransform`` only renames them."""
        return byol_augmentation(image_size)


class BufferedTiCoLoss(TiCoLoss):
    """lightly's TiCo loss with its running matrix ``C`` registered as a buffer.

    lightly keeps ``C`` as a plain attribute, created at the first call, which
    checkpoints and ``Module.to`` would miss. Here it is a `(P, P)` buffer that
    starts at zero, as lightly's does, and lightly's update assigns it in place
    of the attribute. Embeddings are gathered from all ranks.

    Args:
        dim: Embedding dimension P.
        beta: Weight of the previous ``C`` in its running average.
        rho: Weight of the covariance contrast term.
    """

    def __init__(self, dim: int, beta: float, rho: float) -> None:
        super().__init__(beta=beta, rho=rho, gather_distributed=True)
        del self.C
        self.register_buffer("C", torch.zeros(dim, dim))
