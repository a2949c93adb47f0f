"""MoCo v2: contrast queries with a momentum encoder's keys and a queue of negatives."""

from typing import Any

import torch
from lightly.models.modules import MoCoProjectionHead
from lightly.models.utils import batch_shuffle, batch_unshuffle
from lightly.transforms import MoCoV2Transform
from lightly.utils import dist
from torch import Tensor, nn
from torch.nn import functional as F
from typing_extensions import override

from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.base import SSLMethod, is_small_image
from lightning_ssl.methods.queue import FeatureQueue
from lightning_ssl.methods.types import StepOutput, Views
from lightning_ssl.validation import check_positive_int, check_range


class MoCo(SSLMethod):
    """MoCo v2 (Chen et al., 2020, https://arxiv.org/abs/2003.04297).

    A query encoder (backbone and MLP head) learns to pick the key of the same
    image, computed by a momentum (EMA) copy of itself, among a queue of 65,536
    keys from earlier batches (MoCo, He et al., 2020,
    https://arxiv.org/abs/1911.05722). The queue decouples the number of
    negatives from the batch size; it holds the keys of all ranks and is saved
    in checkpoints.
    Defaults follow MoCo v2: SGD with learning rate 0.03 x batch / 256, weight
    decay 1e-4, cosine decay without warmup, temperature 0.2, a 2048-wide
    2-layer head to 128 dimensions and a constant key-encoder momentum of 0.999.
    Under DDP the key encoder sees a batch shuffled across ranks, so that batch
    norm cannot leak which samples are positives (shuffling BN, MoCo Sec. 3.3).

    Args:
        backbone: Backbone name or module, see :class:`SSLMethod`.
        temperature: Softmax temperature of the InfoNCE loss.
        queue_size: Number of negative keys kept (K).
        projection_hidden_dim: Hidden width of the projection head.
        projection_dim: Output dimension of the projection head.
        symmetric: Also use the second view as query and the first as key,
            doubling the loss terms per batch (as in MoCo v3); off in MoCo v2.
        optimizer: See :class:`SSLMethod`.
        lr: See :class:`SSLMethod`.
        weight_decay: See :class:`SSLMethod`.
        warmup_epochs: See :class:`SSLMethod`.
        teacher_momentum: See :class:`SSLMethod`.
        teacher_momentum_end: See :class:`SSLMethod`.
        **kwargs: Further :class:`SSLMethod` arguments.

    Raises:
        ValueError: If an argument is not an allowed choice or out of range.

    Example:
        >>> import torch
        >>> from lightning_ssl.methods import MoCo
        >>> model = MoCo("narrow_resnet18", queue_size=64, projection_hidden_dim=64)
        >>> views = [torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32)]
        >>> model.compute_loss(views)["projections"].shape
        torch.Size([8, 128])
    """

    def __init__(
        self,
        backbone: str | nn.Module = "resnet18",
        *,
        temperature: float = 0.2,
        queue_size: int = 65536,
        projection_hidden_dim: int = 2048,
        projection_dim: int = 128,
        symmetric: bool = False,
        optimizer: str = "sgd",
        lr: float = 0.03,
        weight_decay: float = 1e-4,
        warmup_epochs: float = 0.0,
        teacher_momentum: float = 0.999,
        teacher_momentum_end: float = 0.999,
        **kwargs: Any,
    ) -> None:
        check_range("temperature", temperature, low=0.0, low_open=True)
        check_positive_int("queue_size", queue_size)
        super().__init__(
            backbone,
            optimizer=optimizer,
            lr=lr,
            weight_decay=weight_decay,
            warmup_epochs=warmup_epochs,
            teacher_momentum=teacher_momentum,
            teacher_momentum_end=teacher_momentum_end,
            **kwargs,
        )
        self.projection_head = self.build_projection_head()
        self.teacher_backbone = self.make_teacher(self.backbone)
        self.teacher_projection_head = self.make_teacher(self.projection_head)
        self.queue = FeatureQueue(queue_size, projection_dim, gather_distributed=True)

    def build_projection_head(self) -> nn.Module:
        """The MLP mapping features `(B, D)` to projections `(B, P)`."""
        hp = self.hparams
        return MoCoProjectionHead(
            self.feature_dim, hp["projection_hidden_dim"], hp["projection_dim"]
        )

    @torch.no_grad()
    def encode_keys(self, images: Tensor) -> Tensor:
        """Normalised keys `(B, P)` from the momentum encoder, with shuffled BN."""
        distributed = dist.world_size() > 1
        shuffled, order = batch_shuffle(images, distributed=distributed)
        keys = self.project_teacher(shuffled)
        return F.normalize(batch_unshuffle(keys, order, distributed=distributed))

    def info_nce(self, q: Tensor, k: Tensor) -> Tensor:
        """InfoNCE of `(B, P)` queries against their keys and the queued keys."""
        q = F.normalize(q, dim=1)
        positives = (q * k).sum(dim=1, keepdim=True)  # (B, 1)
        negatives = q @ self.queue.features.to(q.dtype).T  # (B, K)
        # Unwritten slots hold random vectors: easy negatives that would make
        # the first steps' loss look low and then rise as real keys arrive.
        negatives = negatives.masked_fill(~self.queue.valid, float("-inf"))
        logits = torch.cat([positives, negatives], dim=1) / self.hparams["temperature"]
        # The positive key sits in column 0 of every row.
        targets = torch.zeros(len(q), dtype=torch.long, device=q.device)
        return F.cross_entropy(logits, targets)

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """InfoNCE with the queue as negatives; the new keys are enqueued after."""
        x0, x1 = views[:2]
        features, q0, _ = self.project(x0)
        k1 = self.encode_keys(x1)
        loss = self.info_nce(q0, k1)
        new_keys = [k1]

        if self.hparams["symmetric"]:
            _, q1, _ = self.project(x1)
            k0 = self.encode_keys(x0)
            loss = 0.5 * (loss + self.info_nce(q1, k0))
            new_keys.append(k0)

        for k in new_keys:
            self.queue.push(k)
        return {"loss": loss, "features": features.detach(), "projections": q0.detach()}

    @override
    def default_augmentation(self, image_size: int) -> Augmentation:
        """lightly's MoCo v2 augmentations; no blur on CIFAR-sized images."""
        blur = 0.0 if is_small_image(image_size) else 0.5
        return Augmentation(
            MoCoV2Transform, {"input_size": image_size, "gaussian_blur": blur}
        )
