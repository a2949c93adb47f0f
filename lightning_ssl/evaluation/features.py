"""Embed labelled images with a model's ``embed``, on one process or across many."""

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Protocol, runtime_checkable

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader

LabelledBatches = Iterable[tuple[Tensor, Tensor]]
"""Batches of `(B, C, H, W)` images and `(B,)` targets, as evaluation loaders yield."""


def _embedder(model: nn.Module) -> Callable[[Tensor], Tensor]:
    embed = getattr(model, "embed", None)
    return embed if callable(embed) else model


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _input_dtype(model: nn.Module) -> torch.dtype:
    """The model's floating dtype, so that half-precision models get half images."""
    for parameter in model.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float32


@torch.no_grad()
def extract_features(
    model: nn.Module,
    loader: LabelledBatches,
    *,
    device: torch.device | str | None = None,
    context: Callable[[], AbstractContextManager[Any]] | None = None,
) -> tuple[Tensor, Tensor]:
    """Embed every batch of a labelled loader with the model in eval mode.

    The model's ``embed`` method is used when it has one (every
    :class:`~lightning_ssl.methods.SSLMethod` does), otherwise its forward. The
    model is put in eval mode for the pass and returned to its previous mode.
    Images are cast to the dtype of the model's parameters (half-precision
    models get half-precision images); features are returned in float32.

    Args:
        model: The feature extractor.
        loader: Batches of `(B, C, H, W)` images and `(B,)` targets.
        device: Where to run; the device of the model's parameters by default.
        context: Factory of a context manager entered around each forward pass,
            e.g. a Lightning precision plugin's ``forward_context``.

    Returns:
        ``features`` `(N, D)` in float32 and ``targets`` `(N,)`, both on
        ``device``, in loader order.

    Raises:
        ValueError: If the loader yields no batch.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
        >>> loader = [(torch.randn(4, 3, 2, 2), torch.tensor([0, 1, 1, 0]))] * 3
        >>> features, targets = extract_features(model, loader)
        >>> features.shape, targets.shape
        (torch.Size([12, 5]), torch.Size([12]))
    """
    device = torch.device(device) if device is not None else _model_device(model)
    dtype = _input_dtype(model)
    embed = _embedder(model)
    context = context or nullcontext
    was_training = model.training
    model.eval()

    features, targets = [], []
    try:
        for images, batch_targets in loader:
            with context():
                batch_features = embed(images.to(device, dtype, non_blocking=True))
            features.append(batch_features.flatten(1).float())
            targets.append(batch_targets.to(device, non_blocking=True).long())
    finally:
        model.train(was_training)
    if not features:
        raise ValueError(
            "The evaluation loader yielded no batch; is its dataset empty?"
        )
    return torch.cat(features), torch.cat(targets)


def loader_over(loader: DataLoader[Any], indices: Sequence[int]) -> DataLoader[Any]:
    """A loader like ``loader`` (batch size, collate, workers) over some indices.

    Samples are read in the order of ``indices``, none dropped or repeated.

    Args:
        loader: A map-style loader with a fixed ``batch_size``.
        indices: Dataset indices to load.

    Raises:
        TypeError: If ``loader`` batches with a custom batch sampler.

    Example:
        >>> import torch
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> dataset = TensorDataset(torch.arange(10))
        >>> loader = loader_over(DataLoader(dataset, batch_size=2), [7, 3, 5])
        >>> [batch[0].tolist() for batch in loader]
        [[7, 3], [5]]
    """
    if loader.batch_size is None:
        raise TypeError(
            "Evaluation loaders must batch with a fixed `batch_size`, got a loader "
            f"with batch sampler {type(loader.batch_sampler).__name__}."
        )
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size,
        sampler=list(indices),
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=False,
    )


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@torch.no_grad()
def extract_features_distributed(
    model: nn.Module,
    loader: DataLoader[Any],
    *,
    context: Callable[[], AbstractContextManager[Any]] | None = None,
) -> tuple[Tensor, Tensor]:
    """Embed a whole dataset, sharing the work among distributed processes.

    Without an initialised process group this is :func:`extract_features`.
    Otherwise process ``r`` of ``W`` embeds the samples ``r, r + W, r + 2W, ...``
    (no sample repeated, unlike ``DistributedSampler``, which pads shards by
    repeating samples), the shards are all-gathered, and every process gets the
    features of all ``N`` samples in dataset order: the same result as one
    process, up to floating-point differences of batched convolutions. Rank
    0's buffers (batch-norm statistics) are broadcast first, so that every
    shard is embedded by the same model, the one a checkpoint would save.

    Args:
        model: The feature extractor, identical on every process.
        loader: An unshuffled loader over the whole dataset; its batch size,
            collate function and workers are reused for the shard.
        context: See :func:`extract_features`.

    Returns:
        ``features`` `(N, D)` in float32 and ``targets`` `(N,)` on the model's
        device, in dataset order.
    """
    rank, world_size = _world()
    if world_size == 1:
        return extract_features(model, loader, context=context)

    # Batch-norm running statistics differ per process until DDP re-broadcasts
    # them at the next forward pass: embed every shard with rank 0's, which is
    # also the model a checkpoint saves.
    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)

    size = len(loader.dataset)  # type: ignore[arg-type]
    shard = range(rank, size, world_size)
    features, targets = extract_features(
        model, loader_over(loader, shard), context=context
    )

    # all_gather needs equal shapes: pad every shard to the largest one, then
    # drop the padding when the strided shards are woven back together.
    largest = -(-size // world_size)
    features = _pad_rows(features, largest)
    targets = _pad_rows(targets, largest)
    gathered_features = [torch.empty_like(features) for _ in range(world_size)]
    gathered_targets = [torch.empty_like(targets) for _ in range(world_size)]
    dist.all_gather(gathered_features, features)
    dist.all_gather(gathered_targets, targets)

    all_features = features.new_empty(size, features.shape[1])
    all_targets = targets.new_empty(size)
    for source in range(world_size):
        count = len(range(source, size, world_size))
        all_features[source::world_size] = gathered_features[source][:count]
        all_targets[source::world_size] = gathered_targets[source][:count]
    return all_features, all_targets


def _pad_rows(tensor: Tensor, rows: int) -> Tensor:
    if len(tensor) == rows:
        return tensor.contiguous()
    padding = tensor.new_zeros(rows - len(tensor), *tensor.shape[1:])
    return torch.cat([tensor, padding])


@contextmanager
def preserved_rng(device: torch.device | None = None) -> Iterator[None]:
    """Run a block without changing torch's global random state afterwards.

    Evaluation draws random numbers (data loader seeds, randomized PCA, weight
    initialisation); inside this block they do not shift the augmentations and
    shuffles of the training run that hosts the evaluation.

    Args:
        device: A CUDA device whose generator is preserved too.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> expected = torch.rand(1)
        >>> _ = torch.manual_seed(0)
        >>> with preserved_rng():
        ...     _ = torch.rand(3)
        >>> torch.equal(torch.rand(1), expected)
        True
    """
    cuda = device is not None and device.type == "cuda"
    devices = [device.index or 0] if cuda and device is not None else []
    with torch.random.fork_rng(devices=devices):
        yield


@runtime_checkable
class EvaluationDataModule(Protocol):
    """What evaluation needs from a datamodule: unshuffled labelled loaders.

    Both loaders yield `(B, C, H, W)` images through the evaluation transform and
    `(B,)` targets (``-1`` where unknown), in dataset order, every sample kept,
    as :class:`~lightning_ssl.data.SSLDataModule` serves them. A ``num_classes``
    attribute is read when present.
    """

    def eval_train_dataloader(self) -> DataLoader[Any]:
        """Labelled training images, unshuffled."""
        ...

    def eval_val_dataloader(self) -> DataLoader[Any]:
        """Labelled validation images, unshuffled."""
        ...


def check_evaluation_datamodule(datamodule: object, user: str) -> None:
    """Raise unless ``datamodule`` serves the evaluation loaders.

    Args:
        datamodule: The object to check, e.g. ``trainer.datamodule``.
        user: Who needs the loaders, for the message.

    Raises:
        TypeError: If it lacks ``eval_train_dataloader`` or
            ``eval_val_dataloader``.
        ValueError: If its ``eval_val_dataset`` is None (no validation split).

    Example:
        >>> check_evaluation_datamodule(None, "KNNEvaluator")
        Traceback (most recent call last):
        ...
        TypeError: KNNEvaluator needs a datamodule with `eval_train_dataloader()` \
and `eval_val_dataloader()` (such as lightning_ssl.data.SSLDataModule), got NoneType.
    """
    if not isinstance(datamodule, EvaluationDataModule):
        raise TypeError(
            f"{user} needs a datamodule with `eval_train_dataloader()` and "
            "`eval_val_dataloader()` (such as lightning_ssl.data.SSLDataModule), "
            f"got {type(datamodule).__name__}."
        )
    if getattr(datamodule, "eval_val_dataset", True) is None:
        raise ValueError(
            f"{user} needs labelled validation images, but "
            f"{type(datamodule).__name__} has no validation split; give it one "
            "(e.g. `val_dataset` or `val_root`)."
        )


def resolve_num_classes(
    num_classes: int | None, datamodule: object, *targets: Tensor
) -> int:
    """The number of classes: given, else the datamodule's, else from targets.

    Args:
        num_classes: An explicit value, or None.
        datamodule: Consulted for a ``num_classes`` attribute.
        *targets: Class ids; the largest plus one is the last resort.

    Example:
        >>> import torch
        >>> resolve_num_classes(None, None, torch.tensor([0, 4, -1]))
        5
    """
    if num_classes is not None:
        return num_classes
    from_datamodule = getattr(datamodule, "num_classes", None)
    if isinstance(from_datamodule, int) and from_datamodule > 0:
        return from_datamodule
    largest = max((int(t.max()) for t in targets if t.numel()), default=-1)
    if largest < 0:
        raise ValueError(
            "Cannot tell the number of classes: pass `num_classes`, or use labelled "
            "data (all targets are -1)."
        )
    return largest + 1
