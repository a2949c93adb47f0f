"""Feature extraction: eval mode, loader order, and the distributed gather."""

import os
import socket
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision.datasets import FakeData

from lightning_ssl.data import SSLDataModule
from lightning_ssl.evaluation.features import (
    check_evaluation_datamodule,
    extract_features,
    extract_features_distributed,
    loader_over,
    preserved_rng,
    resolve_num_classes,
)


class ModeRecorder(nn.Module):
    """Embeds by a fixed linear map and records the mode of each call."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(12, 5)
        self.modes: list[bool] = []

    def embed(self, images: Tensor) -> Tensor:
        self.modes.append(self.training)
        return self.linear(images.flatten(1))


def labelled_loader(
    size: int = 11, batch_size: int = 3
) -> DataLoader[tuple[Tensor, ...]]:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(size, 3, 2, 2, generator=generator)
    return DataLoader(TensorDataset(images, torch.arange(size)), batch_size=batch_size)


def test_features_come_in_loader_order_from_eval_mode() -> None:
    model = ModeRecorder().train()
    loader = labelled_loader()

    features, targets = extract_features(model, loader)

    images = torch.cat([batch for batch, _ in loader])
    torch.testing.assert_close(features, model.linear(images.flatten(1)).detach())
    assert torch.equal(targets, torch.arange(11))
    assert model.modes == [False] * 4
    assert model.training  # mode restored
    assert not features.requires_grad


def test_modules_without_embed_use_forward() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    features, _ = extract_features(model, labelled_loader())
    assert features.shape == (11, 2)


def test_empty_loader_is_an_error() -> None:
    with pytest.raises(ValueError, match="yielded no batch"):
        extract_features(ModeRecorder(), [])


def test_loader_over_keeps_batching_and_order() -> None:
    loader = loader_over(labelled_loader(batch_size=2), [9, 0, 4])
    assert [targets.tolist() for _, targets in loader] == [[9, 0], [4]]


def test_without_process_group_distributed_is_plain_extraction() -> None:
    model = ModeRecorder()
    plain = extract_features(model, labelled_loader())
    shared = extract_features_distributed(model, labelled_loader())
    assert all(torch.equal(a, b) for a, b in zip(plain, shared, strict=True))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _extract_on_rank(rank: int, world_size: int, port: int, folder: Path) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world_size,
    )
    try:
        torch.manual_seed(0)
        model = ModeRecorder()
        features, targets = extract_features_distributed(model, labelled_loader())
        calls = len(model.modes)
        torch.save((features, targets, calls), folder / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("world_size", [2, 3])
def test_shards_gather_to_the_single_process_result(
    tmp_path: Path, world_size: int
) -> None:
    context: Any = mp.get_context("fork" if os.name == "posix" else "spawn")
    port = _free_port()
    processes = [
        context.Process(
            target=_extract_on_rank, args=(rank, world_size, port, tmp_path)
        )
        for rank in range(world_size)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0

    torch.manual_seed(0)
    expected_features, expected_targets = extract_features(
        ModeRecorder(), labelled_loader()
    )
    total_calls = 0
    for rank in range(world_size):
        features, targets, calls = torch.load(tmp_path / f"rank{rank}.pt")
        # 11 samples: every rank holds all of them, in dataset order, once each.
        torch.testing.assert_close(features, expected_features)
        assert torch.equal(targets, expected_targets)
        total_calls += calls
    # Each rank embedded only its own shard: ceil(shard / 3) batches.
    shards = [len(range(rank, 11, world_size)) for rank in range(world_size)]
    assert total_calls == sum(-(-shard // 3) for shard in shards)


def test_preserved_rng_restores_the_global_stream() -> None:
    torch.manual_seed(0)
    expected = torch.rand(2)
    torch.manual_seed(0)
    with preserved_rng():
        torch.rand(100)
    assert torch.equal(torch.rand(2), expected)


def test_datamodule_check_names_what_is_missing() -> None:
    class NoEvalLoaders:
        def val_dataloader(self) -> None: ...

    with pytest.raises(TypeError, match=r"KNNEvaluator needs a datamodule with"):
        check_evaluation_datamodule(NoEvalLoaders(), "KNNEvaluator")


def test_number_of_classes_is_given_or_read_or_inferred() -> None:
    class WithClasses:
        num_classes = 7

    targets = torch.tensor([0, 3, -1])
    assert resolve_num_classes(4, WithClasses(), targets) == 4
    assert resolve_num_classes(None, WithClasses(), targets) == 7
    assert resolve_num_classes(None, object(), targets, torch.tensor([5])) == 6
    with pytest.raises(ValueError, match="all targets are -1"):
        resolve_num_classes(None, None, torch.tensor([-1, -1]))


def test_datamodule_check_asks_for_a_validation_split() -> None:
    datamodule = SSLDataModule(FakeData(4, image_size=(3, 8, 8)), num_workers=0)
    with pytest.raises(ValueError, match="SSLDataModule has no validation split"):
        check_evaluation_datamodule(datamodule, "EmbeddingPlot")
