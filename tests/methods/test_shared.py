"""Tests of the shared mechanisms: queue, multi-crop helpers, ViT helpers."""

import pytest
import torch
from lightly.models.utils import random_token_mask
from torch import Tensor
from torch.nn import functional as F

from lightning_ssl.backbones import vision_transformer
from lightning_ssl.methods import FeatureQueue, MoCo
from lightning_ssl.methods.multicrop import (
    forward_by_resolution,
    local_crop_size,
    split_views,
)
from lightning_ssl.methods.schedules import linear_warmup
from lightning_ssl.methods.vit import backbone_features, vit_tokens


def test_queue_is_first_in_first_out_and_knows_when_full() -> None:
    queue = FeatureQueue(size=6, dim=2, gather_distributed=False)
    first, second = torch.ones(4, 2), 2 * torch.ones(4, 2)
    queue.push(first)
    assert not queue.full
    queue.push(second)
    assert queue.full
    # lightly's bank writes up to the end and restarts at 0 with the next batch.
    assert torch.equal(queue.features, torch.cat([first, second[:2]]))
    queue.push(3 * torch.ones(4, 2))
    assert torch.equal(queue.features[:4], 3 * torch.ones(4, 2))
    assert torch.equal(queue.features[4:], second[:2])


def test_queue_contents_are_in_the_state_dict() -> None:
    queue = FeatureQueue(size=4, dim=3)
    queue.push(torch.arange(12.0).reshape(4, 3))
    state = queue.state_dict()
    assert set(state) == {"bank", "bank_ptr", "full"}

    restored = FeatureQueue(size=4, dim=3)
    restored.load_state_dict(state)
    assert torch.equal(restored.features, queue.features) and restored.full


def test_queue_features_are_a_detached_copy() -> None:
    queue = FeatureQueue(size=4, dim=3)
    features = queue.features
    features.zero_()
    assert not torch.equal(queue.features, features)


def test_nearest_neighbours_match_a_naive_search() -> None:
    generator = torch.Generator().manual_seed(0)
    queue = FeatureQueue(size=16, dim=5)
    queue.push(torch.randn(16, 5, generator=generator))
    queries = torch.randn(7, 5, generator=generator)

    bank = queue.features
    expected = []
    for query in queries:
        cosines = [float(query @ row / (query.norm() * row.norm())) for row in bank]
        expected.append(bank[max(range(len(bank)), key=cosines.__getitem__)])
    assert torch.equal(queue.nearest_neighbours(queries), torch.stack(expected))


def test_queue_marks_written_slots_valid() -> None:
    queue = FeatureQueue(size=6, dim=2, gather_distributed=False)
    assert not queue.valid.any()
    queue.push(torch.ones(4, 2))
    assert queue.valid.tolist() == [True] * 4 + [False] * 2
    queue.push(torch.ones(4, 2))
    assert queue.valid.all()


def test_nearest_neighbours_skip_unwritten_slots() -> None:
    queue = FeatureQueue(size=8, dim=3, gather_distributed=False)
    queries = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    # Nothing written yet: every query is its own neighbour.
    assert torch.equal(queue.nearest_neighbours(queries), queries)

    # One written vector is every query's neighbour, whatever the random rest.
    written = torch.tensor([[0.0, 0.0, 1.0]])
    queue.push(written)
    assert torch.equal(queue.nearest_neighbours(queries), written.expand(2, 3))


def test_moco_ignores_unwritten_queue_slots() -> None:
    torch.manual_seed(0)
    model = MoCo("narrow_resnet18", queue_size=64, projection_hidden_dim=16)
    q, k = torch.randn(4, 128), F.normalize(torch.randn(4, 128))
    # With an empty queue the positive is the only candidate: zero loss.
    assert float(model.info_nce(q, k)) == pytest.approx(0.0, abs=1e-6)

    # With 8 written keys the loss is InfoNCE over exactly those negatives.
    written = F.normalize(torch.randn(8, 128))
    model.queue.push(written)
    qn = F.normalize(q)
    logits = torch.cat([(qn * k).sum(1, keepdim=True), qn @ written.T], 1) / 0.2
    expected = F.cross_entropy(logits, torch.zeros(4, dtype=torch.long))
    assert float(model.info_nce(q, k)) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize(("size", "dim"), [(0, 4), (4, 0), (2.5, 4)])
def test_queue_rejects_bad_sizes(size: int, dim: int) -> None:
    with pytest.raises(ValueError, match="must be a positive integer"):
        FeatureQueue(size=size, dim=dim)


def test_split_views_returns_global_and_local_crops() -> None:
    views = [torch.zeros(2, 3, 32, 32)] * 2 + [torch.zeros(2, 3, 16, 16)] * 3
    global_views, local_views = split_views(views)
    assert len(global_views) == 2 and len(local_views) == 3


@pytest.mark.parametrize(
    ("views", "match"),
    [
        ([torch.zeros(2, 3, 32, 32)], "at least 2 global views"),
        (
            [torch.zeros(2, 3, 32, 32), torch.zeros(2, 3, 16, 16)],
            "global crops of one size",
        ),
    ],
)
def test_split_views_rejects_bad_layouts(views: list[Tensor], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        split_views(views)


def test_forward_by_resolution_batches_equal_sizes_once() -> None:
    calls: list[tuple[int, ...]] = []

    def function(batch: Tensor) -> Tensor:
        calls.append(tuple(batch.shape))
        return batch.mean(dim=(2, 3))

    views = [torch.randn(4, 3, 32, 32) for _ in range(2)]
    views += [torch.randn(4, 3, 16, 16) for _ in range(3)]
    outputs = forward_by_resolution(function, views)

    assert calls == [(8, 3, 32, 32), (12, 3, 16, 16)]
    for view, output in zip(views, outputs, strict=True):
        assert torch.allclose(output, view.mean(dim=(2, 3)))


def test_local_crop_size_follows_the_patch_grid() -> None:
    assert local_crop_size(224) == 96
    assert local_crop_size(32) == 14
    vit = vision_transformer("vit_tiny", image_size=32, patch_size=4)
    assert local_crop_size(32, vit) % 4 == 0


def test_vit_tokens_match_torchvision_at_the_native_size() -> None:
    vit = vision_transformer("vit_tiny", image_size=32, patch_size=4).eval()
    images = torch.randn(2, 3, 32, 32)
    assert torch.allclose(vit_tokens(vit, images)[:, 0], vit(images), atol=1e-5)
    assert torch.allclose(backbone_features(vit, images), vit(images))


def test_vit_tokens_for_other_sizes_and_kept_tokens() -> None:
    vit = vision_transformer("vit_tiny", image_size=32, patch_size=4).eval()
    assert vit_tokens(vit, torch.randn(2, 3, 16, 24)).shape == (2, 1 + 4 * 6, 192)

    images = torch.randn(2, 3, 32, 32)
    idx_keep, _ = random_token_mask((2, 65), mask_ratio=0.75)
    kept = vit_tokens(vit, images, idx_keep)
    assert kept.shape == (2, idx_keep.shape[1], 192)

    with pytest.raises(ValueError, match="multiples of the ViT patch size 4"):
        vit_tokens(vit, torch.randn(2, 3, 30, 30))


def test_linear_warmup_reaches_its_end_value() -> None:
    values = [linear_warmup(step, 4, 0.04, 0.07) for step in range(6)]
    assert values == pytest.approx([0.04, 0.0475, 0.055, 0.0625, 0.07, 0.07])
