"""Fixtures of the method tests: real CIFAR-10 images, short training runs, kNN.

Training runs use a pool of augmented batches computed once per model and
reused cyclically, so that the tests measure the methods rather than PIL
augmentation. The backbone is ``narrow_resnet18`` with its ImageNet stem (a
stride-4 stem on 32x32 images), which keeps a training step around 0.1 s on two
CPU cores.
"""

import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader

from lightning_ssl.data import default_eval_transform
from lightning_ssl.evaluation import knn_accuracy
from lightning_ssl.keys import VAL_KNN_TOP1
from lightning_ssl.methods import SSLMethod

# CI clones the repository next to shared/, as on the development machines.
CIFAR_ROOT = Path(__file__).resolve().parents[2] / ".." / "shared/data/cifar10"
TRAIN_PER_CLASS = 100
TEST_PER_CLASS = 100
BATCH_SIZE = 32
POOL_BATCHES = 25


@dataclass
class Cifar:
    """A labelled CIFAR-10 subset: PIL training images and evaluation tensors."""

    train_images: list[Image.Image]
    train_targets: Tensor
    train_tensors: Tensor
    test_tensors: Tensor
    test_targets: Tensor

    def loader(
        self,
        model: SSLMethod,
        batch_size: int = BATCH_SIZE,
        num_batches: int = POOL_BATCHES,
        transform: Callable[[Any], Any] | None = None,
    ) -> DataLoader[Any]:
        """Batches of views from a pool augmented once with the model's transform.

        All random generators are seeded first: lightly's augmentations draw from
        Python's and NumPy's as well as torch's, and the pool must not differ
        from run to run.
        """
        seed_everything(0)
        transform = transform or model.default_transform(32)
        generator = torch.Generator().manual_seed(0)
        # Fresh permutations of the images, each augmented anew, until the pool
        # is full.
        rounds = -(-batch_size * num_batches // len(self.train_images))
        order = torch.cat(
            [
                torch.randperm(len(self.train_images), generator=generator)
                for _ in range(rounds)
            ]
        )
        pool = []
        for index in order[: batch_size * num_batches].tolist():
            views = [
                torch.as_tensor(view) for view in transform(self.train_images[index])
            ]
            pool.append((views, int(self.train_targets[index])))
        return DataLoader(
            pool, batch_size=batch_size, shuffle=False, collate_fn=_collate_views
        )

    @torch.no_grad()
    def knn_top1(self, model: SSLMethod) -> float:
        """Weighted kNN top-1 of held-out test images on the training images."""
        was_training = model.training
        model.eval()
        bank, query = model.embed(self.train_tensors), model.embed(self.test_tensors)
        model.train(was_training)
        scores = knn_accuracy(
            bank, self.train_targets, query, self.test_targets, 10, k=20
        )
        return scores[VAL_KNN_TOP1]

    def assert_learns(
        self, model: SSLMethod, steps: int, num_batches: int = POOL_BATCHES
    ) -> None:
        """Train ``steps`` steps on a pool of ``num_batches`` batches; check that
        the mean loss of the last 10 steps is below that of the first 10 and
        that :meth:`knn_top1` beats the model's value before training."""
        loader = self.loader(model, num_batches=num_batches)
        knn_at_init = self.knn_top1(model)
        losses = fit(model, loader, steps)
        knn_trained = self.knn_top1(model)

        assert len(losses) == steps and np.isfinite(losses).all()
        first, last = np.mean(losses[:10]), np.mean(losses[-10:])
        assert last < first, f"mean loss {first:.4f} -> {last:.4f}"
        assert knn_trained > knn_at_init, (
            f"kNN top-1 {knn_at_init:.3f} at init, {knn_trained:.3f} after "
            f"{steps} steps"
        )


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global random generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _collate_views(
    batch: list[tuple[list[Tensor], int]],
) -> tuple[list[Tensor], Tensor]:
    views = [
        torch.stack(view) for view in zip(*(views for views, _ in batch), strict=True)
    ]
    return views, torch.tensor([sample[1] for sample in batch])


def _load(split: str, per_class: int) -> tuple[list[Image.Image], Tensor]:
    images, targets = [], []
    for target, class_dir in enumerate(sorted((CIFAR_ROOT / split).iterdir())):
        for name in sorted(os.listdir(class_dir))[:per_class]:
            with Image.open(class_dir / name) as image:
                images.append(image.convert("RGB"))
            targets.append(target)
    return images, torch.tensor(targets)


@pytest.fixture(scope="package", autouse=True)
def single_thread() -> Iterator[None]:
    """Run the method tests on one intra-op thread, then restore the setting.

    The tiny networks gain little from a second thread, results then do not
    depend on the thread count of the machine (float reductions are ordered),
    and busy-waiting threads cannot stall on an oversubscribed CI runner.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def cifar() -> Cifar:
    """1,000 training and 1,000 held-out test images of CIFAR-10, 100 per class."""
    if not (CIFAR_ROOT / "train").is_dir() or not (CIFAR_ROOT / "test").is_dir():
        pytest.skip(f"CIFAR-10 JPEGs not found under {CIFAR_ROOT.resolve()}")
    train_images, train_targets = _load("train", TRAIN_PER_CLASS)
    test_images, test_targets = _load("test", TEST_PER_CLASS)
    evaluate = default_eval_transform(32)
    return Cifar(
        train_images=train_images,
        train_targets=train_targets,
        train_tensors=torch.stack([evaluate(image) for image in train_images]),
        test_tensors=torch.stack([evaluate(image) for image in test_images]),
        test_targets=test_targets,
    )


class LossRecorder(L.Callback):
    """Collects the loss that `training_step` returns, batch by batch."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, *args: Any
    ) -> None:
        self.losses.append(float(outputs["loss"]))


def fit(
    model: SSLMethod,
    loader: DataLoader[Any],
    steps: int,
    **trainer_kwargs: Any,
) -> list[float]:
    """Train ``model`` for ``steps`` optimizer steps on CPU; return the losses."""
    recorder = LossRecorder()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[recorder, *trainer_kwargs.pop("callbacks", [])],
        **trainer_kwargs,
    )
    trainer.fit(model, loader)
    return recorder.losses


@pytest.fixture(scope="session")
def train() -> Callable[..., list[float]]:
    """The :func:`fit` helper: ``train(model, loader, steps, **trainer_kwargs)``."""
    return fit
