"""Benchmark recipes: one per registered method, each buildable and augmentable."""

from collections.abc import Callable

import pytest
import torch
from ssl_bench import recipes, rows

from lightning_ssl.methods import METHODS


def test_every_registered_method_has_a_recipe_and_a_step_time() -> None:
    # A method added to the zoo must get CPU settings before it can be benchmarked.
    assert set(recipes.RECIPES) == set(METHODS)
    assert set(rows.SECONDS_PER_STEP) == set(METHODS)


@pytest.mark.parametrize("name", sorted(recipes.RECIPES))
def test_recipe_builds_a_method_with_a_batched_transform(name: str) -> None:
    model = recipes.build_method(name, image_size=32, epochs=2.0)
    assert model.hparams["warmup_epochs"] == pytest.approx(0.2)
    expected = 192 if recipes.RECIPES[name].backbone == "vit_tiny" else 128
    assert model.feature_dim == expected

    transform = recipes.batch_transform(name, model, 32)
    assert transform is not None
    views = transform(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8))
    assert views[0].shape == (2, 3, 32, 32) and views[0].dtype == torch.float32
    num_views = recipes.RECIPES[name].kwargs.get("num_views")
    if num_views is not None:  # MMCR: several views, all of one size
        assert len(views) == num_views
    else:
        assert len(views) > 2 if recipes.RECIPES[name].multi_crop else len(views) <= 2


def test_epoch_arguments_scale_with_the_run() -> None:
    model = recipes.build_method("dino", image_size=32, epochs=4.0)
    assert model.hparams["warmup_teacher_temperature_epochs"] == pytest.approx(1.2)
    assert model.hparams["freeze_last_layer_epochs"] == pytest.approx(0.2)


def test_budget_gives_a_fixed_step_count() -> None:
    settings = rows.Settings("cifar10", "root", budget_minutes=2.0)
    seconds = rows.SECONDS_PER_STEP["simclr"] * settings.batch_size / 256
    assert settings.steps_of("simclr") == round(120 / seconds)
    assert settings.batch_size_of("mae") == settings.mae_batch_size
    assert rows.Settings("cifar10", "root", steps=7).steps_of("mae") == 7


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: recipes.build_method("nonsense", 32, 1.0), "`method` must be one of"),
        (lambda: recipes.build_method("simclr", 32, 0.0), "`epochs` must be in"),
        (lambda: rows.check_row("random:nonsense"), "`method` must be one of"),
    ],
)
def test_invalid_arguments_are_rejected(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
