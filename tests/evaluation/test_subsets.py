"""Few-label subsets: class-balanced, seeded, nested, never unlabelled."""

import pytest
import torch

from lightning_ssl.evaluation.subsets import few_label_indices


def balanced_targets(per_class: int = 100, num_classes: int = 10) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    targets = torch.arange(num_classes).repeat(per_class)
    return targets[torch.randperm(len(targets), generator=generator)]


@pytest.mark.parametrize(("fraction", "per_class"), [(0.01, 1), (0.1, 10), (0.55, 55)])
def test_every_class_gets_the_same_share(fraction: float, per_class: int) -> None:
    targets = balanced_targets()
    indices = few_label_indices(targets, fraction, seed=0)

    assert targets[indices].bincount(minlength=10).tolist() == [per_class] * 10
    assert torch.equal(indices, indices.unique())  # sorted, no repeats


def test_same_seed_same_subset_other_seed_other_subset() -> None:
    targets = balanced_targets()
    first = few_label_indices(targets, 0.1, seed=3)
    assert torch.equal(first, few_label_indices(targets, 0.1, seed=3))
    assert not torch.equal(first, few_label_indices(targets, 0.1, seed=4))


def test_smaller_fractions_are_nested_in_larger_ones() -> None:
    targets = balanced_targets()
    small = set(few_label_indices(targets, 0.01, seed=7).tolist())
    medium = set(few_label_indices(targets, 0.1, seed=7).tolist())
    large = set(few_label_indices(targets, 0.5, seed=7).tolist())
    assert small < medium < large


def test_unlabelled_samples_are_never_chosen() -> None:
    targets = balanced_targets(per_class=10, num_classes=2)
    targets[:5] = -1
    for fraction in (0.2, 1.0):
        chosen = few_label_indices(targets, fraction)
        assert (targets[chosen] >= 0).all()
    assert len(few_label_indices(targets, 1.0)) == 15


def test_small_classes_give_all_they_have() -> None:
    targets = torch.tensor([0] * 90 + [1] * 10)
    indices = few_label_indices(targets, 0.4, seed=0)
    # 0.4 * 100 / 2 = 20 per class; class 1 has only 10.
    assert targets[indices].bincount().tolist() == [20, 10]


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_fraction_must_be_in_unit_interval(fraction: float) -> None:
    with pytest.raises(
        ValueError, match=rf"`fraction` must be in \(0.0, 1.0\], got {fraction}"
    ):
        few_label_indices(balanced_targets(), fraction)


def test_needs_labelled_samples() -> None:
    with pytest.raises(ValueError, match="only unknown"):
        few_label_indices(torch.full((10,), -1), 0.5)
