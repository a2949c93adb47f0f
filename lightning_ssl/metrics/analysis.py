"""After-the-fact collapse analysis of a trained model or checkpoint."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_ssl.metrics.diagnosis import (
    CollapseStatus,
    CollapseThresholds,
    classify,
    describe,
    method_advice,
)
from lightning_ssl.metrics.embedding import EmbeddingHealth
from lightning_ssl.validation import check_positive_int

PairTransform = Callable[[Tensor], Tensor]
"""Batched transform making a second view of `(B, C, H, W)` images."""


@dataclass(frozen=True)
class SourceReport:
    """Health of one kind of embedding (``features`` or ``projections``).

    Attributes:
        status: The classification.
        dim: Embedding dimension D.
        num_samples: Number of embeddings N.
        metrics: Every statistic of :class:`~lightning_ssl.metrics.EmbeddingHealth`.
        evidence: The statistics next to their thresholds, in words.
    """

    status: CollapseStatus
    dim: int
    num_samples: int
    metrics: dict[str, float]
    evidence: str


@dataclass(frozen=True)
class CollapseReport:
    """Result of :func:`collapse_report`: one :class:`SourceReport` per source.

    Attributes:
        method: Class name of the analysed model.
        status: The worst status over the sources.
        sources: Report of ``features`` and, if the model has a projection
            head, ``projections``.
        advice: Usual causes of collapse for the method; empty when healthy.
        thresholds: The thresholds used.
    """

    method: str
    status: CollapseStatus
    sources: dict[str, SourceReport]
    advice: str
    thresholds: CollapseThresholds

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-serialisable builtins."""
        return {
            "method": self.method,
            "status": self.status.value,
            "sources": {
                name: {
                    "status": report.status.value,
                    "dim": report.dim,
                    "num_samples": report.num_samples,
                    "metrics": report.metrics,
                    "evidence": report.evidence,
                }
                for name, report in self.sources.items()
            },
            "advice": self.advice,
            "thresholds": self.thresholds.to_dict(),
        }

    def summary(self) -> str:
        """A few lines for a terminal: status, evidence per source, advice."""
        lines = [f"{self.method}: {self.status.label}"]
        for name, report in self.sources.items():
            lines.append(f"  {name} ({report.status.label}): {report.evidence}")
        if self.advice:
            lines.append(f"  {self.advice}")
        return "\n".join(lines)


def random_crop_flip(
    images: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """A second view of each image: a random crop of 50-100 % area, maybe mirrored.

    Crops keep the aspect ratio, are resized back to the input size
    (bilinear) and are drawn independently per image; each image is flipped
    horizontally with probability 1/2. This is a mild augmentation: alignment
    under it says how invariant the embeddings are to framing, not to colour.

    Args:
        images: `(B, C, H, W)` float images.
        generator: Random generator, for reproducible views.

    Returns:
        `(B, C, H, W)` augmented images.

    Example:
        >>> import torch
        >>> random_crop_flip(torch.rand(4, 3, 32, 32)).shape
        torch.Size([4, 3, 32, 32])
    """
    batch = images.shape[0]

    def uniform(low: float, high: float) -> Tensor:
        values = torch.rand(batch, generator=generator) * (high - low) + low
        return values.to(images.device)

    # Affine grids in [-1, 1] coordinates: the side shrinks by sqrt(area) and
    # the centre moves anywhere the crop still fits; a negative x scale flips.
    side = uniform(0.5, 1.0).sqrt()
    flip = torch.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0)
    theta = torch.zeros(batch, 2, 3, device=images.device, dtype=images.dtype)
    theta[:, 0, 0] = side * flip
    theta[:, 1, 1] = side
    theta[:, 0, 2] = (1 - side) * uniform(-1.0, 1.0)
    theta[:, 1, 2] = (1 - side) * uniform(-1.0, 1.0)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False)


@torch.no_grad()
def collapse_report(
    model: nn.Module,
    loader: Iterable[Any],
    *,
    num_samples: int | None = 2048,
    pair_transform: PairTransform | None = random_crop_flip,
    thresholds: CollapseThresholds | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
) -> CollapseReport:
    """Diagnose collapse of a trained model on images from a loader.

    The same statistics and thresholds as
    :class:`~lightning_ssl.callbacks.collapse_monitor.CollapseMonitor`, on
    features from ``model.embed`` (or the forward pass) and, when the model
    has a ``projection_head`` (every lightning_ssl method does), on its
    output. The model runs in eval mode, so batch norms use their running
    statistics; it is put back in its previous mode afterwards.

    Note:
        A network that has not been trained, or only for a few steps, can read
        as collapsed here although the monitor found it healthy during
        training: in eval mode its batch norms still use their initial
        running statistics, which map different inputs close together.

    Args:
        model: A lightning_ssl method, or any module mapping `(B, C, H, W)`
            images to `(B, D)` features.
        loader: Batches of images, or of ``(images, targets)``.
        num_samples: Number of images used (the first ones); all when
            ``None``.
        pair_transform: Makes the second views for the alignment statistic;
            ``None`` skips alignment.
        thresholds: Decision thresholds; the defaults when ``None``.
        device: Where to run; the model's device when ``None``.
        seed: Seed of a private copy of torch's CPU random stream, in which
            ``pair_transform`` runs: the views are reproducible and the
            caller's stream does not move.

    Returns:
        The report.

    Raises:
        ValueError: If ``num_samples`` is not positive or the loader yields
            fewer than 2 images.

    Example:
        >>> import torch
        >>> from lightning_ssl.methods import SimCLR
        >>> model = SimCLR("narrow_resnet18", projection_hidden_dim=32)
        >>> loader = [(torch.randn(16, 3, 32, 32), torch.zeros(16))] * 4
        >>> report = collapse_report(model, loader)
        >>> sorted(report.sources), report.sources["features"].num_samples
        (['features', 'projections'], 64)
    """
    if num_samples is not None:
        check_positive_int("num_samples", num_samples)
    thresholds = thresholds or CollapseThresholds()
    if device is None:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else "cpu"
    embed = getattr(model, "embed", model)
    head = getattr(model, "projection_head", None)
    metrics = {"features": EmbeddingHealth()}
    if isinstance(head, nn.Module):
        metrics["projections"] = EmbeddingHealth()

    was_training = model.training
    model.eval()
    seen, dims = 0, {}
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for batch in loader:
                images = batch[0] if isinstance(batch, list | tuple) else batch
                if num_samples is not None:
                    images = images[: num_samples - seen]
                images = images.to(device)
                pairs = None if pair_transform is None else pair_transform(images)
                dims = _update(metrics, embed, head, images, pairs)
                seen += len(images)
                if num_samples is not None and seen >= num_samples:
                    break
    finally:
        model.train(was_training)
    if seen < 2:
        raise ValueError(f"`loader` must yield at least 2 images, got {seen}.")

    sources = {}
    for name, metric in metrics.items():
        values = {key: float(value) for key, value in metric.compute().items()}
        count, dim = int(values.pop("num_samples")), dims[name]
        status = classify(values, dim, count, thresholds)
        evidence = describe(values, dim, count, thresholds)
        sources[name] = SourceReport(status, dim, count, values, evidence)
    worst = max((report.status for report in sources.values()), key=lambda s: s.code)
    advice = "" if worst is CollapseStatus.HEALTHY else method_advice(model)
    return CollapseReport(type(model).__name__, worst, sources, advice, thresholds)


def analyse_checkpoint(
    checkpoint_path: str | Path,
    loader: Iterable[Any],
    *,
    map_location: str = "cpu",
    **kwargs: Any,
) -> CollapseReport:
    """Load any lightning_ssl checkpoint and run :func:`collapse_report` on it.

    Args:
        checkpoint_path: A ``.ckpt`` written while training a lightning_ssl
            method.
        loader: Batches of images, or of ``(images, targets)``.
        map_location: Device to load the model to.
        **kwargs: Arguments of :func:`collapse_report`.

    Returns:
        The report.

    Raises:
        FileNotFoundError: If the checkpoint does not exist.
        ValueError: If it was not written by a lightning_ssl method.
    """
    # Imported here: the methods pull in lightly and Lightning, which the
    # metrics themselves do not need (DDP workers import them quickly).
    from lightning_ssl.methods.loading import load_method

    model = load_method(checkpoint_path, map_location=map_location)
    return collapse_report(model, loader, **kwargs)


def _update(
    metrics: dict[str, EmbeddingHealth],
    embed: Callable[[Tensor], Tensor],
    head: nn.Module | None,
    images: Tensor,
    pairs: Tensor | None,
) -> dict[str, int]:
    """Add a batch to the metrics; returns the dimension of each source."""
    features = embed(images).flatten(1).float()
    features_pair = None if pairs is None else embed(pairs).flatten(1).float()
    metrics["features"].update(features.cpu(), _cpu(features_pair))
    dims = {"features": features.shape[1]}
    if head is not None and "projections" in metrics:
        projections = head(features)
        projections_pair = None if features_pair is None else head(features_pair)
        metrics["projections"].update(projections.cpu(), _cpu(projections_pair))
        dims["projections"] = projections.shape[1]
    return dims


def _cpu(tensor: Tensor | None) -> Tensor | None:
    return None if tensor is None else tensor.cpu()
