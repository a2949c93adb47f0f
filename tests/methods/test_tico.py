"""TiCo specifics: the loss against a naive reference, the running covariance."""

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_ssl.methods import TiCo

BETA, RHO = 0.8, 4.0


def tiny_tico(**kwargs: float) -> TiCo:
    """TiCo on a conv-pool backbone with 8-d features and 6-d embeddings."""
    torch.manual_seed(0)
    backbone = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    )
    arguments = {"covariance_momentum": BETA, "covariance_weight": RHO, **kwargs}
    return TiCo(
        backbone,
        feature_dim=8,
        projection_hidden_dim=16,
        projection_dim=6,
        **arguments,
    )


def make_views(seed: int) -> list[Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(10, 3, 8, 8, generator=generator) for _ in range(2)]


def naive_loss(z: Tensor, target: Tensor, covariance: Tensor) -> Tensor:
    """The TiCo loss (Zhu et al., 2022) written out sample by sample."""
    z, target = F.normalize(z, dim=1), F.normalize(target, dim=1)
    invariance = 1 - torch.stack([z[i] @ target[i] for i in range(len(z))]).mean()
    contrast = torch.stack([z[i] @ covariance @ z[i] for i in range(len(z))]).mean()
    return invariance + RHO * contrast


def second_moment(z: Tensor) -> Tensor:
    z = F.normalize(z, dim=1).detach()
    return sum(torch.outer(row, row) for row in z) / len(z)


def test_loss_and_covariance_match_a_naive_reference_over_two_steps() -> None:
    model = tiny_tico()
    assert torch.equal(model.criterion.C, torch.zeros(6, 6))

    expected_covariance = torch.zeros(6, 6)
    for seed in (1, 2):
        views = make_views(seed)
        loss = model.compute_loss(views)["loss"]
        # Batch norm in training mode: the same batch gives the same outputs.
        z0 = model.project(views[0]).projections
        t1 = model.project_teacher(views[1])

        expected_covariance = BETA * expected_covariance
        expected_covariance += (1 - BETA) * second_moment(z0)
        torch.testing.assert_close(model.criterion.C, expected_covariance)
        torch.testing.assert_close(loss, naive_loss(z0, t1, expected_covariance))


def test_covariance_is_saved_and_restored_with_the_state_dict() -> None:
    model = tiny_tico()
    model.compute_loss(make_views(1))
    assert "criterion.C" in model.state_dict()

    restored = tiny_tico()
    restored.load_state_dict(model.state_dict())
    torch.testing.assert_close(restored.criterion.C, model.criterion.C)
    assert restored.criterion.C.abs().sum() > 0


def test_only_the_student_receives_gradients() -> None:
    model = tiny_tico()
    model.compute_loss(make_views(1))["loss"].backward()
    teacher = [*model.teacher_backbone.parameters()]
    teacher += [*model.teacher_projection_head.parameters()]
    assert all(parameter.grad is None for parameter in teacher)
    assert all(parameter.grad is not None for parameter in model.backbone.parameters())


def test_default_views_are_byols() -> None:
    model = tiny_tico()
    assert type(model.default_transform(32)).__name__ == "BYOLTransform"
    views = model.default_batch_transform(32)(torch.rand(4, 3, 32, 32))
    assert [tuple(view.shape) for view in views] == [(4, 3, 32, 32)] * 2


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: tiny_tico(covariance_momentum=1.5),
            r"`covariance_momentum` must be in \[0.0, 1.0\], got 1.5",
        ),
        (
            lambda: tiny_tico(covariance_weight=-1.0),
            r"`covariance_weight` must be in \[0.0, inf\], got -1.0",
        ),
    ],
)
def test_invalid_arguments_are_rejected(make: Callable[[], TiCo], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()
