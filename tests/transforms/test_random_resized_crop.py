import pytest
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import RandomResizedCrop

from lightning_ssl.transforms import BatchedRandomResizedCrop, CropParams

N = 4096


def shape_only(batch: int, height: int, width: int) -> torch.Tensor:
    """A `(B, 1, H, W)` tensor without memory: sample_params only reads shapes."""
    return torch.empty(1, 1, 1, 1).expand(batch, 1, height, width)


def coordinate_images(batch: int, height: int, width: int) -> torch.Tensor:
    """Channel 0 holds each pixel's column, channel 1 its row."""
    cols = torch.arange(width, dtype=torch.float32).expand(height, width)
    rows = torch.arange(height, dtype=torch.float32).unsqueeze(1).expand(height, width)
    return torch.stack([cols, rows]).expand(batch, 2, height, width).contiguous()


@pytest.mark.parametrize(
    ("scale", "ratio"), [((0.08, 1.0), (3 / 4, 4 / 3)), ((0.2, 0.5), (0.5, 2.0))]
)
def test_boxes_follow_configured_distribution(scale, ratio):
    crop = BatchedRandomResizedCrop(8, scale=scale, ratio=ratio)
    generator = torch.Generator().manual_seed(0)
    height = width = 256
    boxes = crop.sample_params(shape_only(N, height, width), generator)

    # Rounding to whole pixels moves area and ratio slightly past the ranges.
    area = (boxes.height * boxes.width).double() / (height * width)
    aspect = boxes.width.double() / boxes.height
    assert area.min() >= scale[0] * 0.97 and area.max() <= min(1.0, scale[1] * 1.03)
    assert aspect.min() >= ratio[0] * 0.97 and aspect.max() <= ratio[1] * 1.03
    assert (boxes.top >= 0).all() and (boxes.left >= 0).all()
    assert (boxes.top + boxes.height <= height).all()
    assert (boxes.left + boxes.width <= width).all()

    # Same distribution as torchvision's one-image-at-a-time sampler.
    torch.manual_seed(0)
    image = torch.empty(1, height, width)
    reference = torch.tensor(
        [
            RandomResizedCrop.get_params(image, list(scale), list(ratio))
            for _ in range(N)
        ]
    ).double()
    ref_area = reference[:, 2] * reference[:, 3] / (height * width)
    ref_log_ratio = (reference[:, 3] / reference[:, 2]).log()
    comparisons = (
        (area.mean(), ref_area.mean(), 0.015),
        (area.std(), ref_area.std(), 0.015),
        (aspect.log().mean(), ref_log_ratio.mean(), 0.02),
        (aspect.log().std(), ref_log_ratio.std(), 0.02),
    )
    for ours, theirs, tolerance in comparisons:
        assert float(ours) == pytest.approx(float(theirs), abs=tolerance)
    centre = (boxes.left + boxes.width / 2).double() / width
    ref_centre = (reference[:, 1] + reference[:, 3] / 2) / width
    assert float(centre.mean()) == pytest.approx(float(ref_centre.mean()), abs=0.01)


def test_boxes_differ_within_batch():
    crop = BatchedRandomResizedCrop(8)
    boxes = crop.sample_params(
        shape_only(256, 64, 64), torch.Generator().manual_seed(1)
    )
    distinct = {tuple(box) for box in torch.stack(list(boxes), dim=1).tolist()}
    assert len(distinct) > 240


def test_output_samples_the_box():
    # Bilinear interpolation of a linear ramp is exact, so each output pixel
    # holds the source coordinate it was sampled at.
    crop = BatchedRandomResizedCrop((12, 10), scale=(0.3, 1.0))
    images = coordinate_images(64, 40, 48)
    boxes = crop.sample_params(images, torch.Generator().manual_seed(2))
    crops = crop.apply_params(images, boxes)

    for name, steps, start, length, limit, channel, dim in (
        ("x", 10, boxes.left, boxes.width, 47, 0, 1),
        ("y", 12, boxes.top, boxes.height, 39, 1, 2),
    ):
        centres = (torch.arange(steps) + 0.5) / steps
        expected = start[:, None] + length[:, None] * centres - 0.5
        expected = expected.clamp(0, limit)
        profile = crops[:, channel].mean(dim=dim)
        torch.testing.assert_close(profile, expected.float(), msg=name)


def test_matches_torchvision_resized_crop_inside_the_border():
    # torchvision repeats the box's edge pixels; this crop reads past them,
    # so only the outermost output pixels may differ when upscaling.
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    boxes = CropParams(
        top=torch.tensor([0, 5, 10, 16]),
        left=torch.tensor([0, 3, 12, 16]),
        height=torch.tensor([32, 20, 16, 16]),
        width=torch.tensor([32, 24, 18, 16]),
    )
    crops = BatchedRandomResizedCrop(32).apply_params(images, boxes)
    for index, (top, left, height, width) in enumerate(zip(*boxes, strict=True)):
        expected = TF.resized_crop(
            images[index],
            int(top),
            int(left),
            int(height),
            int(width),
            [32, 32],
            antialias=False,
        )
        torch.testing.assert_close(crops[index, :, 1:-1, 1:-1], expected[:, 1:-1, 1:-1])


def test_hflip_mirrors_the_crop():
    crop = BatchedRandomResizedCrop(16)
    images = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    boxes = crop.sample_params(images, torch.Generator().manual_seed(5))
    flip = torch.tensor([True, False] * 4)
    plain = crop.apply_params(images, boxes)
    mirrored = crop.apply_params(images, boxes, hflip=flip)
    torch.testing.assert_close(mirrored[flip], plain[flip].flip(-1))
    torch.testing.assert_close(mirrored[~flip], plain[~flip])


def test_falls_back_to_central_crop():
    # A 4:1 image cannot hold a square of 90% of its area.
    crop = BatchedRandomResizedCrop(8, scale=(0.9, 1.0), ratio=(1.0, 1.0))
    boxes = crop.sample_params(shape_only(16, 8, 32), torch.Generator().manual_seed(0))
    assert boxes.height.eq(8).all() and boxes.width.eq(8).all()
    assert boxes.top.eq(0).all() and boxes.left.eq(12).all()


def test_uint8_and_float_input_agree():
    crop = BatchedRandomResizedCrop(24)
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    from_uint8 = crop(images, generator=torch.Generator().manual_seed(0))
    from_float = crop(images / 255, generator=torch.Generator().manual_seed(0))
    assert from_uint8.dtype == torch.float32 and from_uint8.shape == (8, 3, 24, 24)
    torch.testing.assert_close(from_uint8, from_float)


def test_bicubic_output_stays_in_range():
    crop = BatchedRandomResizedCrop(32, scale=(0.05, 0.2), interpolation="bicubic")
    images = torch.randint(0, 2, (16, 3, 32, 32), dtype=torch.uint8) * 255
    crops = crop(images, generator=torch.Generator().manual_seed(0))
    assert crops.min() >= 0 and crops.max() <= 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 0}, r"`size` must be a positive int .* got 0"),
        ({"size": (8, 8, 8)}, r"`size` must be .* got \(8, 8, 8\)"),
        ({"size": 8, "scale": (0.0, 1.0)}, r"`scale` must be in \(0.0, 1.0\], got 0.0"),
        ({"size": 8, "scale": (0.9, 0.1)}, r"`scale` must be a \(min, max\) pair"),
        ({"size": 8, "ratio": (-1.0, 1.0)}, r"`ratio` must be in \(0.0, inf\]"),
        ({"size": 8, "interpolation": "area"}, r"`interpolation` must be one of"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchedRandomResizedCrop(**kwargs)


def test_bad_input_raises():
    crop = BatchedRandomResizedCrop(8)
    with pytest.raises(ValueError, match=r"`images` must be a \(B, C, H, W\) batch"):
        crop(torch.rand(3, 32, 32))
    with pytest.raises(TypeError, match=r"got dtype torch\.int64"):
        crop(torch.zeros(1, 3, 8, 8, dtype=torch.long))
