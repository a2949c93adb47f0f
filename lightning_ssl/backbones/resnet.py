"""ResNet backbones: torchvision's ResNet-18/34/50 and a narrow ResNet-18 for CPUs."""

from collections.abc import Callable

from torch import Tensor, nn
from torchvision.models import resnet
from torchvision.models.resnet import BasicBlock


def _use_cifar_stem(model: resnet.ResNet) -> None:
    # Small images (32x32) lose most of their resolution in the ImageNet stem
    # (7x7 stride-2 conv + max-pool). SimCLR (Chen et al., 2020, Appendix B.9)
    # replaces it with a 3x3 stride-1 conv and drops the max-pool.
    out_channels = model.conv1.out_channels
    model.conv1 = nn.Conv2d(3, out_channels, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()


def _headless(model: resnet.ResNet, cifar_stem: bool) -> resnet.ResNet:
    if cifar_stem:
        _use_cifar_stem(model)
    model.fc = nn.Identity()
    return model


def resnet18(cifar_stem: bool = False) -> nn.Module:
    """Torchvision ResNet-18 without classifier; returns `(B, 512)` features."""
    return _headless(resnet.resnet18(), cifar_stem)


def resnet34(cifar_stem: bool = False) -> nn.Module:
    """Torchvision ResNet-34 without classifier; returns `(B, 512)` features."""
    return _headless(resnet.resnet34(), cifar_stem)


def resnet50(cifar_stem: bool = False) -> nn.Module:
    """Torchvision ResNet-50 without classifier; returns `(B, 2048)` features."""
    return _headless(resnet.resnet50(), cifar_stem)


class NarrowResNet(nn.Module):
    """ResNet-18 layout (2-2-2-2 basic blocks) with a configurable base width.

    With ``width=16`` the stages have 16, 32, 64 and 128 channels, about 1/16 of
    ResNet-18's compute: small enough to pretrain on a laptop CPU, large enough
    to learn useful features on 32x32 images.

    Args:
        width: Channels of the first stage; each later stage doubles it.
        cifar_stem: Use a 3x3 stride-1 stem without max-pool instead of the
            ImageNet stem.

    Example:
        >>> import torch
        >>> model = NarrowResNet(width=16)
        >>> model(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 128])
    """

    def __init__(self, width: int = 16, cifar_stem: bool = False) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"`width` must be a positive integer, got {width}.")
        if cifar_stem:
            self.stem = nn.Sequential(
                nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
            )

        stages: list[nn.Module] = []
        in_channels = width
        for index in range(4):
            channels = width * 2**index
            stride = 1 if index == 0 else 2
            stages.append(_stage(in_channels, channels, stride))
            in_channels = channels
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.output_dim = in_channels

    def forward(self, images: Tensor) -> Tensor:
        """Map `(B, 3, H, W)` images to `(B, 8 * width)` features."""
        x = self.stem(images)
        x = self.stages(x)
        return self.pool(x).flatten(1)


def _stage(in_channels: int, channels: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or in_channels != channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
            nn.BatchNorm2d(channels),
        )
    return nn.Sequential(
        BasicBlock(in_channels, channels, stride, downsample),
        BasicBlock(channels, channels),
    )


def narrow_resnet18(cifar_stem: bool = False, width: int = 16) -> nn.Module:
    """ResNet-18 with 1/4 of the usual width (16 base channels) for CPU work."""
    return NarrowResNet(width=width, cifar_stem=cifar_stem)


RESNETS: dict[str, Callable[..., nn.Module]] = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "narrow_resnet18": narrow_resnet18,
}
