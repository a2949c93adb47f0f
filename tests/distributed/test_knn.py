"""kNN evaluation under DDP: 2 ranks report what 1 process reports.

A short ``Trainer(strategy="ddp", devices=2)`` run on a CIFAR-10 subset with the
:class:`~lightning_ssl.callbacks.knn.KNNEvaluator` callback, which evaluates when
training ends: each rank embeds every second image and the features are
all-gathered. The reference is one process embedding all images with the
model that rank 0 holds (the one a checkpoint would save). Agreement needs every
rank to embed with that same model, batch-norm running statistics included:
each rank updates those from its own batches, and DDP only copies rank 0's over
them at the start of the next training step.

Features must agree to float32 round-off (relative 1e-4, absolute 1e-5: the
ranks batch the images differently), and the kNN accuracies exactly.
"""

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch import Tensor

from lightning_ssl.callbacks.knn import KNNEvaluator
from lightning_ssl.data import CIFAR10DataModule
from lightning_ssl.evaluation import extract_features, knn_accuracy
from lightning_ssl.evaluation.features import extract_features_distributed
from lightning_ssl.methods import SimCLR

from .launch import run_on_ranks

WORLD_SIZE = 2
K = 5


def build() -> SimCLR:
    torch.manual_seed(0)
    return SimCLR(
        "narrow_resnet18",
        cifar_stem=True,
        backbone_kwargs={"width": 8},
        projection_hidden_dim=16,
        optimizer="sgd",
    )


def datamodule(root: Path) -> CIFAR10DataModule:
    return CIFAR10DataModule(root, batch_size=8, num_workers=0, seed=0)


def train_and_evaluate(rank: int, world_size: int, root: Path) -> dict[str, Any]:
    """Two DDP steps, then the callback's kNN and the gathered features."""
    model, data, knn = build(), datamodule(root), KNNEvaluator(k=K)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=world_size,
        strategy="ddp",
        max_steps=2,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[knn],
    )
    trainer.fit(model, datamodule=data)
    features, targets = extract_features_distributed(model, data.eval_val_dataloader())
    return {
        "metrics": knn.last_metrics,
        "features": features,
        "targets": targets,
        "state": model.state_dict(),
    }


@pytest.fixture(scope="module")
def ranks(cifar10_subset: Path) -> list[dict[str, Any]]:
    return run_on_ranks(train_and_evaluate, cifar10_subset, world_size=WORLD_SIZE)


@pytest.fixture(scope="module")
def reference(cifar10_subset: Path, ranks: list[dict[str, Any]]) -> dict[str, Any]:
    """One process, rank 0's model: features of the validation split and kNN."""
    model = build()
    model.load_state_dict(ranks[0]["state"])
    data = datamodule(cifar10_subset)
    bank, bank_targets = extract_features(model, data.eval_train_dataloader())
    query, query_targets = extract_features(model, data.eval_val_dataloader())
    metrics = knn_accuracy(bank, bank_targets, query, query_targets, 10, k=K)
    return {"metrics": metrics, "features": query, "targets": query_targets}


def _assert_features_close(actual: Tensor, expected: Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)


def test_gathered_features_are_those_of_one_process(
    ranks: list[dict[str, Any]], reference: dict[str, Any]
) -> None:
    for rank in ranks:
        assert torch.equal(rank["targets"], reference["targets"])
        _assert_features_close(rank["features"], reference["features"])


def test_knn_accuracy_is_that_of_one_process(
    ranks: list[dict[str, Any]], reference: dict[str, Any]
) -> None:
    assert ranks[0]["metrics"] == ranks[1]["metrics"]
    assert ranks[0]["metrics"] == reference["metrics"]
