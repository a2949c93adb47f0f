import torch

from lightning_ssl.transforms import BatchedMultiViewTransform, BatchedViewTransform


def test_views_are_independent_draws_of_their_transforms():
    view = BatchedViewTransform(input_size=8)
    transform = BatchedMultiViewTransform([view, view])
    images = torch.randint(0, 256, (16, 3, 16, 16), dtype=torch.uint8)
    x0, x1 = transform(images, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(x0, x1)

    generator = torch.Generator().manual_seed(0)
    expected = [view(images, generator=generator) for _ in range(2)]
    torch.testing.assert_close([x0, x1], expected)


def test_is_a_module_that_moves_with_to():
    transform = BatchedMultiViewTransform([BatchedViewTransform(input_size=8)])
    assert transform.to(torch.device("cpu")) is transform
    assert transform.state_dict() == {}
