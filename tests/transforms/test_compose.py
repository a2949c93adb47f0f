import torch

from lightning_ssl.transforms import (
    BatchedCompose,
    BatchedRandomGrayscale,
    BatchedRandomHorizontalFlip,
)


def test_ops_run_in_order_with_one_generator():
    chain = BatchedCompose([BatchedRandomHorizontalFlip(), BatchedRandomGrayscale(0.5)])
    images = torch.rand(16, 3, 4, 4)
    first = chain(images, generator=torch.Generator().manual_seed(0))

    generator = torch.Generator().manual_seed(0)
    expected = BatchedRandomHorizontalFlip()(images, generator=generator)
    expected = BatchedRandomGrayscale(0.5)(expected, generator=generator)
    torch.testing.assert_close(first, expected)


def test_empty_chain_converts_uint8():
    images = torch.full((1, 3, 2, 2), 51, dtype=torch.uint8)
    torch.testing.assert_close(
        BatchedCompose([])(images), torch.full((1, 3, 2, 2), 0.2)
    )
