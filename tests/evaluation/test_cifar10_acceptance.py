"""Acceptance on real data: SimCLR beats its own random initialisation on CIFAR-10.

A ``narrow_resnet18`` is pretrained by SimCLR for 150 steps of 256 images on
5,000 CIFAR-10 training images (500 per class, about 8 epochs; under a minute
of CPU time on one core with batched augmentations), with the kNN and
linear-probe callbacks attached. Its kNN top-1 (k=200) and 10%-label
linear-probe top-1 on 2,000 test images must beat the same architecture at the
same random initialisation.

Measured with seeds 0, 1 and 2 (one torch thread), in percent:

- kNN top-1: 23.3 -> 33.1, 25.2 -> 33.0, 21.8 -> 32.9 (gains 7.8 to 11.1)
- linear top-1, 10% of the labels: 22.6 -> 30.4, 25.7 -> 30.5, 23.9 -> 31.1
  (gains 4.8 to 7.8)

The test (seed 0) asserts gains of at least 4 and 2.5 points, about half the
smallest measured gain, since other thread counts round differently and so
train like another seed.
"""

import os
from pathlib import Path

import lightning as L
import pytest

from lightning_ssl import keys
from lightning_ssl.callbacks.knn import KNNEvaluator
from lightning_ssl.callbacks.linear_probe import LinearProbeEvaluator
from lightning_ssl.data import CIFAR10DataModule
from lightning_ssl.evaluation import extract_features, knn_accuracy, linear_probe
from lightning_ssl.methods import SimCLR
from lightning_ssl.transforms import BatchedSimCLRTransform

TRAIN_PER_CLASS, TEST_PER_CLASS = 500, 200
STEPS, BATCH_SIZE = 150, 256
KNN_MARGIN, LINEAR_MARGIN = 0.04, 0.025


@pytest.fixture(scope="module")
def cifar10_5000(cifar10_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 500 training and 200 test images of each class, as symlinks."""
    root = tmp_path_factory.mktemp("cifar10_5000")
    for split, count in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        for class_dir in sorted((cifar10_dir / split).iterdir()):
            target = root / split / class_dir.name
            target.mkdir(parents=True)
            for name in sorted(os.listdir(class_dir))[:count]:
                (target / name).symlink_to(class_dir / name)
    return root


def simclr() -> SimCLR:
    # SimCLR's CIFAR-10 temperature (Chen et al., 2020, Appendix B.9); a warmup
    # of one epoch (20 steps). AdamW at lr 3e-3 did about as well in this budget
    # (kNN top-1 34% against 33% with seed 0).
    return SimCLR(
        "narrow_resnet18",
        temperature=0.5,
        projection_hidden_dim=512,
        optimizer="sgd",
        lr=0.6,
        weight_decay=5e-4,
        warmup_epochs=1.0,
    )


def test_simclr_beats_random_initialisation(cifar10_5000: Path, tmp_path: Path) -> None:
    datamodule = CIFAR10DataModule(
        cifar10_5000,
        augment_on="device",
        # SimCLR's CIFAR-10 augmentations: colour distortion of strength 0.5 and
        # no blur (Chen et al., 2020, Appendix B.9). With strength 1.0 the kNN
        # gain after 150 steps was about 3 points instead of 10.
        batch_transform=BatchedSimCLRTransform(
            input_size=32, cj_strength=0.5, gaussian_blur=0.0
        ),
        batch_size=BATCH_SIZE,
        eval_batch_size=500,
        num_workers=0,
    )
    L.seed_everything(0)
    random_model = simclr()
    random_knn = knn_accuracy(
        *extract_features(random_model, datamodule.eval_train_dataloader()),
        *extract_features(random_model, datamodule.eval_val_dataloader()),
        num_classes=10,
    )[keys.VAL_KNN_TOP1]
    random_linear = linear_probe(random_model, datamodule, [0.1])[
        keys.val_linear_top1(0.1)
    ]

    L.seed_everything(0)
    model = simclr()
    probes = LinearProbeEvaluator(fractions=[0.1])
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=STEPS,
        limit_val_batches=0,
        callbacks=[KNNEvaluator(every_n_epochs=1000), probes],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule)
    trained_knn = trainer.callback_metrics[keys.VAL_KNN_TOP1].item()
    trained_linear = probes.results[keys.val_linear_top1(0.1)]

    print(  # shown with `pytest -s`; the figures quoted in the README
        f"kNN top-1 {random_knn:.3f} -> {trained_knn:.3f}, 10%-label linear top-1 "
        f"{random_linear:.3f} -> {trained_linear:.3f}"
    )
    assert trained_knn >= random_knn + KNN_MARGIN
    assert trained_linear >= random_linear + LINEAR_MARGIN
