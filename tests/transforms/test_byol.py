import torch

from lightning_ssl.transforms import (
    BatchedBYOLTransform,
    BatchedBYOLView1Transform,
    BatchedBYOLView2Transform,
    BatchedGaussianBlur,
    BatchedRandomSolarization,
)


def probabilities(view: torch.nn.Module, op_type: type) -> list[float]:
    return [op.p for op in view.ops if isinstance(op, op_type)]


def test_views_are_asymmetric_as_in_the_paper():
    transform = BatchedBYOLTransform()
    view_1, view_2 = transform.transforms
    assert isinstance(view_1, BatchedBYOLView1Transform)
    assert isinstance(view_2, BatchedBYOLView2Transform)
    assert probabilities(view_1, BatchedGaussianBlur) == [1.0]
    assert probabilities(view_1, BatchedRandomSolarization) == []
    assert probabilities(view_2, BatchedGaussianBlur) == [0.1]
    assert probabilities(view_2, BatchedRandomSolarization) == [0.2]


def test_solarisation_shows_only_in_the_second_view():
    # Solarised pixels of a bright image become dark; unnormalised views keep
    # values in [0, 1]. Without jitter or gray only solarisation darkens much.
    kwargs = {"input_size": 8, "cj_prob": 0.0, "random_gray_scale": 0.0}
    transform = BatchedBYOLTransform(
        BatchedBYOLView1Transform(normalize=None, **kwargs),
        BatchedBYOLView2Transform(normalize=None, solarization_prob=0.5, **kwargs),
    )
    images = torch.full((512, 3, 16, 16), 230, dtype=torch.uint8)
    x0, x1 = transform(images, generator=torch.Generator().manual_seed(0))
    dark_0 = (x0.mean(dim=(1, 2, 3)) < 0.5).float().mean()
    dark_1 = (x1.mean(dim=(1, 2, 3)) < 0.5).float().mean()
    assert dark_0 == 0
    assert 0.4 < dark_1 < 0.6
