"""Few-label linear probes of a frozen model, and their supervised baseline."""

import json
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lightning_ssl import keys
from lightning_ssl.evaluation.features import (
    check_evaluation_datamodule,
    extract_features_distributed,
    preserved_rng,
    resolve_num_classes,
)
from lightning_ssl.evaluation.knn import top_k_accuracies
from lightning_ssl.evaluation.linear import (
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_WEIGHT_DECAY,
    train_linear_classifier,
)
from lightning_ssl.evaluation.subsets import few_label_indices
from lightning_ssl.evaluation.supervised import train_supervised_baseline
from lightning_ssl.validation import check_positive_int, check_range

logger = logging.getLogger(__name__)

DEFAULT_FRACTIONS = (0.01, 0.1, 1.0)
"""Label fractions of the semi-supervised protocol of SimCLR (Chen et al., 2020,
Sec. 4.2): 1% and 10% of the labels, and all of them."""


def check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    """Validate label fractions: a non-empty sequence of values in ``(0, 1]``.

    Example:
        >>> check_fractions([0.1, 1])
        (0.1, 1.0)
    """
    fractions = tuple(float(fraction) for fraction in fractions)
    if not fractions:
        raise ValueError("`fractions` must hold at least one fraction, got none.")
    for fraction in fractions:
        check_range("fractions", fraction, low=0.0, high=1.0, low_open=True)
    return fractions


def linear_probe(
    model: nn.Module,
    datamodule: Any,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    *,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = 256,
    lr: float = DEFAULT_LR,
    weight_decay: float = DEFAULT_WEIGHT_DECAY,
    seed: int = 0,
    num_classes: int | None = None,
    supervised_baseline: bool = False,
    supervised_epochs: int = 30,
    context: Callable[[], AbstractContextManager[Any]] | None = None,
) -> dict[str, float]:
    """Top-1 accuracy of linear classifiers on frozen features, per label fraction.

    Training and validation images are embedded once (shared among processes
    when a process group is initialised). For each fraction a class-balanced,
    seeded subset of the training labels is drawn (:func:`few_label_indices`;
    the subsets are nested) and a linear classifier is fitted to its features
    (:func:`train_linear_classifier`) and scored on the labelled validation
    images. With ``supervised_baseline`` the backbone architecture is also
    trained from scratch on each subset (:func:`train_supervised_baseline`),
    which costs far more than the probes. Torch's global random state is left
    as it was.

    Args:
        model: The model; its ``embed`` gives the features.
        datamodule: Serves ``eval_train_dataloader()`` and
            ``eval_val_dataloader()``, such as any
            :class:`~lightning_ssl.data.SSLDataModule`.
        fractions: Fractions of the training labels, each in ``(0, 1]``.
        epochs: Epochs of each linear classifier.
        batch_size: Mini-batch size of the linear classifiers.
        lr: Peak SGD learning rate of the linear classifiers.
        weight_decay: SGD weight decay of the linear classifiers.
        seed: Seed of the subsets, the classifiers and the baselines.
        num_classes: Number of classes; read from the datamodule or the
            targets when None.
        supervised_baseline: Also train the supervised baseline.
        supervised_epochs: Epochs of each supervised baseline.
        context: Factory of a context manager around each forward pass of the
            feature extraction, e.g. a precision plugin's ``forward_context``.

    Returns:
        ``{keys.val_linear_top1(fraction): accuracy, ...}``, plus
        ``keys.val_supervised_top1(fraction)`` entries with the baseline;
        accuracies are fractions in ``[0, 1]``.

    Raises:
        TypeError: If the datamodule lacks the evaluation loaders.
        ValueError: If an argument is out of range.

    Example:
        >>> from torchvision.datasets import FakeData
        >>> from lightning_ssl.data import SSLDataModule
        >>> from lightning_ssl.methods import SimCLR
        >>> datamodule = SSLDataModule(
        ...     FakeData(40, image_size=(3, 16, 16), num_classes=2),
        ...     FakeData(20, image_size=(3, 16, 16), num_classes=2, random_offset=40),
        ...     num_workers=0,
        ...     num_classes=2,
        ... )
        >>> model = SimCLR("narrow_resnet18", cifar_stem=True)
        >>> results = linear_probe(model, datamodule, fractions=[0.5, 1.0], epochs=5)
        >>> sorted(results)
        ['val/linear_top1_100pct', 'val/linear_top1_50pct']
    """
    fractions = check_fractions(fractions)
    check_positive_int("epochs", epochs)
    check_positive_int("supervised_epochs", supervised_epochs)
    check_evaluation_datamodule(datamodule, "linear_probe")
    with preserved_rng(_device_of(model)):
        return _linear_probe(
            model,
            datamodule,
            fractions,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            seed=seed,
            num_classes=num_classes,
            supervised_baseline=supervised_baseline,
            supervised_epochs=supervised_epochs,
            context=context,
        )


def _device_of(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _linear_probe(
    model: nn.Module,
    datamodule: Any,
    fractions: tuple[float, ...],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    num_classes: int | None,
    supervised_baseline: bool,
    supervised_epochs: int,
    context: Callable[[], AbstractContextManager[Any]] | None,
) -> dict[str, float]:

    train_loader = datamodule.eval_train_dataloader()
    val_loader = datamodule.eval_val_dataloader()
    train_features, train_targets = extract_features_distributed(
        model, train_loader, context=context
    )
    val_features, val_targets = extract_features_distributed(
        model, val_loader, context=context
    )
    num_classes = resolve_num_classes(
        num_classes, datamodule, train_targets, val_targets
    )
    labelled = val_targets >= 0
    val_features, val_targets = val_features[labelled], val_targets[labelled]

    results: dict[str, float] = {}
    for fraction in fractions:
        indices = few_label_indices(train_targets, fraction, seed)
        classifier = train_linear_classifier(
            train_features[indices.to(train_features.device)],
            train_targets[indices.to(train_targets.device)],
            num_classes,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            seed=seed,
        )
        with torch.no_grad():
            scores = classifier(val_features)
        key = keys.val_linear_top1(fraction)
        results[key] = top_k_accuracies(scores, val_targets, key)[key]
        logger.info("%s = %.4f (%d labels)", key, results[key], len(indices))

        if supervised_baseline:
            key = keys.val_supervised_top1(fraction)
            results[key] = train_supervised_baseline(
                model,
                train_loader,
                indices,
                val_loader,
                num_classes,
                epochs=supervised_epochs,
                seed=seed,
            )
            logger.info("%s = %.4f", key, results[key])
    return results


def write_results(
    path: str | Path, metrics: dict[str, float], settings: dict[str, Any]
) -> Path:
    """Write evaluation results as JSON: ``{"metrics": ..., "settings": ...}``.

    Parent folders are created.

    Args:
        path: The JSON file.
        metrics: Metric keys and values.
        settings: What produced them (fractions, epochs, seed, checkpoint...).

    Returns:
        The path written.

    Example:
        >>> import json, tempfile
        >>> path = write_results(
        ...     Path(tempfile.mkdtemp()) / "probe.json",
        ...     {"val/linear_top1_10pct": 0.5},
        ...     {"seed": 0},
        ... )
        >>> json.loads(path.read_text())["metrics"]
        {'val/linear_top1_10pct': 0.5}
    """
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"metrics": metrics, "settings": settings}
    path.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    return path
