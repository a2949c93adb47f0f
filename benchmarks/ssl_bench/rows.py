"""One row of a benchmark table: train (or not) a model, then evaluate it.

A row is named by a string:

- ``"<method>"``, e.g. ``"simclr"``: pretrain the method for its step budget,
  then evaluate its backbone features;
- ``"pixels"``: the flattened normalised pixels as features;
- ``"random:<method>"``: the method's backbone at its initialisation (the same
  weights its pretraining starts from, as every row seeds the same way);
- ``"supervised"``: the backbone trained from scratch on each label fraction,
  each within the training budget of one row.

Every row is evaluated the same way: weighted kNN top-1 (k=200, T=0.1) on the
labelled bank, linear probes on 1%, 10% and 100% of the bank's labels (a
class-balanced, seeded subset, standardised features, AdamW, 100 epochs), and
RankMe of the bank features.
"""

import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from lightning_ssl import keys
from lightning_ssl.data import DecodedImageDataset, SSLDataModule
from lightning_ssl.evaluation import (
    extract_features,
    few_label_indices,
    knn_accuracy,
    top_k_accuracies,
    train_linear_classifier,
    train_supervised_baseline,
)
from lightning_ssl.evaluation.supervised import MIN_SUPERVISED_STEPS
from lightning_ssl.methods import SSLMethod
from lightning_ssl.metrics import rankme
from ssl_bench.data import NUM_CLASSES, BenchmarkData, eval_loader, normalize
from ssl_bench.environment import peak_rss_mib
from ssl_bench.recipes import (
    RECIPES,
    VIT_BACKBONE,
    batch_transform,
    build_method,
    check_method,
    describe,
)

RANKME = keys.collapse("rankme", "features")
EVAL_BATCH_SIZE = 512

# Seconds per optimizer step at batch 256 on the reference machine (2 shared
# AMD EPYC cores at a load average of about 9, one torch thread), measured as
# the training throughput of 16-step rows (`--steps 16`) in a Lightning Trainer.
# A budget of T minutes gives a method round(60 T / s) steps, so the same
# command always trains the same number of steps; the wall time it took is
# reported beside. TiCo and MMCR were timed later on a less loaded machine,
# alongside BYOL and SimCLR, and scaled by those two methods' ratio of reference
# to measured step time (three runs; ratios 2.3-4.2, estimates spread +-15%);
# MSN likewise (five runs; ratios 3.1-3.8, estimates 1.14-1.43, mean 1.24).
# I-JEPA likewise beside SimCLR and MAE (four 16-step runs of 7.2-7.9 s, mean
# 7.5; SimCLR 0.21-0.23 and MAE 2.69 there, ratios 3.7 and 3.8), so about 28.
SECONDS_PER_STEP = {
    "barlowtwins": 0.68,
    "byol": 1.04,
    "dino": 1.60,
    "ijepa": 28.0,
    "lejepa": 1.78,
    "mae": 10.2,
    "mmcr": 2.05,
    "moco": 0.58,
    "mocov3": 0.96,
    "msn": 1.24,
    "nnclr": 0.89,
    "simclr": 0.80,
    "simsiam": 0.81,
    "swav": 1.19,
    "tico": 0.53,
    "vicreg": 0.83,
}
SUPERVISED_SECONDS_PER_STEP = 0.40
"""The same for one view through the backbone and a linear layer."""
MIN_STEPS = 10


@dataclass
class Settings:
    """What every row of one benchmark run shares.

    Attributes:
        dataset: ``"cifar10"`` or ``"fashion_mnist"``.
        root: Where the dataset is.
        budget_minutes: Training budget of each row on the reference machine.
        batch_size: Images per training step (MAE: see ``mae_batch_size``).
        train_images: Images the methods pretrain on; all when None.
        bank_images: Labelled training images of kNN and linear probes.
        test_images: Held-out images the accuracies are measured on.
        vit_bank_images: ``bank_images`` of ViT rows, whose features cost
            about 100 times more to compute on a CPU.
        vit_test_images: ``test_images`` of ViT rows.
        mae_batch_size: Batch size of MAE, whose steps cost the most.
        fractions: Label fractions of the linear probes and supervised rows.
        knn_k: Neighbours of the kNN vote.
        knn_temperature: Temperature of the kNN vote.
        linear_epochs: Epochs of each linear probe.
        seed: Seed of initialisation, data order, augmentation and subsets.
        threads: Torch threads; 1 is fastest on an oversubscribed machine.
        cache_dir: Folder of the decoded-image cache; lightning_ssl's default
            when None.
        steps: Training steps of every row, overriding the budget (for tests).
    """

    dataset: str
    root: str
    budget_minutes: float = 2.0
    batch_size: int = 128
    train_images: int | None = None
    bank_images: int | None = 10_000
    test_images: int | None = None
    vit_bank_images: int | None = 2_000
    vit_test_images: int | None = 1_000
    mae_batch_size: int = 64
    fractions: tuple[float, ...] = (0.01, 0.1, 1.0)
    knn_k: int = 200
    knn_temperature: float = 0.1
    linear_epochs: int = 100
    seed: int = 0
    threads: int = 1
    cache_dir: str | None = None
    steps: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON-compatible values."""
        return asdict(self)

    def batch_size_of(self, method: str) -> int:
        """Training batch size of a method's row."""
        return self.mae_batch_size if method == "mae" else self.batch_size

    def steps_of(self, method: str) -> int:
        """Training steps of a method's row: its budget over its step time."""
        if self.steps is not None:
            return self.steps
        seconds = SECONDS_PER_STEP[method] * self.batch_size_of(method) / 256
        return max(MIN_STEPS, round(60 * self.budget_minutes / seconds))

    def supervised_steps(self) -> int:
        """Training steps of each supervised fraction."""
        if self.steps is not None:
            return self.steps
        seconds = SUPERVISED_SECONDS_PER_STEP * self.batch_size / 256
        return max(MIN_STEPS, round(60 * self.budget_minutes / seconds))


def is_vit_row(row: str) -> bool:
    """Whether a row's features come from a ViT (and use the smaller eval sets).

    Example:
        >>> is_vit_row("random:mae"), is_vit_row("simclr")
        (True, False)
    """
    method = row.removeprefix("random:")
    return method in RECIPES and RECIPES[method].backbone == VIT_BACKBONE


def check_row(row: str) -> str:
    """Raise unless ``row`` names a row, see the module docstring.

    Example:
        >>> check_row("random:simclr")
        'random:simclr'
    """
    if row in ("pixels", "supervised"):
        return row
    check_method(row.removeprefix("random:"))
    return row


class StepTimer(L.Callback):
    """Wall time and loss at the end of every training batch."""

    def __init__(self) -> None:
        self.ends: list[float] = []
        self.losses: list[float] = []

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """Record the time and the loss of the batch."""
        self.ends.append(time.perf_counter())
        if isinstance(outputs, dict) and "loss" in outputs:
            self.losses.append(float(outputs["loss"]))

    def images_per_second(self, batch_size: int) -> float:
        """Training images per second after the first quarter (at most 5) steps.

        The first steps pay for lazy initialisation and cold caches.
        """
        skip = min(5, len(self.ends) // 4)
        timed = self.ends[skip:]
        if len(timed) < 2:
            return float("nan")
        return batch_size * (len(timed) - 1) / (timed[-1] - timed[0])


def evaluate(
    features: Callable[[DecodedImageDataset], tuple[Tensor, Tensor]],
    data: BenchmarkData,
    settings: Settings,
) -> dict[str, float]:
    """kNN top-1, linear-probe top-1 per label fraction and RankMe of features.

    Args:
        features: Maps labelled images to `(N, D)` features and `(N,)` targets.
        data: The bank and test images.
        settings: kNN and probe settings, label fractions and seed.

    Returns:
        Accuracies in ``[0, 1]`` and RankMe, under :mod:`lightning_ssl.keys`.
    """
    bank, bank_targets = features(data.bank)
    test, test_targets = features(data.test)
    results = {
        keys.VAL_KNN_TOP1: knn_accuracy(
            bank,
            bank_targets,
            test,
            test_targets,
            NUM_CLASSES,
            k=settings.knn_k,
            temperature=settings.knn_temperature,
        )[keys.VAL_KNN_TOP1],
        RANKME: float(rankme(bank)),
    }
    for fraction in settings.fractions:
        indices = few_label_indices(bank_targets, fraction, settings.seed)
        classifier = train_linear_classifier(
            bank[indices],
            bank_targets[indices],
            NUM_CLASSES,
            epochs=settings.linear_epochs,
            seed=settings.seed,
        )
        with torch.no_grad():
            scores = classifier(test)
        key = keys.val_linear_top1(fraction)
        results[key] = top_k_accuracies(scores, test_targets, key)[key]
    return results


def model_features(
    model: nn.Module, context: Callable[[], AbstractContextManager[Any]] | None = None
) -> Callable[[DecodedImageDataset], tuple[Tensor, Tensor]]:
    """Features of a model's ``embed`` (or forward), in eval mode."""

    def features(dataset: DecodedImageDataset) -> tuple[Tensor, Tensor]:
        loader = eval_loader(dataset, EVAL_BATCH_SIZE)
        return extract_features(model, loader, context=context)

    return features


def pixel_features(dataset: DecodedImageDataset) -> tuple[Tensor, Tensor]:
    """Flattened normalised pixels `(N, C * H * W)` and targets."""
    return normalize(dataset.images).flatten(1), dataset.targets


def _bf16() -> AbstractContextManager[Any]:
    return torch.autocast("cpu", dtype=torch.bfloat16)


def feature_context(row: str) -> Callable[[], AbstractContextManager[Any]]:
    """bfloat16 autocast for ViT features (3x faster on CPUs with AVX512-BF16)."""
    return _bf16 if is_vit_row(row) else nullcontext


def train_method(
    method: str, data: BenchmarkData, settings: Settings
) -> tuple[SSLMethod, dict[str, Any]]:
    """Pretrain a method on ``data.train`` for its step budget.

    Returns:
        The trained model and what the row reports about training.
    """
    steps = settings.steps_of(method)
    batch_size = settings.batch_size_of(method)
    epochs = steps * batch_size / len(data.train)
    L.seed_everything(settings.seed, verbose=False)
    model = build_method(method, data.image_size, epochs)

    transform = batch_transform(method, model, data.image_size)
    datamodule = SSLDataModule(
        data.train,
        augment_on="device" if transform is not None else "workers",
        batch_transform=transform,
        batch_size=batch_size,
        num_workers=0,
        image_size=data.image_size,
        seed=settings.seed,
        num_classes=NUM_CLASSES,
    )
    timer = StepTimer()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=steps,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[timer],
    )
    start = time.perf_counter()
    trainer.fit(model, datamodule)
    train_seconds = time.perf_counter() - start

    losses = timer.losses
    return model, {
        "steps": trainer.global_step,
        "batch_size": batch_size,
        "epochs": round(epochs, 3),
        "train_images": len(data.train),
        "augment_on": datamodule.augment_on,
        "train_s": round(train_seconds, 1),
        keys.BENCHMARK_TRAIN_IMAGES_PER_S: round(
            timer.images_per_second(batch_size), 1
        ),
        "loss_first": round(sum(losses[:10]) / max(len(losses[:10]), 1), 4),
        "loss_last": round(sum(losses[-10:]) / max(len(losses[-10:]), 1), 4),
        "settings": describe(method),
    }


def supervised_row(data: BenchmarkData, settings: Settings) -> dict[str, Any]:
    """The backbone trained from scratch on each label fraction of the bank.

    Each fraction gets the step budget of one row, in passes over its subset
    (at least 100 steps, see
    :func:`~lightning_ssl.evaluation.train_supervised_baseline`).
    """
    L.seed_everything(settings.seed, verbose=False)
    architecture = build_method("simclr", data.image_size, 1.0)
    train_loader = eval_loader(data.bank, settings.batch_size)
    test_loader = eval_loader(data.test, EVAL_BATCH_SIZE)
    budget = settings.supervised_steps()

    results: dict[str, Any] = {}
    details = {}
    for fraction in settings.fractions:
        indices = few_label_indices(data.bank.targets, fraction, settings.seed)
        per_epoch = math.ceil(len(indices) / settings.batch_size)
        epochs = max(1, round(budget / per_epoch))
        # The baseline trains at least MIN_SUPERVISED_STEPS steps in any case.
        steps = max(epochs, math.ceil(MIN_SUPERVISED_STEPS / per_epoch)) * per_epoch
        start = time.perf_counter()
        accuracy = train_supervised_baseline(
            architecture,
            train_loader,
            indices,
            test_loader,
            NUM_CLASSES,
            epochs=epochs,
            seed=settings.seed,
        )
        key = keys.val_supervised_top1(fraction)
        results[key] = accuracy
        details[key] = {
            "labels": len(indices),
            "epochs": epochs,
            "steps": steps,
            "wall_s": round(time.perf_counter() - start, 1),
        }
    results["supervised"] = details
    results["batch_size"] = settings.batch_size
    return results


def run_row(row: str, data: BenchmarkData, settings: Settings) -> dict[str, Any]:
    """Train and evaluate one row; see the module docstring for row names.

    Returns:
        The row's metrics and settings, with its wall time and peak memory.
    """
    check_row(row)
    torch.set_num_threads(settings.threads)
    start = time.perf_counter()
    result: dict[str, Any] = {"row": row}

    if row == "pixels":
        result.update(evaluate(pixel_features, data, settings))
        result["feature_dim"] = int(data.bank.images[0].numel())
    elif row == "supervised":
        result["backbone"] = RECIPES["simclr"].backbone
        result.update(supervised_row(data, settings))
    else:
        method = row.removeprefix("random:")
        result["backbone"] = RECIPES[method].backbone
        if row.startswith("random:"):
            L.seed_everything(settings.seed, verbose=False)
            model = build_method(method, data.image_size, 1.0)
        else:
            model, training = train_method(method, data, settings)
            result.update(training)
        features = model_features(model, feature_context(row))
        result.update(evaluate(features, data, settings))
        result["feature_dim"] = model.feature_dim
        if is_vit_row(row):
            result["feature_precision"] = "bf16-autocast"

    result["eval_images"] = {"bank": len(data.bank), "test": len(data.test)}
    result[keys.BENCHMARK_WALL_S] = round(time.perf_counter() - start, 1)
    result[keys.BENCHMARK_PEAK_RSS_MIB] = peak_rss_mib()
    return result


def eval_sizes(row: str, settings: Settings) -> tuple[int | None, int | None]:
    """Bank and test sizes of a row: smaller for ViT rows."""
    if is_vit_row(row):
        return settings.vit_bank_images, settings.vit_test_images
    return settings.bank_images, settings.test_images
