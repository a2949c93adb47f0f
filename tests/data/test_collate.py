"""Tests of the collate functions."""

import pytest
import torch

from lightning_ssl.data import collate_images, collate_views


def test_collate_views_batches_each_view_position() -> None:
    samples = [
        ([torch.full((3, 8, 8), float(i)), torch.full((3, 4, 4), -float(i))], i)
        for i in range(5)
    ]
    views, targets = collate_views(samples)

    assert [tuple(view.shape) for view in views] == [(5, 3, 8, 8), (5, 3, 4, 4)]
    assert torch.equal(views[0][:, 0, 0, 0], torch.arange(5.0))
    assert torch.equal(views[1][:, 0, 0, 0], -torch.arange(5.0))
    assert targets.dtype == torch.long
    assert targets.tolist() == [0, 1, 2, 3, 4]


def test_collate_views_accepts_a_single_tensor_or_tuple() -> None:
    views, _ = collate_views([(torch.zeros(1, 2, 2), -1)] * 2)
    assert [tuple(view.shape) for view in views] == [(2, 1, 2, 2)]
    views, _ = collate_views([((torch.zeros(1, 2, 2), torch.ones(1, 2, 2)), 0)] * 3)
    assert len(views) == 2


def test_collate_views_errors() -> None:
    with pytest.raises(ValueError, match="sample 0 has 2 but sample 1 has 1"):
        collate_views([([torch.zeros(3, 4, 4)] * 2, 0), ([torch.zeros(3, 4, 4)], 0)])
    with pytest.raises(
        ValueError, match=r"view 1 of different sizes.*sample 1 has \(3, 5, 4\)"
    ):
        collate_views(
            [
                ([torch.zeros(3, 4, 4), torch.zeros(3, 4, 4)], 0),
                ([torch.zeros(3, 4, 4), torch.zeros(3, 5, 4)], 0),
            ]
        )


def test_collate_images() -> None:
    images, targets = collate_images(
        [(torch.zeros(3, 6, 6), 2), (torch.ones(3, 6, 6), 0)]
    )
    assert images.shape == (2, 3, 6, 6)
    assert targets.tolist() == [2, 0]

    with pytest.raises(ValueError, match=r"images of different sizes.*`image_size`"):
        collate_images([(torch.zeros(3, 6, 6), 0), (torch.zeros(3, 6, 7), 0)])
