"""MMCR specifics: any number of views, the loss against a naive reference."""

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from lightning_ssl.methods import MMCR

MANIFOLD_WEIGHT = 0.1


def tiny_mmcr(**kwargs: Any) -> MMCR:
    """MMCR on a conv-pool backbone with 8-d features and 6-d embeddings."""
    torch.manual_seed(0)
    backbone = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    )
    arguments = {"num_views": 3, "manifold_weight": MANIFOLD_WEIGHT, **kwargs}
    return MMCR(
        backbone, feature_dim=8, projection_hidden_dim=16, projection_dim=6, **arguments
    )


def make_views(num_views: int, sizes: tuple[int, ...] = ()) -> list[Tensor]:
    generator = torch.Generator().manual_seed(1)
    sizes = sizes or (8,) * num_views
    return [torch.randn(5, 3, size, size, generator=generator) for size in sizes]


def naive_loss(student: list[Tensor], teacher: list[Tensor]) -> Tensor:
    """The MMCR loss (Yerxa et al., 2023) with the teacher's views, image by image.

    Args:
        student: V embeddings `(B, P)`, one per view.
        teacher: The teacher's V embeddings `(B, P)` of the same views.
    """
    views = [F.normalize(z, dim=1) for z in student + teacher]
    manifolds = [torch.stack([z[i] for z in views]) for i in range(len(views[0]))]
    centroids = torch.stack([manifold.mean(dim=0) for manifold in manifolds])
    nuclear = torch.linalg.matrix_norm(centroids, ord="nuc")
    spread = sum(torch.linalg.matrix_norm(m, ord="nuc") for m in manifolds)
    return -nuclear + MANIFOLD_WEIGHT * spread / len(manifolds)


@pytest.mark.parametrize("num_views", [2, 3, 5])
def test_loss_matches_a_naive_reference_for_any_number_of_views(
    num_views: int,
) -> None:
    model = tiny_mmcr()
    views = make_views(num_views)
    output = model.compute_loss(views)

    # Batch norm in training mode sees all views at once, as in compute_loss.
    features, z, _ = model.project(torch.cat(views))
    student = list(z.chunk(num_views))
    teacher = list(model.project_teacher(torch.cat(views)).chunk(num_views))
    torch.testing.assert_close(output["loss"], naive_loss(student, teacher))
    torch.testing.assert_close(output["features"], features[:5].detach())
    torch.testing.assert_close(
        output["projections"], F.normalize(student[0], dim=1).detach()
    )


def test_loss_does_not_depend_on_the_order_of_the_views() -> None:
    model = tiny_mmcr()
    views = make_views(4)
    loss = model.compute_loss(views)["loss"]
    torch.testing.assert_close(model.compute_loss(views[::-1])["loss"], loss)


def test_only_the_student_receives_gradients() -> None:
    model = tiny_mmcr()
    model.compute_loss(make_views(3))["loss"].backward()
    teacher = [*model.teacher_backbone.parameters()]
    teacher += [*model.teacher_projection_head.parameters()]
    assert all(parameter.grad is None for parameter in teacher)
    assert all(parameter.grad is not None for parameter in model.backbone.parameters())


@pytest.mark.parametrize(
    ("views", "match"),
    [
        (
            make_views(1),
            r"at least 2 tensors of one shape .*got shapes \[\(5, 3, 8, 8\)\]",
        ),
        (make_views(2, sizes=(8, 4)), r"one shape .*\(5, 3, 8, 8\), \(5, 3, 4, 4\)"),
    ],
)
def test_too_few_or_mixed_views_are_rejected(views: list[Tensor], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny_mmcr().compute_loss(views)


@pytest.mark.parametrize("num_views", [2, 6])
def test_default_transforms_make_num_views_views(num_views: int) -> None:
    model = tiny_mmcr(num_views=num_views)
    per_sample = model.default_transform(32)(Image.new("RGB", (32, 32)))
    batched = model.default_batch_transform(32)(torch.rand(4, 3, 32, 32))
    assert [tuple(view.shape) for view in per_sample] == [(3, 32, 32)] * num_views
    assert [tuple(view.shape) for view in batched] == [(4, 3, 32, 32)] * num_views


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: tiny_mmcr(num_views=1), r"`num_views` must be in \[2, inf\], got 1"),
        (
            lambda: tiny_mmcr(num_views=2.0),
            r"`num_views` must be a positive integer, got 2.0",
        ),
        (
            lambda: tiny_mmcr(manifold_weight=-0.5),
            r"`manifold_weight` must be in \[0.0, inf\], got -0.5",
        ),
    ],
)
def test_invalid_arguments_are_rejected(make: Callable[[], MMCR], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()
