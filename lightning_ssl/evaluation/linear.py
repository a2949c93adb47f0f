"""A linear classifier trained on frozen features."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_ssl.validation import check_positive_int, check_range


class LinearClassifier(nn.Module):
    """Standardise `(B, D)` features with fixed statistics, then a linear layer.

    Standardising makes one learning rate fit every method, whatever the scale
    of its features; it is the frozen-statistics form of the BatchNorm without
    affine parameters that MAE puts before its linear probe (He et al., 2022,
    Appendix A, "Linear probing").

    Args:
        mean: `(D,)` feature mean.
        std: `(D,)` feature standard deviation.
        num_classes: Number of classes C.

    Example:
        >>> import torch
        >>> classifier = LinearClassifier(torch.zeros(8), torch.ones(8), 3)
        >>> classifier(torch.randn(5, 8)).shape
        torch.Size([5, 3])
    """

    mean: Tensor
    std: Tensor

    def __init__(self, mean: Tensor, std: Tensor, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("std", std.detach().clone())
        # A zero start draws no random numbers and is as good as any for this
        # convex problem.
        self.linear = nn.utils.skip_init(nn.Linear, mean.shape[0], num_classes)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, features: Tensor) -> Tensor:
        """Logits `(B, C)` of features `(B, D)`."""
        return self.linear((features - self.mean) / self.std)


DEFAULT_EPOCHS = 100
DEFAULT_LR = 0.01
DEFAULT_WEIGHT_DECAY = 0.0


@torch.enable_grad()
def train_linear_classifier(
    features: Tensor,
    targets: Tensor,
    num_classes: int,
    *,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = 256,
    lr: float = DEFAULT_LR,
    weight_decay: float = DEFAULT_WEIGHT_DECAY,
    seed: int = 0,
) -> LinearClassifier:
    """Fit a linear classifier to frozen features by mini-batch SGD.

    Features are standardised with their own mean and standard deviation, and
    the classifier starts from zero. SGD uses Nesterov momentum 0.9 and a
    learning rate decayed to zero by a cosine over ``epochs`` passes through
    the data, in shuffled mini-batches drawn with ``seed``, so the result is
    reproducible. The defaults were compared with AdamW and other rates on
    the features of a narrow ResNet-18 for 10,000 CIFAR-10 images, with 1%,
    10% and 100% of the labels: a rate of 0.01 was within 0.7 points of the
    best at each fraction (larger rates overfit few labels). Training runs
    where ``features`` are; 100 epochs over 10,000 features take about 15 s on
    one CPU core, mostly per-step overhead.

    Args:
        features: `(N, D)` training features.
        targets: `(N,)` class ids in ``[0, num_classes)``.
        num_classes: Number of classes C.
        epochs: Passes through the data.
        batch_size: Samples per step (all of them when fewer).
        lr: Peak learning rate.
        weight_decay: L2 penalty of SGD.
        seed: Seed of the mini-batch order.

    Returns:
        The trained classifier, in eval mode, on the features' device.

    Raises:
        ValueError: If an argument is out of range or the shapes disagree.

    Example:
        >>> import torch
        >>> features = torch.randn(100, 4)
        >>> targets = (features[:, 0] > 0).long()
        >>> classifier = train_linear_classifier(features, targets, 2, epochs=20)
        >>> (classifier(features).argmax(1) == targets).float().mean() > 0.9
        tensor(True)
    """
    check_positive_int("num_classes", num_classes)
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_range("lr", lr, low=0.0, low_open=True)
    check_range("weight_decay", weight_decay, low=0.0)
    if features.ndim != 2 or targets.shape != (features.shape[0],):
        raise ValueError(
            "`features` and `targets` must be (N, D) and (N,), got "
            f"{tuple(features.shape)} and {tuple(targets.shape)}."
        )

    features = features.float()
    targets = targets.to(features.device).long()
    mean, std = features.mean(0), features.std(0, unbiased=False)
    classifier = LinearClassifier(mean, std.clamp_min(1e-6), num_classes)
    classifier.to(features.device)

    size = features.shape[0]
    steps_per_epoch = math.ceil(size / batch_size)
    optimizer = torch.optim.SGD(
        classifier.parameters(),
        lr=lr,
        momentum=0.9,
        nesterov=True,
        weight_decay=weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, epochs * steps_per_epoch
    )
    generator = torch.Generator().manual_seed(seed)

    for _ in range(epochs):
        order = torch.randperm(size, generator=generator).to(features.device)
        for batch in order.split(batch_size):
            loss = F.cross_entropy(classifier(features[batch]), targets[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    return classifier.eval()
