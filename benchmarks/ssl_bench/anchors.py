"""Published CIFAR-10 and ImageNet figures that our GPU recipes are compared to.

Two anchors, with the exact revision the numbers were read from:

- lightly's benchmark table (``docs/source/getting_started/benchmarks.rst`` at
  lightly-ai/lightly ``e8d317fc``): kNN top-1 (k=200, T=0.1) on CIFAR-10 after
  200 epochs with a CIFAR-stem ResNet-18 at batch 512; ImageNet-1k linear and
  kNN top-1 after 100 epochs (ResNet-50, DINO also ViT-S/16).
- solo-learn's README (vturrisi/solo-learn ``9187ea3``): linear-probe top-1 on
  CIFAR-10 after 1000 epochs with a CIFAR-stem ResNet-18.

Methods an anchor does not report are absent from its table.
"""

LIGHTLY_SOURCE = (
    "lightly-ai/lightly@e8d317fc docs/source/getting_started/benchmarks.rst"
)
SOLO_LEARN_SOURCE = "vturrisi/solo-learn@9187ea3 README.md"

LIGHTLY_CIFAR10_KNN_200 = {
    "barlowtwins": 0.819,
    "byol": 0.868,
    "dino": 0.813,
    "moco": 0.847,  # lightly's memory bank of 8,192 at batch 512
    "nnclr": 0.815,  # likewise
    "simclr": 0.848,
    "simsiam": 0.764,
    "swav": 0.842,
}
"""kNN top-1 (fraction) on CIFAR-10, ResNet-18, batch 512, 200 epochs."""

SOLO_LEARN_CIFAR10_LINEAR_1000 = {
    "barlowtwins": 0.9210,
    "byol": 0.9258,
    "dino": 0.8952,
    "moco": 0.9294,  # "MoCo V2+"
    "mocov3": 0.9310,
    "nnclr": 0.9188,
    "simclr": 0.9074,
    "simsiam": 0.9051,
    "swav": 0.8917,
    "vicreg": 0.9207,
}
"""Linear top-1 (fraction) on CIFAR-10, ResNet-18, 1000 epochs."""

LIGHTLY_IMAGENET_100 = {
    "barlowtwins": ("ResNet-50", 256, 0.629, 0.456),
    "byol": ("ResNet-50", 256, 0.625, 0.460),
    "dino": ("ViT-S/16", 128, 0.733, 0.675),
    "lejepa": ("ViT-S/16", 512, 0.640, 0.471),
    "mae": ("ViT-B/16", 256, 0.460, 0.112),
    "moco": ("ResNet-50", 256, 0.615, 0.418),
    "simclr": ("ResNet-50", 256, 0.632, 0.448),
    "swav": ("ResNet-50", 256, 0.672, 0.495),
    "vicreg": ("ResNet-50", 256, 0.630, 0.463),
}
"""ImageNet-1k after 100 epochs: (backbone, batch, linear top-1, kNN top-1).

SimCLR used square-root learning-rate scaling; the LeJEPA figures predate a
loss fix in lightly (their note under the table).
"""
