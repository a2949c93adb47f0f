"""Linear classifiers on frozen features."""

import pytest
import torch

from lightning_ssl.evaluation.linear import LinearClassifier, train_linear_classifier


def blobs(
    per_class: int, num_classes: int = 3, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs far from the origin, with a large, useless offset."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, 8, generator=generator) * 3
    targets = torch.arange(num_classes).repeat(per_class)
    features = centres[targets] + torch.randn(len(targets), 8, generator=generator)
    return features * 50 + 1000, targets


def test_separable_classes_are_learned_whatever_the_feature_scale() -> None:
    features, targets = blobs(100)
    test_features, test_targets = blobs(30, seed=0)

    classifier = train_linear_classifier(features, targets, 3, epochs=20)

    accuracy = (classifier(test_features).argmax(1) == test_targets).float().mean()
    assert accuracy > 0.95
    assert not classifier.training


def test_same_seed_gives_the_same_classifier() -> None:
    features, targets = blobs(20)
    first = train_linear_classifier(
        features, targets, 3, epochs=3, batch_size=8, seed=1
    )
    second = train_linear_classifier(
        features, targets, 3, epochs=3, batch_size=8, seed=1
    )
    other = train_linear_classifier(
        features, targets, 3, epochs=3, batch_size=8, seed=2
    )
    assert torch.equal(first.linear.weight, second.linear.weight)
    assert not torch.equal(first.linear.weight, other.linear.weight)


def test_global_random_state_is_untouched() -> None:
    features, targets = blobs(10)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    train_linear_classifier(features, targets, 3, epochs=2)
    assert torch.equal(torch.rand(3), expected)


def test_classifier_standardises_with_its_statistics() -> None:
    classifier = LinearClassifier(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 4.0]), 2)
    with torch.no_grad():
        classifier.linear.weight.copy_(torch.eye(2))
    logits = classifier(torch.tensor([[3.0, 6.0]]))
    assert logits.tolist() == [[1.0, 1.0]]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"epochs": 0}, "`epochs` must be a positive integer, got 0"),
        ({"lr": -1.0}, r"`lr` must be in \(0.0, inf\], got -1.0"),
        ({"weight_decay": -1.0}, r"`weight_decay` must be in \[0.0, inf\], got -1.0"),
        ({"batch_size": 0}, "`batch_size` must be a positive integer, got 0"),
    ],
)
def test_arguments_are_checked(arguments: dict[str, float], message: str) -> None:
    features, targets = blobs(2)
    with pytest.raises(ValueError, match=message):
        train_linear_classifier(features, targets, 3, **arguments)  # type: ignore[arg-type]


def test_shapes_are_checked() -> None:
    features, targets = blobs(2)
    with pytest.raises(
        ValueError, match=r"\(N, D\) and \(N,\), got \(6, 8\) and \(5,\)"
    ):
        train_linear_classifier(features, targets[:5], 3)
